// Package multiinstance holds the end-to-end test of several memenow-storage
// serve processes (the real binary) sharing one PostgreSQL database and one
// S3 bucket. It has no code outside its tests.
package multiinstance

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5"

	storages3 "github.com/memenow/memenow-storage/s3"
)

// startHint names the commands that start the servers this test needs.
const startHint = `eval "$(.ci/postgres.sh start /tmp/memenow-pg)"; eval "$(.ci/s3-server.sh start /tmp/memenow-s3)"`

// servers are the shared servers of the test.
type servers struct {
	pgURL    string // the test server's database, where fresh ones are made
	endpoint string // S3 endpoint
	bucket   string
}

// needServers returns the servers from the environment, or skips the test
// when one is missing (fails it when MEMENOW_REQUIRE_POSTGRES=1, as in CI).
func needServers(t *testing.T) servers {
	t.Helper()
	s := servers{
		pgURL:    os.Getenv("MEMENOW_TEST_POSTGRES_URL"),
		endpoint: os.Getenv("MEMENOW_TEST_S3_ENDPOINT"),
		bucket:   os.Getenv("MEMENOW_TEST_S3_BUCKET"),
	}
	if s.pgURL != "" && s.endpoint != "" && s.bucket != "" {
		return s
	}
	msg := "the multi-instance test needs MEMENOW_TEST_POSTGRES_URL, MEMENOW_TEST_S3_ENDPOINT and MEMENOW_TEST_S3_BUCKET; start the servers with: " + startHint
	if os.Getenv("MEMENOW_REQUIRE_POSTGRES") == "1" {
		t.Fatal(msg + " (MEMENOW_REQUIRE_POSTGRES=1)")
	}
	t.Skip(msg)
	return s
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// freshDatabase creates an empty database for t on the test server, drops it
// when t ends, and returns its URL.
func freshDatabase(t *testing.T, base string) string {
	t.Helper()
	ctx := context.Background()
	name := "memenow_multi_" + randomHex(8)
	exec := func(sql string) error {
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, sql)
		return err
	}
	if err := exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		if err := exec("DROP DATABASE " + name + " WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parse %s: %v", base, err)
	}
	u.Path = "/" + name
	return u.String()
}

// newS3Client returns a client of the test bucket's server, with the
// credentials of the environment (AWS_*).
func newS3Client(t *testing.T, endpoint string) *s3.Client {
	t.Helper()
	c, err := storages3.NewClient(context.Background(), storages3.Options{Endpoint: endpoint, Region: "us-east-1", PathStyle: true})
	if err != nil {
		t.Fatalf("S3 client: %v", err)
	}
	return c
}

// removePrefix deletes every object and multipart upload under prefix.
func removePrefix(t *testing.T, c *s3.Client, bucket, prefix string) {
	ctx := context.Background()
	keys, err := listObjects(ctx, c, bucket, prefix)
	if err != nil {
		t.Logf("cleanup: list objects: %v", err)
	}
	for _, k := range keys {
		if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &bucket, Key: aws.String(prefix + k)}); err != nil {
			t.Logf("cleanup: delete %s: %v", k, err)
		}
	}
	ups, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &bucket, Prefix: &prefix})
	if err != nil {
		t.Logf("cleanup: list multipart uploads: %v", err)
		return
	}
	for _, u := range ups.Uploads {
		if _, err := c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &bucket, Key: u.Key, UploadId: u.UploadId}); err != nil {
			t.Logf("cleanup: abort %s: %v", aws.ToString(u.Key), err)
		}
	}
}

// listObjects returns the keys under prefix, without it.
func listObjects(ctx context.Context, c *s3.Client, bucket, prefix string) ([]string, error) {
	var keys []string
	pages := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: &bucket, Prefix: &prefix})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, o := range page.Contents {
			keys = append(keys, strings.TrimPrefix(aws.ToString(o.Key), prefix))
		}
	}
	return keys, nil
}

// buildBinary builds memenow-storage into a temporary folder.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "memenow-storage")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/memenow-storage")
	cmd.Dir = ".." // the module root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// readyLine is the start-up log line of serve; it holds the listening URL.
var readyLine = regexp.MustCompile(`addr=(http://127\.0\.0\.1:\d+)`)

// instance is one running serve process.
type instance struct {
	cmd    *exec.Cmd
	url    string
	exited chan struct{} // closed when the process has exited
	log    *logBuffer
}

// logBuffer keeps a process's output for the test's failure report.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) add(line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.WriteString(line)
	l.b.WriteByte('\n')
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// cluster is a set of serve processes on the same database and bucket.
type cluster struct {
	t    *testing.T
	bin  string
	args []string
	dir  string

	mu   sync.Mutex
	inst []*instance
	logs []string // output of the processes that were replaced
}

// startCluster starts n serve processes with args and stops them when t ends.
func startCluster(t *testing.T, bin string, n int, args []string) *cluster {
	c := &cluster{t: t, bin: bin, args: args, dir: t.TempDir(), inst: make([]*instance, n)}
	t.Cleanup(c.stopAll)
	for i := range n {
		c.start(i)
	}
	return c
}

// start starts (or restarts) process i and waits until it listens.
func (c *cluster) start(i int) {
	c.t.Helper()
	cmd := exec.Command(c.bin, append([]string{"serve"}, c.args...)...)
	cmd.Dir = c.dir
	stderr, err := cmd.StderrPipe()
	if err != nil {
		c.t.Fatal(err)
	}
	cmd.Stdout = io.Discard
	in := &instance{cmd: cmd, exited: make(chan struct{}), log: &logBuffer{}}
	if err := cmd.Start(); err != nil {
		c.t.Fatalf("start instance %d: %v", i, err)
	}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			in.log.add(sc.Text())
			if m := readyLine.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case ready <- m[1]:
				default:
				}
			}
		}
		_ = cmd.Wait()
		close(in.exited)
	}()
	c.mu.Lock()
	if old := c.inst[i]; old != nil {
		c.logs = append(c.logs, fmt.Sprintf("instance %d (pid %d, replaced):\n%s", i, old.cmd.Process.Pid, old.log))
	}
	c.inst[i] = in
	c.mu.Unlock()
	select {
	case in.url = <-ready:
	case <-in.exited:
		c.t.Fatalf("instance %d exited at start-up:\n%s", i, in.log)
	case <-time.After(2 * time.Minute): // a safety net, not a measurement
		c.t.Fatalf("instance %d printed no addr= line:\n%s", i, in.log)
	}
}

// url returns the base URL of process i.
func (c *cluster) url(i int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.inst[i].url
}

// kill sends SIGKILL to process i and waits until it is gone.
func (c *cluster) kill(i int) {
	c.t.Helper()
	c.mu.Lock()
	in := c.inst[i]
	c.mu.Unlock()
	if err := in.cmd.Process.Kill(); err != nil {
		c.t.Fatalf("kill instance %d: %v", i, err)
	}
	<-in.exited
}

// stopAll kills every process and, when the test failed, logs their output.
func (c *cluster) stopAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, in := range c.inst {
		if in == nil {
			continue
		}
		_ = in.cmd.Process.Kill()
		<-in.exited
		if c.t.Failed() {
			c.logs = append(c.logs, fmt.Sprintf("instance %d (pid %d):\n%s", i, in.cmd.Process.Pid, in.log))
		}
	}
	if c.t.Failed() {
		for _, l := range c.logs {
			c.t.Log(l)
		}
	}
}
