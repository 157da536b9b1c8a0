package storage_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	storage "github.com/memenow/memenow-storage"
	"github.com/memenow/memenow-storage/apitest"
	"github.com/memenow/memenow-storage/disk"
	"github.com/memenow/memenow-storage/httpapi"
	"github.com/memenow/memenow-storage/postgres"
	"github.com/memenow/memenow-storage/s3"
	"github.com/memenow/memenow-storage/sqlite"
)

// The janitor's tests, on SQLite and disk (every go test) and on
// PostgreSQL and S3 (with the servers .ci/run starts). The stores stamp
// updated_at with their own clock; the Service's clock is moved forward
// past the upload TTL, so nothing waits.

// clock is a Service clock that tests move.
type clock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

// Set puts the clock at the real time plus d.
func (c *clock) Set(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.off = d
}

// env is a Service on one pair of stores, with the HTTP API in front.
type env struct {
	svc   *storage.Service
	clock *clock
	api   *apitest.T
	// second returns another Service on the same stores through a
	// connection of its own (another instance).
	second func() *storage.Service
	// freshMeta returns a new, empty database next to the same objects.
	freshMeta func() storage.MetaStore
}

// backend opens a pair of stores for a test.
type backend struct {
	name string
	// open returns a MetaStore on one database (the same one each call
	// with the same name; a new one for a new name) and the ObjectStore.
	open func(t *testing.T) (meta func(db string) storage.MetaStore, objects storage.ObjectStore)
}

func backends() []backend {
	return []backend{
		{"sqlite+disk", func(t *testing.T) (func(string) storage.MetaStore, storage.ObjectStore) {
			dir := t.TempDir()
			objects, err := disk.New(filepath.Join(dir, "data"))
			if err != nil {
				t.Fatal(err)
			}
			return func(db string) storage.MetaStore {
				m, err := sqlite.Open(filepath.Join(dir, db+".db"))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { m.Close() })
				return m
			}, objects
		}},
		{"postgres+s3", func(t *testing.T) (func(string) storage.MetaStore, storage.ObjectStore) {
			base := os.Getenv("MEMENOW_TEST_POSTGRES_URL")
			endpoint, bucket := os.Getenv("MEMENOW_TEST_S3_ENDPOINT"), os.Getenv("MEMENOW_TEST_S3_BUCKET")
			if base == "" || endpoint == "" || bucket == "" {
				msg := "needs MEMENOW_TEST_POSTGRES_URL and MEMENOW_TEST_S3_ENDPOINT/BUCKET: " +
					`eval "$(.ci/postgres.sh start /tmp/pg)"; eval "$(.ci/s3-server.sh start /tmp/s3)"`
				if os.Getenv("MEMENOW_REQUIRE_POSTGRES") == "1" || os.Getenv("MEMENOW_REQUIRE_S3") == "1" {
					t.Fatal(msg)
				}
				t.Skip(msg)
			}
			o := s3.Options{Bucket: bucket, Prefix: "janitor-test/" + uuid.NewString(), Endpoint: endpoint, PathStyle: true}
			objects, err := s3.New(t.Context(), o)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { removeS3(t, objects, o) })
			dbs := map[string]string{}
			return func(db string) storage.MetaStore {
				u, ok := dbs[db]
				if !ok {
					u = freshDatabase(t, base)
					dbs[db] = u
				}
				m, err := postgres.Open(t.Context(), u)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { m.Close() })
				return m
			}, objects
		}},
	}
}

// freshDatabase creates a database on the server at base for t, dropped
// when t ends, and returns its URL.
func freshDatabase(t *testing.T, base string) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	name := "memenow_janitor_" + strings.ReplaceAll(uuid.NewString(), "-", "")[:16]
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("drop database %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// removeS3 aborts the multipart uploads and deletes the objects a test
// left under its prefix.
func removeS3(t *testing.T, s *s3.Store, o s3.Options) {
	ctx := context.Background()
	_ = s.ListMultipart(ctx, time.Now().Add(time.Hour), func(m storage.Multipart) bool {
		_ = s.AbortMultipart(ctx, storage.MultipartInfo{Key: m.Key}, m.Handle)
		return true
	})
	client, err := s3.NewClient(ctx, o)
	if err != nil {
		t.Logf("cleanup: %v", err)
		return
	}
	out, err := client.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: &o.Bucket, Prefix: aws.String(o.Prefix + "/")})
	if err != nil {
		t.Logf("cleanup: %v", err)
		return
	}
	for _, obj := range out.Contents {
		_, _ = client.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: &o.Bucket, Key: obj.Key})
	}
}

