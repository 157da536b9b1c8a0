package main

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/jackc/pgx/v5"

	storages3 "github.com/memenow/memenow-storage/s3"
)

// need is an outside server that a measurement cannot run without, named
// by environment variables.
type need struct {
	vars    []string // variables that must all be set
	require string   // the variable that, set to 1, makes a missing server an error
	start   string   // the command that starts one
}

// s3Need is the S3 server that .ci/s3-server.sh starts. Credentials come
// from the AWS SDK's default chain (AWS_ACCESS_KEY_ID, …), as the server's.
func s3Need() need {
	return need{vars: []string{"MEMENOW_TEST_S3_ENDPOINT", "MEMENOW_TEST_S3_BUCKET"},
		require: "MEMENOW_REQUIRE_S3", start: `eval "$(.ci/s3-server.sh start /tmp/s3)"`}
}

// postgresNeed is the PostgreSQL server that .ci/postgres.sh starts.
func postgresNeed() need {
	return need{vars: []string{"MEMENOW_TEST_POSTGRES_URL"},
		require: "MEMENOW_REQUIRE_POSTGRES", start: `eval "$(.ci/postgres.sh start /tmp/pg)"`}
}

// unmet returns why n is not met under getenv, or "" when it is.
func (n need) unmet(getenv func(string) string) string {
	var unset []string
	for _, v := range n.vars {
		if getenv(v) == "" {
			unset = append(unset, v)
		}
	}
	if len(unset) == 0 {
		return ""
	}
	return fmt.Sprintf("needs %s (start one with: %s)", strings.Join(unset, ", "), n.start)
}

// errSkipped is what check returns for a measurement that is not run.
var errSkipped = errors.New("skipped")

// check returns nil when every need is met. Otherwise it returns an error
// when the unmet need's REQUIRE variable is 1; else it records what (a
// section, or part of one) as skipped, prints why and returns errSkipped.
func (b *bench) check(what string, needs ...need) error {
	reason := ""
	for _, n := range needs {
		r := n.unmet(b.getenv)
		if r != "" && b.getenv(n.require) == "1" {
			return fmt.Errorf("%s (%s=1)", r, n.require)
		}
		reason = cmp.Or(reason, r)
	}
	if reason == "" {
		return nil
	}
	b.skipped = append(b.skipped, Skip{Section: what, Reason: reason})
	fmt.Fprintf(b.log, "   skipped: %s\n", reason)
	return errSkipped
}

// randomHex returns n random bytes in hex.
func randomHex(n int) string {
	p := make([]byte, n)
	_, _ = rand.Read(p)
	return hex.EncodeToString(p)
}

// s3Bucket is the bucket of the environment's S3 server, a client set up
// as the server's (storages3.NewClient), and a key prefix of this run.
type s3Bucket struct {
	client                           *s3.Client
	endpoint, bucket, region, prefix string
}

// newS3Bucket returns the environment's bucket with a new random prefix.
func (b *bench) newS3Bucket(ctx context.Context) (*s3Bucket, error) {
	sb := &s3Bucket{endpoint: b.getenv("MEMENOW_TEST_S3_ENDPOINT"), bucket: b.getenv("MEMENOW_TEST_S3_BUCKET"),
		region: cmp.Or(b.getenv("AWS_REGION"), storages3.DefaultRegion), prefix: "bench-" + randomHex(6)}
	client, err := storages3.NewClient(ctx, storages3.Options{Endpoint: sb.endpoint, Region: sb.region, PathStyle: true})
	if err != nil {
		return nil, err
	}
	sb.client = client
	return sb, nil
}

// serverFlags are the flags of a server storing under the prefix.
func (sb *s3Bucket) serverFlags() []string {
	return []string{"--storage", "s3://" + sb.bucket + "/" + sb.prefix, "--s3-endpoint", sb.endpoint,
		"--s3-path-style", "--s3-region", sb.region}
}

// clean deletes every object and aborts every multipart upload under the
// prefix, even when ctx is done.
func (sb *s3Bucket) clean(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	prefix := sb.prefix + "/"
	objects := s3.NewListObjectsV2Paginator(sb.client, &s3.ListObjectsV2Input{Bucket: &sb.bucket, Prefix: &prefix})
	for objects.HasMorePages() {
		page, err := objects.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("cleaning the bucket: %w", err)
		}
		if err := sb.deleteObjects(ctx, page.Contents); err != nil {
			return err
		}
	}
	uploads := s3.NewListMultipartUploadsPaginator(sb.client, &s3.ListMultipartUploadsInput{Bucket: &sb.bucket, Prefix: &prefix})
	for uploads.HasMorePages() {
		page, err := uploads.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("cleaning the bucket: %w", err)
		}
		for _, u := range page.Uploads {
			if _, err := sb.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
				Bucket: &sb.bucket, Key: u.Key, UploadId: u.UploadId}); err != nil {
				return fmt.Errorf("cleaning the bucket: %w", err)
			}
		}
	}
	return nil
}

