package postgres

import (
	"bufio"
	"bytes"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// testServer is a PostgreSQL cluster of one test, started by
// .ci/postgres.sh, that the test may stop and start.
type testServer struct {
	dir  string // the folder given to .ci/postgres.sh
	data string // the cluster's data folder
	bin  string // the folder of pg_ctl
	url  string // the URL of its "memenow" database
	port string
}

// startServer starts a cluster of t's own in a temporary folder and stops it
// when t ends, so that stopping it disturbs no other test.
func startServer(t *testing.T) *testServer {
	t.Helper()
	script, err := filepath.Abs("../.ci/postgres.sh")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "pg")
	out, err := exec.Command(script, "start", dir).Output()
	if err != nil {
		msg := err.Error()
		if ee, ok := err.(*exec.ExitError); ok {
			msg += ": " + string(ee.Stderr)
		}
		t.Fatalf("%s start %s: %s", script, dir, msg)
	}
	env := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if k, v, ok := strings.Cut(strings.TrimPrefix(sc.Text(), "export "), "="); ok {
			env[k] = v
		}
	}
	srv := &testServer{dir: dir, data: env["MEMENOW_TEST_POSTGRES_DATA"], bin: env["MEMENOW_TEST_POSTGRES_BIN"],
		url: env["MEMENOW_TEST_POSTGRES_URL"]}
	t.Cleanup(func() {
		if out, err := exec.Command(script, "stop", dir).CombinedOutput(); err != nil {
			t.Errorf("%s stop %s: %v: %s", script, dir, err, out)
		}
	})
	u, err := url.Parse(srv.url)
	if srv.data == "" || srv.bin == "" || err != nil {
		t.Fatalf("%s start printed no usable exports: %q", script, out)
	}
	srv.port = u.Port()
	return srv
}

// pgCtl runs pg_ctl on the cluster, as the postgres user when we are root.
func (s *testServer) pgCtl(t *testing.T, args ...string) {
	t.Helper()
	cmd := append([]string{filepath.Join(s.bin, "pg_ctl"), "-D", s.data}, args...)
	if os.Geteuid() == 0 {
		cmd = append([]string{"runuser", "-u", "postgres", "--"}, cmd...)
	}
	c := exec.Command(cmd[0], cmd[1:]...)
	c.Dir = "/"
	if out, err := c.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v: %s", strings.Join(cmd, " "), err, out)
	}
}

// stop stops the server, disconnecting every client.
func (s *testServer) stop(t *testing.T) {
	t.Helper()
	s.pgCtl(t, "-m", "fast", "-w", "stop")
}

// start starts the server again on the same port, as .ci/postgres.sh does.
func (s *testServer) start(t *testing.T) {
	t.Helper()
	s.pgCtl(t, "-w", "-l", filepath.Join(s.dir, "postgres.log"), "start",
		"-o", "-c listen_addresses=127.0.0.1 -p "+s.port+" -k "+filepath.Join(s.dir, "sock"))
}