// forEachBackend runs f on every backend.
func forEachBackend(t *testing.T, f func(t *testing.T, e *env)) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			meta, objects := b.open(t)
			c := &clock{}
			newSvc := func(m storage.MetaStore) *storage.Service {
				return &storage.Service{Objects: objects, Meta: m, Config: storage.DefaultConfig(), Now: c.Now,
					Logger: slog.New(slog.DiscardHandler)}
			}
			e := &env{svc: newSvc(meta("main")), clock: c}
			e.second = func() *storage.Service { return newSvc(meta("main")) }
			fresh := 0
			e.freshMeta = func() storage.MetaStore { fresh++; return meta(fmt.Sprint("fresh", fresh)) }
			srv := httptest.NewServer(httpapi.NewServer(httpapi.Options{Service: e.svc, Logger: slog.New(slog.DiscardHandler), Now: c.Now}))
			t.Cleanup(srv.Close)
			e.api = &apitest.T{T: t, Target: apitest.Target{BaseURL: srv.URL}}
			f(t, e)
		})
	}
}

// sweep runs one Sweep and fails the test on an error of the sweep or of
// an upload.
func sweep(t *testing.T, svc *storage.Service, o storage.SweepOptions) *storage.SweepReport {
	t.Helper()
	r, err := svc.Sweep(t.Context(), o)
	if err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	for _, e := range r.Errors {
		t.Errorf("Sweep: %v", e)
	}
	return r
}

