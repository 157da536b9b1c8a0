package multiinstance

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5"

	"github.com/memenow/memenow-storage/apitest"
)

const (
	instances = 3
	uploads   = 20
	chunkSize = apitest.ChunkSize // 5 MiB
	workers   = 4                 // requests in flight at once
)

// upload is one file the test sends.
type upload struct {
	n    int // its number, which seeds its bytes
	size int
	id   string
	key  string
}

func (u *upload) data() []byte { return apitest.RandomBytes(u.size, uint64(1000+u.n)) }

func (u *upload) chunks() int { return (u.size + chunkSize - 1) / chunkSize }

func (u *upload) chunk(data []byte, i int) []byte {
	return data[i*chunkSize : min((i+1)*chunkSize, len(data))]
}

// client speaks to the instances; errors are returned, not fatal, so that
// it can be used from many goroutines.
type client struct{ http *http.Client }

// do sends a request and reads the whole answer.
func (c *client) do(method, url string, header map[string]string, body io.Reader, length int64) (int, []byte, error) {
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		return 0, nil, err
	}
	req.ContentLength = length
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// ok sends a request that must answer 200 and decodes its JSON body.
func (c *client) ok(method, url string, header map[string]string, body []byte) (map[string]any, error) {
	status, b, err := c.do(method, url, header, bytes.NewReader(body), int64(len(body)))
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, url, err)
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("%s %s: status %d: %s", method, url, status, b)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s %s: %w: %s", method, url, err, b)
	}
	return m, nil
}

var jsonHeader = map[string]string{"Content-Type": "application/json"}

func (c *client) init(base string, u *upload, user string) error {
	body, _ := json.Marshal(map[string]any{"file_name": fmt.Sprintf("file-%02d.bin", u.n), "total_size": u.size,
		"user_id": user, "user_role": "creator", "chunk_size": chunkSize})
	m, err := c.ok("POST", base+"/api/upload/init", jsonHeader, body)
	if err != nil {
		return err
	}
	u.id, _ = m["upload_id"].(string)
	u.key, _ = m["r2_key"].(string)
	if u.id == "" || u.key == "" {
		return fmt.Errorf("init answered %v", m)
	}
	return nil
}

func chunkHeader(u *upload, i int) map[string]string {
	return map[string]string{"X-Upload-Id": u.id, "X-Chunk-Index": strconv.Itoa(i), "Content-Type": "application/octet-stream"}
}

func (c *client) putChunk(base string, u *upload, i int, data []byte) error {
	_, err := c.ok("PUT", base+"/api/upload/chunk", chunkHeader(u, i), u.chunk(data, i))
	if err != nil {
		return fmt.Errorf("upload %d chunk %d: %w", u.n, i, err)
	}
	return nil
}

// complete sends complete for u and returns the status and body.
func (c *client) complete(base string, u *upload) (int, []byte, error) {
	body, _ := json.Marshal(map[string]any{"upload_id": u.id})
	return c.do("POST", base+"/api/upload/complete", jsonHeader, bytes.NewReader(body), int64(len(body)))
}

// download checks that the file of u, fetched from base, is u's data.
func (c *client) download(base string, u *upload) error {
	status, b, err := c.do("GET", base+apitest.FilePath(u.key), nil, nil, 0)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("GET %s: status %d: %.300s", u.key, status, b)
	}
	if sha256.Sum256(b) != sha256.Sum256(u.data()) {
		return fmt.Errorf("GET %s from %s: %d bytes that differ from the %d sent", u.key, base, len(b), u.size)
	}
	return nil
}

