package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	storage "github.com/memenow/memenow-storage"
	"github.com/memenow/memenow-storage/client"
)

// Exit codes of the client subcommands.
const (
	cliExitOK    = 0 // done
	cliExitFail  = 1 // the operation failed or was interrupted
	cliExitUsage = 2 // bad flags or arguments
)

// cliDefaultServer is the server the client subcommands talk to when neither
// --server nor MEMENOW_SERVER names one.
const cliDefaultServer = "http://127.0.0.1:8787"

// cliCommon holds the flags every client subcommand takes.
type cliCommon struct {
	server   string
	token    string // --token
	envToken string // MEMENOW_TOKEN, used when --token is not given
	quiet    bool
}

// cliDoc is the -h text of a client subcommand.
type cliDoc struct {
	usage    string   // "list [flags]": the synopsis after "memenow-storage "
	about    string   // what the command does, one paragraph
	examples []string // whole command lines
}

// cliFlagSet returns a flag set for a client subcommand that reports errors
// on stderr, with the flags every client subcommand takes and -h output
// made of doc.
func cliFlagSet(name string, doc cliDoc, getenv func(string) string, stderr io.Writer) (*flag.FlagSet, *cliCommon) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: memenow-storage %s\n", doc.usage)
		if doc.about != "" {
			fmt.Fprintf(stderr, "\n%s\n", doc.about)
		}
		fmt.Fprintf(stderr, "\nflags:\n")
		fs.PrintDefaults()
		if len(doc.examples) > 0 {
			fmt.Fprintf(stderr, "\nexample:\n")
			for _, e := range doc.examples {
				fmt.Fprintf(stderr, "  %s\n", e)
			}
		}
	}
	c := &cliCommon{envToken: getenv("MEMENOW_TOKEN")}
	server := getenv("MEMENOW_SERVER")
	if server == "" {
		server = cliDefaultServer
	}
	fs.StringVar(&c.server, "server", server, "server URL (env MEMENOW_SERVER)")
	// The default is not the environment's token, so that -h never prints it.
	fs.StringVar(&c.token, "token", "", "bearer token for a server with auth on (env MEMENOW_TOKEN, which keeps it out of the process list)")
	fs.BoolVar(&c.quiet, "quiet", false, "print no progress or notes")
	return fs, c
}

// bearer returns the token to send: --token, else MEMENOW_TOKEN, else "".
func (c *cliCommon) bearer() string {
	if c.token != "" {
		return c.token
	}
	return c.envToken
}

// client returns an API client for the chosen server.
func (c *cliCommon) client() *client.Client {
	return &client.Client{BaseURL: c.server, Token: c.bearer(), UserAgent: "memenow-storage-cli/1"}
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
// the server's errors.
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

// cliParseSize reads a size such as "8388608", "8MiB", "8M" (MiB) or "10MB".
func cliParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   int64
	}{
		{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
		{"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000},
		{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"B", 1},
	}
	mult := int64(1)
	for _, u := range units {
		if rest, ok := strings.CutSuffix(t, u.suffix); ok {
			t, mult = strings.TrimSpace(rest), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || (mult > 1 && n > (1<<62)/mult) {
		return 0, fmt.Errorf("invalid size %q (use bytes or a unit: KiB, MiB, GiB, KB, MB, GB)", s)
	}
	return n * mult, nil
}

// cliIsTerminal reports whether w is a terminal.
func cliIsTerminal(w io.Writer) bool {
	f, ok := w.(interface{ Fd() uintptr })
	return ok && term.IsTerminal(int(f.Fd()))
}

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

func newCLIProgress(stderr io.Writer, quiet bool, desc string) *cliProgress {
	p := &cliProgress{w: stderr, desc: desc, first: -1}
	switch {
	case quiet:
	case cliIsTerminal(stderr):
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