// get returns upload id as the MetaStore has it.
func get(t *testing.T, e *env, id string) *storage.Upload {
	t.Helper()
	u, err := e.svc.Meta.GetUpload(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// multipartGone checks that the multipart upload of u was aborted: a part
// written to it is refused.
func multipartGone(t *testing.T, e *env, u *storage.Upload) {
	t.Helper()
	m := storage.MultipartInfo{UploadID: u.ID, Key: u.Key, ContentType: u.ContentType,
		TotalSize: u.TotalSize, ChunkSize: u.ChunkSize, TotalChunks: u.TotalChunks}
	n := u.ChunkLen(u.TotalChunks - 1)
	_, err := e.svc.Objects.WriteChunk(t.Context(), m, u.StoreHandle, u.TotalChunks-1, n, bytes.NewReader(make([]byte, n)))
	if !storage.HasCode(err, storage.CodeUploadNotFound) {
		t.Errorf("writing to the multipart upload of %s (%s): %v, want UPLOAD_NOT_FOUND (aborted)", u.ID, u.Status, err)
	}
}

// timeField parses an RFC 3339 field of a JSON body.
func timeField(t *testing.T, m map[string]any, name string) time.Time {
	t.Helper()
	s, _ := m[name].(string)
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatalf("%s = %q: %v", name, m[name], err)
	}
	return v
}

// TestExpiry checks the life of an abandoned upload: init and status show
// expires_at; nothing expires before the TTL; after it the janitor expires
// the upload, aborts its multipart upload and frees its key; chunk,
// complete and cancel then answer 410 UPLOAD_EXPIRED, and status shows
// expired with no chunk stored.
func TestExpiry(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		api, ttl := e.api, storage.DefaultUploadTTL
		user := apitest.NewUserID()
		idle := api.Init("idle.bin", "", apitest.RandomBytes(100, 1), user)
		half := api.Init("half.bin", "", apitest.RandomBytes(apitest.ChunkSize+10, 2), user)
		api.SendChunk(half, 0)

		initResp := api.WantOK(api.PostJSON("/api/upload/init", map[string]any{"file_name": "shown.bin", "total_size": 5,
			"user_id": user, "user_role": "creator"}))
		st := api.Status(half)
		if got, want := timeField(t, st, "expires_at"), timeField(t, st, "updated_at").Add(ttl); !got.Equal(want) {
			t.Errorf("status expires_at = %v, want updated_at + TTL = %v", got, want)
		}
		if got := timeField(t, initResp, "expires_at"); got.Before(time.Now().Add(ttl-time.Minute)) || got.After(time.Now().Add(ttl+time.Minute)) {
			t.Errorf("init expires_at = %v, want about now + %v", got, ttl)
		}

		e.clock.Set(ttl - time.Minute)
		if r := sweep(t, e.svc, storage.SweepOptions{}); len(r.Expired) != 0 {
			t.Fatalf("expired before the TTL: %v", r.Expired)
		}
		e.clock.Set(ttl + time.Minute)
		r := sweep(t, e.svc, storage.SweepOptions{})
		if !slices.Contains(r.Expired, idle.ID) || !slices.Contains(r.Expired, half.ID) {
			t.Fatalf("the sweep expired %v, want %s and %s", r.Expired, idle.ID, half.ID)
		}

		st = api.Status(half)
		if st["status"] != "expired" || st["expires_at"] != nil {
			t.Errorf("status of an expired upload: %v", st)
		}
		// Its chunks were freed: the status counts and lists none.
		if st["chunks_uploaded"] != 0.0 || st["bytes_uploaded"] != 0.0 || fmt.Sprint(st["chunks"]) != "[]" {
			t.Errorf("status of an expired upload counts freed chunks: chunks_uploaded %v, bytes_uploaded %v, chunks %v",
				st["chunks_uploaded"], st["bytes_uploaded"], st["chunks"])
		}
		for _, u := range []*apitest.Upload{idle, half} {
			multipartGone(t, e, get(t, e, u.ID))
		}
		api.WantError(api.PutChunk(half, 1, half.Chunk(1)), 410, "UPLOAD_EXPIRED")
		api.WantError(api.Complete(half), 410, "UPLOAD_EXPIRED")
		api.WantError(api.Cancel(idle), 410, "UPLOAD_EXPIRED")
		list := api.WantOK(api.Do("GET", "/api/uploads?status=expired&user_id="+user, nil, nil))
		if n := len(list["uploads"].([]any)); n != 3 {
			t.Errorf("listing expired uploads: %d, want 3", n)
		}

		// The key is free again: the same file name on the same day gets
		// the same key.
		e.clock.Set(0)
		again := api.Init("idle.bin", "", apitest.RandomBytes(100, 3), user)
		if again.Key != idle.Key && strings.Split(again.Key, "/")[2] == strings.Split(idle.Key, "/")[2] {
			t.Errorf("a new upload of idle.bin got %s, want the expired upload's key %s", again.Key, idle.Key)
		}
		api.UploadAll(again)

		e.clock.Set(ttl + time.Minute)
		if r := sweep(t, e.svc, storage.SweepOptions{}); slices.Contains(r.Expired, idle.ID) || slices.Contains(r.Expired, half.ID) {
			t.Errorf("a second sweep expired %v again", r.Expired)
		}
	})
}