// deleteObjects deletes objs (at most 1,000) in one request.
func (sb *s3Bucket) deleteObjects(ctx context.Context, objs []types.Object) error {
	if len(objs) == 0 {
		return nil
	}
	ids := make([]types.ObjectIdentifier, len(objs))
	for i, o := range objs {
		ids[i] = types.ObjectIdentifier{Key: o.Key}
	}
	out, err := sb.client.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: &sb.bucket,
		Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)}})
	if err == nil && len(out.Errors) > 0 {
		err = fmt.Errorf("%s: %s", aws.ToString(out.Errors[0].Key), aws.ToString(out.Errors[0].Message))
	}
	if err != nil {
		return fmt.Errorf("cleaning the bucket: %w", err)
	}
	return nil
}

// bareS3 is the bare limit on S3: the calls the s3 store makes, straight
// from the client to the S3 server, with no service in between.
type bareS3 struct {
	sb  *s3Bucket
	mu  sync.Mutex
	ups map[string]*bareS3Upload // by S3 upload id
}

// bareS3Upload is one multipart upload of a bareS3.
type bareS3Upload struct {
	key   string
	etags []string // by chunk index
}

var _ uploader = (*bareS3)(nil)

// Init creates a multipart upload under the prefix's bare/ folder.
func (c *bareS3) Init(ctx context.Context, name string, size, chunk int64) (string, error) {
	key := c.sb.prefix + "/bare/" + name
	out, err := c.sb.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket: &c.sb.bucket, Key: &key, ContentType: aws.String("application/octet-stream")})
	if err != nil {
		return "", err
	}
	id := aws.ToString(out.UploadId)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ups[id] = &bareS3Upload{key: key, etags: make([]string, chunkCount(size, chunk))}
	return id, nil
}

// upload returns the upload of S3 upload id.
func (c *bareS3) upload(id string) (*bareS3Upload, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	u, ok := c.ups[id]
	if !ok {
		return nil, fmt.Errorf("no bare S3 upload %q", id)
	}
	return u, nil
}

// Put uploads part index+1 as the s3 store does: a known length, an
// unsigned payload, one attempt.
func (c *bareS3) Put(ctx context.Context, id string, index int, body []byte) error {
	u, err := c.upload(id)
	if err != nil {
		return err
	}
	out, err := c.sb.client.UploadPart(ctx, &s3.UploadPartInput{Bucket: &c.sb.bucket, Key: &u.key, UploadId: &id,
		PartNumber: aws.Int32(int32(index + 1)), ContentLength: aws.Int64(int64(len(body))), Body: bytes.NewReader(body),
	}, storages3.StreamPart)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	u.etags[index] = aws.ToString(out.ETag)
	return nil
}

// Complete completes the multipart upload with its parts in order.
func (c *bareS3) Complete(ctx context.Context, id string) error {
	u, err := c.upload(id)
	if err != nil {
		return err
	}
	c.mu.Lock()
	parts := make([]types.CompletedPart, len(u.etags))
	for i, etag := range u.etags {
		parts[i] = types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: aws.String(etag)}
	}
	c.mu.Unlock()
	_, err = c.sb.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &c.sb.bucket,
		Key: &u.key, UploadId: &id, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
	return err
}

// s3Section compares our server on S3 with the bare S3 calls, and measures
// its memory while chunks stream through it to S3.
func (b *bench) s3Section(ctx context.Context) (res []Result, err error) {
	sb, err := b.newS3Bucket(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, sb.clean(ctx)) }()
	if res, err = b.s3Throughput(ctx, sb); err != nil {
		return res, err
	}
	mem, err := b.s3Memory(ctx, sb)
	return append(res, mem...), err
}

// s3Throughput uploads one file through our server on S3 and straight to
// S3, with the same chunks and streams.
func (b *bench) s3Throughput(ctx context.Context, sb *s3Bucket) (res []Result, err error) {
	srv, ours, err := b.server(ctx, "s3", sb.serverFlags()...)
	if err != nil {
		return nil, err
	}
	defer b.stopServer(srv, &err)
	const streams = 4
	size, chunk := b.sz.tpFile, b.sz.s3Chunk
	label := fmt.Sprintf("S3, %s file, %s chunks, %s", sizeName(size), sizeName(chunk), plural(streams, "stream"))
	bare := &bareS3{sb: sb, ups: map[string]*bareS3Upload{}}
	od, bd, err := b.race(ctx, ours, bare, size, chunk, streams, 0, func() error { return sb.clean(ctx) })
	if err != nil {
		return nil, fmt.Errorf("%s: %w", label, err)
	}
	note := fmt.Sprintf("best of %d, end to end incl. init and complete; bare: the same SDK calls straight to S3", b.sz.tpRepeat)
	return compared(label, size, od, bd, note, 0.8), nil
}

