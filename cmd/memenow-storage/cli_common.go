package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	storage "github.com/memenow/memenow-storage"
	"github.com/memenow/memenow-storage/client"
)

// Exit codes of the client subcommands.
const (
	cliExitOK    = 0 // done
	cliExitFail  = 1 // a valid command that failed: the server refused, a local file, the network, an interruption
	cliExitUsage = 2 // the command line is wrong: a flag, an argument or a value out of its allowed set
)

// cliDefaultServer is the server the client subcommands talk to when neither
// --server nor MEMENOW_SERVER names one.
const cliDefaultServer = "http://127.0.0.1:8787"

// cliCommon holds the flags every client subcommand takes, and where its
// notes go.
type cliCommon struct {
	server   string
	token    string // --token
	envToken string // MEMENOW_TOKEN, used when --token is not given
	quiet    bool   // --quiet, on the commands that have it

	stderr   io.Writer
	noteMu   sync.Mutex
	progress *cliProgress // the transfer's display, when one is shown
}

// cliDoc is the -h text of a client subcommand.
type cliDoc struct {
	usage    string   // "list [flags]": the synopsis after "memenow-storage "
	about    string   // what the command does, one paragraph
	examples []string // whole command lines
}

// cliFlagSet returns a flag set for a client subcommand that reports errors
// on stderr, with the flags every client subcommand takes (--server,
// --token) and -h output made of doc. A command with something to keep
// quiet adds --quiet with addQuiet.
func cliFlagSet(name string, doc cliDoc, getenv func(string) string, stderr io.Writer) (*flag.FlagSet, *cliCommon) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { cliPrintUsage(stderr, fs, doc) }
	c := &cliCommon{envToken: getenv("MEMENOW_TOKEN"), stderr: stderr}
	server := getenv("MEMENOW_SERVER")
	if server == "" {
		server = cliDefaultServer
	}
	fs.StringVar(&c.server, "server", server, "server URL; http:// when it names no scheme (env MEMENOW_SERVER)")
	// The default is not the environment's token, so that -h never prints it.
	fs.StringVar(&c.token, "token", "", "bearer token for a server with auth on (env MEMENOW_TOKEN, which keeps it out of the process list)")
	return fs, c
}

// addQuiet adds --quiet, with what it silences.
func (c *cliCommon) addQuiet(fs *flag.FlagSet, what string) {
	fs.BoolVar(&c.quiet, "quiet", false, what)
}

// cliPrintUsage prints a command's -h text: synopsis, what it does, its
// flags and examples.
func cliPrintUsage(w io.Writer, fs *flag.FlagSet, doc cliDoc) {
	fmt.Fprintf(w, "usage: memenow-storage %s\n", doc.usage)
	if doc.about != "" {
		fmt.Fprintf(w, "\n%s\n", doc.about)
	}
	fmt.Fprintf(w, "\nflags:\n")
	out := fs.Output()
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(out)
	if len(doc.examples) > 0 {
		fmt.Fprintf(w, "\nexample:\n")
		for _, e := range doc.examples {
			fmt.Fprintf(w, "  %s\n", e)
		}
	}
}

// parse parses a client subcommand's arguments with cliParse and checks
// the common flags: --server becomes a base URL ("127.0.0.1:8787" is
// http://127.0.0.1:8787). ok is false when the command must stop; code is
// then its exit code.
func (c *cliCommon) parse(fs *flag.FlagSet, args []string) (pos []string, code int, ok bool) {
	pos, code, ok = cliParse(fs, args)
	if !ok {
		return nil, code, false
	}
	server, err := cliServerURL(c.server)
	if err != nil {
		return nil, cliUsageError(fs, c.stderr, "--server: %v", err), false
	}
	c.server = server
	return pos, 0, true
}

// cliServerURL returns the base URL of a --server value: an http or https
// URL as given (without a trailing slash), or host:port, which gets
// http:// in front.
func cliServerURL(s string) (string, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return "", errors.New("no server given")
	}
	if !strings.Contains(t, "://") {
		t = "http://" + t
	}
	u, err := url.Parse(t)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("%q is not a server address: use HOST:PORT, http://HOST:PORT or https://HOST", s)
	}
	return strings.TrimRight(t, "/"), nil
}

// bearer returns the token to send: --token, else MEMENOW_TOKEN, else "".
func (c *cliCommon) bearer() string {
	if c.token != "" {
		return c.token
	}
	return c.envToken
}