// TestJanitorRepairsAndOrphans checks the janitor's repairs: uploads stuck
// in completing or cancelling for longer than the TTL are finished;
// multipart uploads (disk: upload files) that no open upload owns are
// aborted, whether no row points at them (a crash between CreateMultipart
// and CreateUpload) or their row expired without its abort; those of open
// uploads are kept.
func TestJanitorRepairsAndOrphans(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx, api, ttl := t.Context(), e.api, storage.DefaultUploadTTL
		user := apitest.NewUserID()

		completing := api.Init("completing.bin", "", apitest.RandomBytes(apitest.ChunkSize+7, 4), user)
		api.SendChunk(completing, 0)
		api.SendChunk(completing, 1)
		if _, err := e.svc.Meta.Transition(ctx, completing.ID, []storage.Status{storage.StatusInProgress}, storage.StatusCompleting); err != nil {
			t.Fatal(err)
		}
		cancelling := api.Init("cancelling.bin", "", apitest.RandomBytes(50, 5), user)
		if _, err := e.svc.Meta.Transition(ctx, cancelling.ID, []storage.Status{storage.StatusInitiated}, storage.StatusCancelling); err != nil {
			t.Fatal(err)
		}
		// An expiry whose abort never happened (a crash after the
		// compare-and-set).
		crashed := api.Init("crashed.bin", "", apitest.RandomBytes(50, 6), user)
		if _, err := e.svc.Meta.Expire(ctx, crashed.ID, time.Now().Add(time.Hour), time.Now()); err != nil {
			t.Fatal(err)
		}
		// A multipart upload no row points at (a crash during init).
		lost := storage.MultipartInfo{UploadID: fmt.Sprintf("%d-%s", time.Now().UnixMilli(), uuid.NewString()),
			Key: storage.ObjectKey(storage.RoleCreator, user, time.Now(), "video/mp4", "lost.mp4"), ContentType: "video/mp4",
			TotalSize: 10, ChunkSize: apitest.ChunkSize, TotalChunks: 1}
		lostHandle, err := e.svc.Objects.CreateMultipart(ctx, lost)
		if err != nil {
			t.Fatal(err)
		}

		// An upload still taking chunks, whose multipart upload was started
		// long ago but which had a chunk recently: kept.
		e.clock.Set(ttl + time.Hour)
		kept := api.Init("kept.bin", "", apitest.RandomBytes(40, 7), user)

		r := sweep(t, e.svc, storage.SweepOptions{Orphans: true})
		if !slices.Equal(r.Completed, []string{completing.ID}) || !slices.Equal(r.Cancelled, []string{cancelling.ID}) {
			t.Errorf("the sweep completed %v and cancelled %v, want [%s] and [%s]", r.Completed, r.Cancelled, completing.ID, cancelling.ID)
		}
		if !r.OrphansSearched {
			t.Fatal("the object store was not searched for orphans")
		}
		var orphans []string
		for _, m := range r.Orphans {
			orphans = append(orphans, m.Handle)
		}
		crashedUpload := get(t, e, crashed.ID)
		slices.Sort(orphans)
		want := []string{lostHandle, crashedUpload.StoreHandle}
		slices.Sort(want)
		if !slices.Equal(orphans, want) {
			t.Errorf("orphans aborted: %v, want %v (the lost init's and the crashed expiry's)", orphans, want)
		}

		if st := api.Status(completing); st["status"] != "completed" {
			t.Errorf("the stuck complete is %v", st["status"])
		}
		if got := api.Do("GET", apitest.FilePath(completing.Key), nil, nil); got.Status != 200 || !bytes.Equal(got.Body, completing.Data) {
			t.Errorf("the repaired upload's file: status %d, %d bytes", got.Status, len(got.Body))
		}
		if st := api.Status(cancelling); st["status"] != "cancelled" {
			t.Errorf("the stuck cancel is %v", st["status"])
		}
		multipartGone(t, e, get(t, e, cancelling.ID))
		multipartGone(t, e, crashedUpload)
		multipartGone(t, e, &storage.Upload{ID: lost.UploadID, Key: lost.Key, TotalSize: 10, ChunkSize: lost.ChunkSize,
			TotalChunks: 1, StoreHandle: lostHandle, Status: "orphan"})
		if st := api.Status(kept); st["status"] != "initiated" {
			t.Errorf("the open upload is %v", st["status"])
		}
		api.SendChunk(kept, 0)
		api.WantOK(api.Complete(kept))
	})
}

