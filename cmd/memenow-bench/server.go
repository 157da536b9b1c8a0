package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// profileHook is compiled into the server (through go build -overlay, the
// repository is not touched) when --cpuprofile is given: it profiles the
// whole process and writes the profile on SIGUSR1.
const profileHook = `package main

import (
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
)

func init() {
	path := os.Getenv("BENCH_SERVER_CPUPROFILE")
	if path == "" {
		return
	}
	f, err := os.Create(path)
	if err != nil {
		return
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return
	}
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGUSR1)
	go func() {
		<-c
		pprof.StopCPUProfile()
		f.Close()
		os.WriteFile(path+".done", nil, 0o644)
	}()
}
`

// buildServer builds ./cmd/memenow-storage of the module around the current
// folder into dir and returns the binary's path.
func buildServer(ctx context.Context, dir string, profile bool) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %v", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("run memenow-bench inside the memenow-storage module")
	}
	root := filepath.Dir(gomod)
	bin := filepath.Join(dir, "memenow-storage")
	args := []string{"build", "-o", bin}
	if profile {
		hook := filepath.Join(dir, "benchprofile.go")
		overlay := filepath.Join(dir, "overlay.json")
		target := filepath.Join(root, "cmd", "memenow-storage", "zz_benchprofile.go")
		if err := os.WriteFile(hook, []byte(profileHook), 0o644); err != nil {
			return "", err
		}
		js := fmt.Sprintf(`{"Replace":{%s:%s}}`, strconv.Quote(target), strconv.Quote(hook))
		if err := os.WriteFile(overlay, []byte(js), 0o644); err != nil {
			return "", err
		}
		args = append(args, "-overlay", overlay)
	}
	cmd := exec.CommandContext(ctx, "go", append(args, "./cmd/memenow-storage")...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/memenow-storage: %v\n%s", err, out)
	}
	return bin, nil
}

// serverProc is a running memenow-storage serve process.
type serverProc struct {
	cmd     *exec.Cmd
	dataDir string
	profile string // CPU profile path, or ""
	base    string // http://127.0.0.1:PORT once ready
	ready   chan string
	exited  chan struct{}
	waitErr error
	tail    tailLog
	stopped bool
}

// addrPattern finds the listening address in the server's start-up log line.
var addrPattern = regexp.MustCompile(`addr=(http://127\.0\.0\.1:[0-9]+)`)

// serverEnv is the environment of the server: ours without MEMENOW_*
// variables, which would change its configuration.
func serverEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MEMENOW_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// startServerProc starts `bin serve` on addr with dataDir and extra flags,
// without waiting for it to be ready.
func startServerProc(bin, addr, dataDir, profile string, extra ...string) (*serverProc, error) {
	args := append([]string{"serve", "--addr", addr, "--data-dir", dataDir,
		"--max-file-size", "8GiB", "--shutdown-timeout", "5s"}, extra...)
	cmd := exec.Command(bin, args...)
	var env []string
	if profile != "" {
		env = append(env, "BENCH_SERVER_CPUPROFILE="+profile)
	}
	cmd.Env = serverEnv(env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout = io.Discard
	p := &serverProc{cmd: cmd, dataDir: dataDir, profile: profile, ready: make(chan string, 1), exited: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %v", bin, err)
	}
	go p.drain(stderr)
	return p, nil
}

// drain reads the server's log until it closes, keeping the last lines and
// announcing the listening address.
func (p *serverProc) drain(r io.Reader) {
	br := bufio.NewReaderSize(r, 64<<10)
	announced := false
	for {
		line, err := br.ReadString('\n')
		if line != "" {
			p.tail.add(line)
			if m := addrPattern.FindStringSubmatch(line); m != nil && !announced {
				announced = true
				p.ready <- m[1]
			}
		}
		if err != nil {
			break
		}
	}
	p.waitErr = p.cmd.Wait()
	close(p.exited)
}

// waitReady waits for the server's address line.
func (p *serverProc) waitReady(ctx context.Context) error {
	t := time.NewTimer(30 * time.Second)
	defer t.Stop()
	select {
	case p.base = <-p.ready:
		return nil
	case <-p.exited:
		return fmt.Errorf("server exited before it was ready (%v); log:\n%s", p.waitErr, p.tail.String())
	case <-t.C:
		return fmt.Errorf("server not ready after 30 s; log:\n%s", p.tail.String())
	case <-ctx.Done():
		return ctx.Err()
	}
}

// pid returns the server's process id.
func (p *serverProc) pid() int { return p.cmd.Process.Pid }

// stop asks the server to stop (SIGTERM), kills it if it has not stopped
// within 10 s, and returns an error when it had to, or it exited badly.
func (p *serverProc) stop() error {
	if p.stopped {
		return nil
	}
	p.stopped = true
	if p.profile != "" {
		_ = p.cmd.Process.Signal(syscall.SIGUSR1)
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if _, err := os.Stat(p.profile + ".done"); err == nil {
				os.Remove(p.profile + ".done")
				break
			}
		}
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
		return fmt.Errorf("server did not stop within 10 s of SIGTERM; killed")
	}
	if p.waitErr != nil {
		return fmt.Errorf("server exited with %v; log:\n%s", p.waitErr, p.tail.String())
	}
	return nil
}

// tailLog keeps the last lines of a log.
type tailLog struct {
	mu    sync.Mutex
	lines []string
}

func (t *tailLog) add(line string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(line) > 2000 {
		line = line[:2000] + "…\n"
	}
	t.lines = append(t.lines, line)
	if len(t.lines) > 40 {
		t.lines = t.lines[len(t.lines)-40:]
	}
}

// String returns the kept lines.
func (t *tailLog) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.Join(t.lines, "")
}

// memoryBytes returns a "VmHWM" or "VmRSS" field of /proc/PID/status in bytes.
func memoryBytes(pid int, field string) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return parseKB(fieldOf(f, field))
}

// parseKB parses "123456 kB" into bytes.
func parseKB(v string) (int64, error) {
	num, unit, _ := strings.Cut(strings.TrimSpace(v), " ")
	if unit != "kB" {
		return 0, fmt.Errorf("unexpected memory value %q", v)
	}
	kb, err := strconv.ParseInt(num, 10, 64)
	return kb << 10, err
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