// forEach runs f(0) … f(n-1) on `workers` goroutines and returns the errors.
func forEach(n int, f func(i int) error) []error {
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
		next = make(chan int)
	)
	for range workers {
		wg.Go(func() {
			for i := range next {
				if err := f(i); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return errs
}

func check(t *testing.T, step string, errs []error) {
	t.Helper()
	for _, err := range errs {
		t.Errorf("%s: %v", step, err)
	}
	if len(errs) > 0 {
		t.FailNow()
	}
}

// TestMultiInstance runs three serve processes on one PostgreSQL database and
// one S3 prefix and spreads uploads over them: chunks round-robin, completes
// on another instance than the last chunk, one instance killed with SIGKILL
// in the middle of a chunk body and restarted. Every file must complete
// byte-identical, every instance must tell the same status, and the bucket
// must hold nothing the database does not know.
func TestMultiInstance(t *testing.T) {
	srv := needServers(t)
	dbURL := freshDatabase(t, srv.pgURL)
	prefix := "multiinstance/" + randomHex(6)
	s3c := newS3Client(t, srv.endpoint)
	t.Cleanup(func() { removePrefix(t, s3c, srv.bucket, prefix+"/") })
	bin := buildBinary(t)
	cl := startCluster(t, bin, instances, []string{
		"--addr", "127.0.0.1:0", "--database", dbURL, "--storage", "s3://" + srv.bucket + "/" + prefix,
		"--s3-endpoint", srv.endpoint, "--s3-path-style", "--s3-region", "us-east-1", "--chunk-size", "5MiB",
	})
	c := &client{http: &http.Client{}}
	user := apitest.NewUserID()

	ups := make([]*upload, uploads)
	for n := range ups {
		ups[n] = &upload{n: n, size: 2*chunkSize + 1000*(n+1)} // 3 chunks, the last one short
	}
	// Chunk i of upload n goes to instance (n+i) % 3; init to n % 3.
	at := func(n, i int) string { return cl.url((n + i) % instances) }

	t.Run("UploadsAcrossInstances", func(t *testing.T) {
		check(t, "init", forEach(uploads, func(n int) error { return c.init(at(n, 0), ups[n], user) }))
		// Chunks 0 and 2 (the short last one) of every upload.
		check(t, "chunks 0 and 2", forEach(2*uploads, func(k int) error {
			u, i := ups[k/2], 2*(k%2)
			return c.putChunk(at(u.n, i), u, i, u.data())
		}))

		// Chunk 1 of upload 0 goes to instance 1, which is killed in the middle of its body.
		victim := 1
		if got := at(0, 1); got != cl.url(victim) {
			t.Fatalf("round-robin sends upload 0 chunk 1 to %s, not instance %d", got, victim)
		}
		killMidChunk(t, c, cl, victim, ups[0], 1)
		cl.start(victim)

		check(t, "chunk 1", forEach(uploads, func(n int) error { return c.putChunk(at(n, 1), ups[n], 1, ups[n].data()) }))
		check(t, "complete", forEach(uploads, func(n int) error {
			u := ups[n]
			base := at(n, 0) // chunk 1 went last, to at(n, 1)
			status, b, err := c.complete(base, u)
			if err != nil {
				return err
			}
			if status != http.StatusOK {
				return fmt.Errorf("complete upload %d on %s: status %d: %s", n, base, status, b)
			}
			return nil
		}))
	})
	if t.Failed() {
		t.FailNow()
	}

	t.Run("SameStatusEverywhere", func(t *testing.T) {
		check(t, "status", forEach(uploads, func(n int) error {
			u := ups[n]
			var first []byte
			for i := range instances {
				status, b, err := c.do("GET", cl.url(i)+"/api/upload/"+u.id+"/status", nil, nil, 0)
				if err != nil {
					return err
				}
				if status != http.StatusOK {
					return fmt.Errorf("status of upload %d on instance %d: %d %s", n, i, status, b)
				}
				if i == 0 {
					first = b
					var st struct {
						Status string `json:"status"`
						Chunks []int  `json:"chunks"`
						Bytes  int    `json:"bytes_uploaded"`
					}
					if err := json.Unmarshal(b, &st); err != nil {
						return err
					}
					if st.Status != "completed" || !slices.Equal(st.Chunks, []int{0, 1, 2}) || st.Bytes != u.size {
						return fmt.Errorf("upload %d: status %s", n, b)
					}
				} else if !bytes.Equal(b, first) {
					return fmt.Errorf("upload %d: instance %d says %s, instance 0 says %s", n, i, b, first)
				}
			}
			return nil
		}))
	})

	t.Run("DownloadsIdentical", func(t *testing.T) {
		check(t, "download", forEach(uploads, func(n int) error { return c.download(at(n, 1), ups[n]) }))
	})

	t.Run("ConcurrentCompletes", func(t *testing.T) {
		const rounds = 4
		extra := make([]*upload, rounds)
		for r := range extra {
			extra[r] = &upload{n: 100 + r, size: chunkSize + 777}
			u := extra[r]
			if err := c.init(at(r, 0), u, user); err != nil {
				t.Fatal(err)
			}
			data := u.data()
			for i := range u.chunks() {
				if err := c.putChunk(at(r, i), u, i, data); err != nil {
					t.Fatal(err)
				}
			}
			a, b := at(r, 1), at(r, 2) // two different instances
			var results [2]struct {
				status int
				body   []byte
				err    error
			}
			start := make(chan struct{})
			var wg sync.WaitGroup
			for k, base := range []string{a, b} {
				wg.Go(func() {
					<-start
					results[k].status, results[k].body, results[k].err = c.complete(base, u)
				})
			}
			close(start)
			wg.Wait()
			oks := 0
			for k, res := range results {
				switch {
				case res.err != nil:
					t.Errorf("round %d: complete %d: %v", r, k, res.err)
				case res.status == http.StatusOK:
					oks++
					var m map[string]any
					if err := json.Unmarshal(res.body, &m); err != nil || m["r2_key"] != u.key || m["status"] != "completed" {
						t.Errorf("round %d: complete %d answered %s, want status completed and key %s", r, k, res.body, u.key)
					}
				case res.status == http.StatusConflict:
				default:
					t.Errorf("round %d: complete %d: status %d %s, want 200 or 409", r, k, res.status, res.body)
				}
			}
			if oks == 0 {
				t.Errorf("round %d: neither complete succeeded: %d %s / %d %s", r, results[0].status, results[0].body, results[1].status, results[1].body)
			}
			if err := c.download(at(r, 0), u); err != nil {
				t.Errorf("round %d: %v", r, err)
			}
		}
		ups = append(ups, extra...)
	})

	t.Run("BucketMatchesDatabase", func(t *testing.T) {
		ctx := t.Context()
		conn, err := pgx.Connect(ctx, dbURL)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		rows, _ := conn.Query(ctx, "SELECT r2_key, status FROM uploads ORDER BY r2_key")
		type row struct{ Key, Status string }
		dbRows, err := pgx.CollectRows(rows, pgx.RowToStructByPos[row])
		if err != nil {
			t.Fatal(err)
		}
		var completed []string
		for _, r := range dbRows {
			if r.Status != "completed" {
				t.Errorf("upload with key %s is %s, want completed", r.Key, r.Status)
			}
			completed = append(completed, r.Key)
		}
		var want []string
		for _, u := range ups {
			want = append(want, u.key)
		}
		slices.Sort(want)
		if !slices.Equal(completed, want) {
			t.Errorf("database keys %v, want the %d uploaded %v", completed, len(want), want)
		}

		objects, err := listObjects(ctx, s3c, srv.bucket, prefix+"/")
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(objects)
		if !slices.Equal(objects, completed) {
			t.Errorf("bucket holds %v\nthe database knows %v", objects, completed)
		}
		mp, err := s3c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &srv.bucket, Prefix: aws.String(prefix + "/")})
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range mp.Uploads {
			t.Errorf("stray multipart upload %s at %s", aws.ToString(u.UploadId), aws.ToString(u.Key))
		}
	})
}

// killMidChunk sends chunk i of u to instance victim, kills the instance
// with SIGKILL once most of the body is on its way, and checks that the
// request failed.
func killMidChunk(t *testing.T, c *client, cl *cluster, victim int, u *upload, i int) {
	t.Helper()
	body := u.chunk(u.data(), i)
	part := len(body) - 64<<10 // all but the last 64 KiB
	pr, pw := io.Pipe()
	sent := make(chan struct{})
	release := make(chan struct{})
	go func() {
		if _, err := pw.Write(body[:part]); err == nil {
			close(sent)
		}
		<-release
		pw.CloseWithError(errors.New("the test stopped sending"))
	}()
	type result struct {
		status int
		body   []byte
		err    error
	}
	done := make(chan result, 1)
	go func() {
		status, b, err := c.do("PUT", cl.url(victim)+"/api/upload/chunk", chunkHeader(u, i), pr, int64(len(body)))
		done <- result{status, b, err}
	}()
	select {
	case <-sent:
	case r := <-done:
		close(release)
		t.Fatalf("the chunk request ended before its body was sent: %d %s %v", r.status, r.body, r.err)
	}
	cl.kill(victim)
	close(release)
	r := <-done
	if r.err == nil && r.status == http.StatusOK {
		t.Fatalf("a chunk whose server was killed mid-body was acknowledged: %s", r.body)
	}
	// Nothing of the interrupted chunk is recorded: the others still count the two chunks before it.
	m, err := c.ok("GET", cl.url(0)+"/api/upload/"+u.id+"/status", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if chunks, _ := m["chunks"].([]any); !slices.Equal(chunks, []any{0.0, 2.0}) || m["status"] != "in_progress" {
		t.Fatalf("after the kill, status is %v; want in_progress with chunks 0 and 2", m)
	}
}