// TestTwoJanitors runs two janitors, as two instances on one database
// would: while one holds the lease the other does nothing; run at once,
// with the lease or without it, each upload is expired exactly once (the
// compare-and-set).
func TestTwoJanitors(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		api, ttl := e.api, storage.DefaultUploadTTL
		other := e.second()
		other.Now = e.svc.Now
		start := func(n int) map[string]bool {
			user := apitest.NewUserID()
			ids := map[string]bool{}
			for i := range n {
				ids[api.Init(fmt.Sprintf("f%d.bin", i), "", apitest.RandomBytes(10, uint64(i)), user).ID] = true
			}
			return ids
		}
		both := func(o1, o2 storage.SweepOptions) [2]*storage.SweepReport {
			var rs [2]*storage.SweepReport
			var wg sync.WaitGroup
			ready := make(chan struct{})
			for i, c := range []struct {
				svc *storage.Service
				o   storage.SweepOptions
			}{{e.svc, o1}, {other, o2}} {
				wg.Go(func() {
					<-ready
					rs[i] = sweep(t, c.svc, c.o)
				})
			}
			close(ready)
			wg.Wait()
			return rs
		}
		check := func(ids map[string]bool, rs [2]*storage.SweepReport) {
			t.Helper()
			seen := map[string]int{}
			for _, r := range rs {
				for _, id := range r.Expired {
					seen[id]++
				}
			}
			for id := range ids {
				if seen[id] != 1 {
					t.Errorf("upload %s was expired %d times, want once", id, seen[id])
				}
				if st := get(t, e, id).Status; st != storage.StatusExpired {
					t.Errorf("upload %s is %s", id, st)
				}
			}
		}

		// While another instance holds the lease, a janitor does nothing;
		// the holder itself sweeps, and gives the lease up when done.
		ids := start(12)
		e.clock.Set(ttl + time.Minute)
		now := e.clock.Now()
		if ok, err := e.svc.Meta.AcquireLease(t.Context(), storage.JanitorLease, "instance-1", now, now.Add(time.Minute)); !ok || err != nil {
			t.Fatalf("AcquireLease: %v, %v", ok, err)
		}
		if r := sweep(t, other, storage.SweepOptions{Holder: "instance-2"}); !r.Skipped || len(r.Expired) != 0 {
			t.Fatalf("a sweep while another instance held the lease: %+v", r)
		}
		if r := sweep(t, e.svc, storage.SweepOptions{Holder: "instance-1"}); r.Skipped || len(r.Expired) != len(ids) {
			t.Fatalf("the lease holder's sweep: skipped %v, expired %d of %d", r.Skipped, len(r.Expired), len(ids))
		}
		if r := sweep(t, other, storage.SweepOptions{Holder: "instance-2"}); r.Skipped {
			t.Fatal("the lease was not given up after the sweep")
		}

		// Both at once, with and without the lease: each upload is expired
		// exactly once.
		e.clock.Set(0)
		ids = start(12)
		e.clock.Set(ttl + time.Minute)
		check(ids, both(storage.SweepOptions{Holder: "instance-1"}, storage.SweepOptions{Holder: "instance-2"}))

		e.clock.Set(0)
		ids = start(12)
		e.clock.Set(ttl + time.Minute)
		check(ids, both(storage.SweepOptions{}, storage.SweepOptions{}))
	})
}

// TestKeyNeverCollidesWithForgottenObject checks that a database that lost
// its rows never hands out the key of a stored file: the new upload gets
// the next free name, completes, and the old file is untouched.
func TestKeyNeverCollidesWithForgottenObject(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		user := apitest.NewUserID()
		first := e.api.Init("report.pdf", "", apitest.RandomBytes(300, 8), user)
		key := e.api.UploadAll(first)

		forgetful := &storage.Service{Objects: e.svc.Objects, Meta: e.freshMeta(), Config: storage.DefaultConfig(),
			Logger: slog.New(slog.DiscardHandler)}
		srv := httptest.NewServer(httpapi.NewServer(httpapi.Options{Service: forgetful, Logger: slog.New(slog.DiscardHandler)}))
		t.Cleanup(srv.Close)
		api := &apitest.T{T: t, Target: apitest.Target{BaseURL: srv.URL}}
		second := api.Init("report.pdf", "", apitest.RandomBytes(200, 9), user)
		if second.Key == key {
			t.Fatalf("the new upload got the key %s of a stored file the database forgot", key)
		}
		if !strings.HasSuffix(second.Key, "/report-2.pdf") {
			t.Errorf("the new upload's key is %s, want …/report-2.pdf", second.Key)
		}
		api.UploadAll(second)
		obj, err := e.svc.Objects.Open(t.Context(), key)
		if err != nil {
			t.Fatal(err)
		}
		defer obj.Close()
		if info := obj.Info(); info.Size != int64(len(first.Data)) {
			t.Errorf("the old file has %d bytes, want %d", info.Size, len(first.Data))
		}
	})
}

// fullDatabase is a MetaStore whose next fails Expires fail as a database
// on a full disk does.
type fullDatabase struct {
	storage.MetaStore
	mu    sync.Mutex
	fails int
}