// s3Memory measures the peak RSS of a fresh server on S3 while chunks
// stream through it at once.
func (b *bench) s3Memory(ctx context.Context, sb *s3Bucket) (res []Result, err error) {
	srv, ours, err := b.server(ctx, "s3-memory", sb.serverFlags()...)
	if err != nil {
		return nil, err
	}
	defer b.stopServer(srv, &err)
	res, err = b.chunksAtOnce(ctx, srv, ours, b.sz.s3Mem, b.sz.s3MemChunk)
	for i := range res {
		res[i].Metric = "S3, " + res[i].Metric
	}
	return res, err
}

// scaleoutConfig is one set of servers that scaleout measures.
type scaleoutConfig struct {
	tag       string // names its data folder, CPU profiles and files
	name      string
	instances int
	flags     []string
}

// scaleout runs the concurrency workload on one server on SQLite, on three
// on PostgreSQL sharing a data folder, and, when an S3 server is named, on
// three on PostgreSQL and S3.
func (b *bench) scaleout(ctx context.Context) (res []Result, err error) {
	db, drop, err := createDatabase(ctx, b.getenv("MEMENOW_TEST_POSTGRES_URL"))
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, drop()) }()
	configs := []scaleoutConfig{{"scaleout-sqlite", "1×SQLite+disk", 1, nil},
		{"scaleout-pg-disk", "3×PostgreSQL+disk", 3, []string{"--database", db}}}
	const withS3 = "3×PostgreSQL+S3"
	required := b.check("scaleout: "+withS3, s3Need())
	if required == nil {
		sb, serr := b.newS3Bucket(ctx)
		if serr != nil {
			return nil, serr
		}
		defer func() { err = errors.Join(err, sb.clean(ctx)) }()
		configs = append(configs, scaleoutConfig{"scaleout-pg-s3", withS3, 3, append([]string{"--database", db}, sb.serverFlags()...)})
	}
	if errors.Is(required, errSkipped) {
		required = nil
	}
	var baseline float64
	for i, c := range configs {
		r, rps, err := b.scaleoutRun(ctx, c)
		res = append(res, r...)
		if i == 0 {
			baseline = rps
		} else if rps > 0 {
			res = append(res, info("", c.name+": requests/s over "+configs[0].name, rps/baseline, "×"))
		}
		if err != nil {
			return res, fmt.Errorf("%s: %w", c.name, err)
		}
	}
	return res, required
}

// scaleoutRun starts the servers of c, runs the concurrency workload on
// them, and returns its results and requests per second.
func (b *bench) scaleoutRun(ctx context.Context, c scaleoutConfig) (res []Result, rps float64, err error) {
	ps, err := b.cluster(ctx, c.tag, c.instances, slices.Concat(c.flags, oneClientAsMany)...)
	if err != nil {
		return nil, 0, err
	}
	defer b.stopCluster(ps, &err)
	l := b.concurrentUploads(ctx, ps, c.tag)
	rssName := "server peak RSS"
	if c.instances > 1 {
		rssName = fmt.Sprintf("peak RSS, max of %d servers", c.instances)
	}
	return l.results(fmt.Sprintf("%s, %d uploads", c.name, l.n), rssName), l.reqPerSec(), l.err()
}

// createDatabase creates an empty database bench_RANDOM on the PostgreSQL
// server of base, and returns its URL and a function that drops it.
func createDatabase(ctx context.Context, base string) (dbURL string, drop func() error, err error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", nil, fmt.Errorf("MEMENOW_TEST_POSTGRES_URL: %w", err)
	}
	name := "bench_" + randomHex(8)
	if err := pgExec(ctx, base, "CREATE DATABASE "+name); err != nil {
		return "", nil, fmt.Errorf("creating database %s: %w", name, err)
	}
	drop = func() error {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if err := pgExec(ctx, base, "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			return fmt.Errorf("dropping database %s: %w", name, err)
		}
		return nil
	}
	u.Path = "/" + name
	return u.String(), drop, nil
}

// pgExec runs one statement on a new connection to dbURL.
func pgExec(ctx context.Context, dbURL, sql string) error {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	_, err = conn.Exec(ctx, sql)
	return err
}