// client returns an API client for the chosen server. On a terminal (and
// unless --quiet), each retry of a failed request is reported on stderr
// ("retrying in 2s: connection refused"), so that a server that is down
// does not make the command wait in silence.
func (c *cliCommon) client() *client.Client {
	cl := &client.Client{BaseURL: c.server, Token: c.bearer(), UserAgent: "memenow-storage-cli/1"}
	if isTerm, _ := cliTerminal(c.stderr); isTerm && !c.quiet {
		cl.Retry.OnRetry = func(err error, delay time.Duration) {
			c.note(fmt.Sprintf("retrying in %s: %s", cliDelay(delay), cliRetryReason(err)))
		}
	}
	return cl
}

// note prints one line on stderr, above the progress bar when one is shown.
// It may be called from several goroutines.
func (c *cliCommon) note(line string) {
	if c.progress != nil {
		c.progress.note(line)
		return
	}
	c.noteMu.Lock()
	defer c.noteMu.Unlock()
	fmt.Fprintln(c.stderr, line)
}

// cliDelay formats a retry delay for people: 250ms, 1.5s, 12s.
func cliDelay(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(10 * time.Millisecond).String()
	case d < 10*time.Second:
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// cliRetryReason says in a few words why a request is retried.
func cliRetryReason(err error) string {
	var (
		se  *storage.Error
		dns *net.DNSError
		ne  net.Error
	)
	switch {
	case errors.As(err, &se):
		return cliDescribe(err)
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.As(err, &dns):
		return "cannot resolve " + dns.Name
	case errors.As(err, &ne) && ne.Timeout():
		return "timed out"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "the connection closed early"
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}

// cliNeedToken is what a client subcommand says when the server wants a
// token and none was given.
const cliNeedToken = "memenow-storage: the server requires a token: pass --token or set MEMENOW_TOKEN"

// fail reports err and returns cliExitFail. A refusal for want of a valid
// token says so plainly: that one is needed, or why the server refused the
// one given (never the token itself).
func (c *cliCommon) fail(stderr io.Writer, cmd string, err error) int {
	if client.IsUnauthorized(err) {
		if c.bearer() == "" {
			fmt.Fprintln(stderr, cliNeedToken)
			return cliExitFail
		}
		reason := "the token was not accepted"
		var se *storage.Error
		if errors.As(err, &se) && se.Message != "" {
			reason = se.Message
		}
		fmt.Fprintf(stderr, "memenow-storage: the server refused the token: %s\n", reason)
		return cliExitFail
	}
	return cliFail(stderr, cmd, err)
}

// cliParse parses args, allowing flags after positional arguments
// ("upload FILE --user-id x"), and returns the positional arguments. ok is
// false when parsing failed; code is then the exit code.
func cliParse(fs *flag.FlagSet, args []string) (pos []string, code int, ok bool) {
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, cliExitOK, false
			}
			return nil, cliExitUsage, false
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, 0, true
		}
		// flag consumes a "--" and stops; everything after it is positional.
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), 0, true
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// cliUsageError reports a usage problem and returns cliExitUsage.
func cliUsageError(fs *flag.FlagSet, stderr io.Writer, format string, args ...any) int {
	fmt.Fprintf(stderr, "memenow-storage %s: %s\n", fs.Name(), fmt.Sprintf(format, args...))
	fs.Usage()
	return cliExitUsage
}

// cliFail reports err and returns cliExitFail.
func cliFail(stderr io.Writer, cmd string, err error) int {
	fmt.Fprintf(stderr, "memenow-storage %s: %s\n", cmd, cliDescribe(err))
	return cliExitFail
}

// cliDescribe formats an error for people: "CODE: message (HTTP 404)" for
// the server's errors, "cannot reach the server at URL: connection refused
// (…)" for a network failure.
func cliDescribe(err error) string {
	var se *storage.Error
	if errors.As(err, &se) {
		s := fmt.Sprintf("%s: %s", se.Code, se.Message)
		if status := client.HTTPStatus(err); status != 0 {
			s += fmt.Sprintf(" (HTTP %d)", status)
		} else if se.Err != nil {
			s += ": " + se.Err.Error()
		}
		return s
	}
	var ue *url.Error
	var ne net.Error
	if errors.As(err, &ue) && errors.As(err, &ne) {
		where := ue.URL
		if u, perr := url.Parse(ue.URL); perr == nil {
			where = u.Scheme + "://" + u.Host
		}
		return fmt.Sprintf("cannot reach the server at %s: %s (is it running? --server or MEMENOW_SERVER names it)", where, cliRetryReason(err))
	}
	return err.Error()
}

// cliInterrupted reports whether err comes from ctx being cancelled.
func cliInterrupted(ctx context.Context, err error) bool {
	return ctx.Err() != nil || errors.Is(err, context.Canceled)
}