func (f *fullDatabase) Expire(ctx context.Context, id string, before, now time.Time, audit ...storage.AuditEvent) (*storage.Upload, error) {
	f.mu.Lock()
	fail := f.fails > 0
	f.fails--
	f.mu.Unlock()
	if fail {
		return nil, storage.Errorf(storage.CodeDatabase, "database or disk is full")
	}
	return f.MetaStore.Expire(ctx, id, before, now, audit...)
}

// TestExpiryFreesBytesWhenDatabaseCannotCommit checks that a database that
// cannot commit (a full disk) does not keep an abandoned upload's bytes:
// they are freed first, and the upload expires as soon as a commit works.
func TestExpiryFreesBytesWhenDatabaseCannotCommit(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		full := &fullDatabase{MetaStore: e.svc.Meta}
		janitor := &storage.Service{Objects: e.svc.Objects, Meta: full, Config: storage.DefaultConfig(), Now: e.svc.Now}
		user := apitest.NewUserID()
		once := e.api.Init("once.bin", "", apitest.RandomBytes(100, 10), user)
		e.clock.Set(storage.DefaultUploadTTL + time.Minute)

		full.fails = 1 // the retry after freeing the bytes commits
		if r := sweep(t, janitor, storage.SweepOptions{}); !slices.Contains(r.Expired, once.ID) {
			t.Fatalf("expired %v, want %s", r.Expired, once.ID)
		}
		multipartGone(t, e, get(t, e, once.ID))

		e.clock.Set(0)
		always := e.api.Init("always.bin", "", apitest.RandomBytes(100, 11), user)
		e.clock.Set(storage.DefaultUploadTTL + time.Minute)
		full.fails = 2
		r, err := janitor.Sweep(t.Context(), storage.SweepOptions{})
		if err != nil || len(r.Errors) != 1 || slices.Contains(r.Expired, always.ID) {
			t.Fatalf("sweep with a database that cannot commit: %+v, %v; want one upload error", r, err)
		}
		u := get(t, e, always.ID)
		if u.Status != storage.StatusInitiated {
			t.Errorf("status %s, want initiated (the expiry was not committed)", u.Status)
		}
		multipartGone(t, e, u) // its bytes are freed all the same
		if r := sweep(t, janitor, storage.SweepOptions{}); !slices.Contains(r.Expired, always.ID) {
			t.Errorf("once the database commits again the upload expires: expired %v", r.Expired)
		}
	})
}

// insertFails is a MetaStore whose CreateUpload fails, and abortFails an
// ObjectStore whose AbortMultipart fails: a failed init whose undo fails.
type (
	insertFails struct{ storage.MetaStore }
	abortFails  struct{ storage.ObjectStore }
)

func (insertFails) CreateUpload(context.Context, *storage.Upload, storage.Quota, ...storage.AuditEvent) error {
	return storage.Errorf(storage.CodeDatabase, "database error")
}

func (abortFails) AbortMultipart(context.Context, storage.MultipartInfo, string) error {
	return storage.Errorf(storage.CodeStorage, "object storage error")
}

// TestFailedInitUndoIsLogged checks that the abort undoing a failed init
// is not silently lost: its failure is logged with the upload and key, and
// the multipart upload it leaves is an orphan the janitor removes.
func TestFailedInitUndoIsLogged(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		var logs bytes.Buffer
		svc := &storage.Service{Objects: abortFails{e.svc.Objects}, Meta: insertFails{e.svc.Meta}, Config: storage.DefaultConfig(),
			Logger: slog.New(slog.NewTextHandler(&logs, nil))}
		_, err := svc.Init(t.Context(), storage.InitRequest{FileName: "a.bin", TotalSize: 10, UserID: apitest.NewUserID(), UserRole: "creator"})
		if !storage.HasCode(err, storage.CodeDatabase) {
			t.Fatalf("Init: %v, want DATABASE_ERROR", err)
		}
		if !strings.Contains(logs.String(), "failed init") || !strings.Contains(logs.String(), "upload_id=") || !strings.Contains(logs.String(), "key=") {
			t.Fatalf("log: %q, want the failed abort with the upload id and key", logs.String())
		}
		e.clock.Set(storage.DefaultUploadTTL + time.Minute)
		if r := sweep(t, e.svc, storage.SweepOptions{Orphans: true}); len(r.Orphans) != 1 {
			t.Errorf("the janitor removed %d orphans, want the failed init's", len(r.Orphans))
		}
	})
}