// cliCacheDir returns the folder of the client's state: MEMENOW_CACHE_DIR,
// or memenow-storage under XDG_CACHE_HOME or the user's cache folder.
func cliCacheDir(getenv func(string) string) (string, error) {
	if d := getenv("MEMENOW_CACHE_DIR"); d != "" {
		return d, nil
	}
	if d := getenv("XDG_CACHE_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "memenow-storage"), nil
	}
	if h := getenv("HOME"); h != "" && filepath.IsAbs(h) {
		return filepath.Join(h, ".cache", "memenow-storage"), nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no cache folder for resume state (set MEMENOW_CACHE_DIR): %w", err)
	}
	return filepath.Join(d, "memenow-storage"), nil
}

// cliTerm is implemented by writers that stand for a terminal; tests use it
// to show what a terminal gets.
type cliTerm interface {
	// TermWidth reports whether the writer is a terminal, and its width in
	// columns (0 when it does not say).
	TermWidth() (cols int, isTerm bool)
}

// cliTerminal reports whether w is a terminal, and its width in columns (0
// when the terminal does not say).
func cliTerminal(w io.Writer) (isTerm bool, cols int) {
	if t, ok := w.(cliTerm); ok {
		cols, isTerm := t.TermWidth()
		return isTerm, cols
	}
	f, ok := w.(interface{ Fd() uintptr })
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return false, 0
	}
	cols, _, err := term.GetSize(int(f.Fd()))
	if err != nil || cols < 0 {
		cols = 0
	}
	return true, cols
}

// cliMinBarColumns is the narrowest terminal that gets a progress bar;
// narrower ones, and those that report no width, get plain lines.
const cliMinBarColumns = 40

// cliProgress shows the progress of a transfer on stderr: a bar on a
// terminal, a line every few seconds otherwise, nothing when quiet.
type cliProgress struct {
	mu    sync.Mutex
	w     io.Writer
	desc  string
	bar   *progressbar.ProgressBar
	plain bool
	start time.Time
	first int64 // bytes done when the transfer started (resumed bytes)
	last  time.Time
	done  int64
	total int64
}

// cliPlainEvery is the interval between plain progress lines.
const cliPlainEvery = 2 * time.Second

// newCLIProgress returns the display of a transfer on stderr: nothing when
// quiet, a bar on a terminal at least cliMinBarColumns wide, plain lines
// otherwise.
func newCLIProgress(stderr io.Writer, quiet bool, desc string) *cliProgress {
	p := &cliProgress{w: stderr, desc: desc, first: -1}
	isTerm, cols := cliTerminal(stderr)
	switch {
	case quiet:
	case isTerm && cols >= cliMinBarColumns:
		p.bar = progressbar.NewOptions64(-1,
			progressbar.OptionSetWriter(stderr),
			progressbar.OptionSetDescription(desc),
			progressbar.OptionShowBytes(true),
			progressbar.OptionShowTotalBytes(true),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionFullWidth(),
			progressbar.OptionUseIECUnits(true),
		)
	default:
		p.plain = true
	}
	return p
}

// update records that done of total bytes are transferred (total -1 when
// unknown). It may be called from several goroutines.
func (p *cliProgress) update(done, total int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if p.first < 0 {
		p.first, p.start = done, now
	}
	p.done, p.total = done, total
	switch {
	case p.bar != nil:
		if total > 0 && p.bar.GetMax64() != total {
			p.bar.ChangeMax64(total)
		}
		_ = p.bar.Set64(done)
	case p.plain && now.Sub(p.last) >= cliPlainEvery:
		p.last = now
		p.printLine(now)
	}
}

// printLine prints one plain progress line.
func (p *cliProgress) printLine(now time.Time) {
	line := fmt.Sprintf("%s: %s", p.desc, cliBytes(p.done))
	if p.total > 0 {
		line += fmt.Sprintf(" of %s (%d%%)", cliBytes(p.total), p.done*100/p.total)
	}
	if secs := now.Sub(p.start).Seconds(); secs > 0.5 && p.done > p.first {
		line += fmt.Sprintf(", %s/s", cliBytes(int64(float64(p.done-p.first)/secs)))
	}
	fmt.Fprintln(p.w, line)
}

// note prints line on its own, above the bar when one is shown.
func (p *cliProgress) note(line string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		_ = p.bar.Clear()
	}
	fmt.Fprintln(p.w, line)
}

// finish ends the display: a last line (plain) or the completed bar.
func (p *cliProgress) finish(ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.bar != nil:
		if ok {
			_ = p.bar.Finish()
		} else {
			_ = p.bar.Exit()
		}
		fmt.Fprintln(p.w)
	case p.plain && p.first >= 0:
		p.printLine(time.Now())
	}
}

// cliBytes formats a byte count with IEC units.
func cliBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}
