// Command memenow-storage is the MemeNow Storage service and its client.
//
//	memenow-storage serve      run the HTTP service
//	memenow-storage upload     upload a file, with progress and resume
//	memenow-storage download   download a stored file, with resume
//	memenow-storage status     show an upload's status
//	memenow-storage cancel     cancel an upload
//	memenow-storage list       list your uploads
//	memenow-storage delete     delete a stored file
//	memenow-storage share      print a link that reads a file without a token
//	memenow-storage migrate    apply the database schema migrations
//	memenow-storage audit      print the audit log from the database
//
// Run "memenow-storage help COMMAND" (or "memenow-storage COMMAND -h") for a
// command's synopsis, flags and an example.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit statuses.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// command is one subcommand of the binary.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int
}

// commands lists the subcommands.
func commands() map[string]command {
	return map[string]command{
		"serve":    {"run the HTTP service", runServe},
		"migrate":  {"apply the database schema migrations", runMigrate},
		"audit":    {"print the audit log from the database", runAudit},
		"upload":   {"upload a file, with progress and resume", runUpload},
		"download": {"download a stored file, with resume", runDownload},
		"status":   {"show an upload's status", runStatus},
		"cancel":   {"cancel an upload", runCancel},
		"list":     {"list your uploads, newest first", runList},
		"delete":   {"delete a stored file", runDelete},
		"share":    {"print a link that reads a file without a token", runShare},
	}
}

// run is the whole program: it returns the exit status instead of exiting,
// so that tests can drive it.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmds := commands()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		if len(args) > 1 && args[0] == "help" {
			return help(ctx, args[1:], getenv, stderr, cmds)
		}
		usage(stderr, cmds)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	if args[0] == "version" || args[0] == "--version" {
		fmt.Fprintln(stdout, "memenow-storage", version())
		return exitOK
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "memenow-storage: unknown command %q\n", args[0])
		usage(stderr, cmds)
		return exitUsage
	}
	return cmd.run(ctx, args[1:], getenv, stdout, stderr)
}

// help is "help COMMAND": the command's own -h text.
func help(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer, cmds map[string]command) int {
	if len(args) != 1 {
		fmt.Fprintln(stderr, "usage: memenow-storage help [COMMAND]")
		return exitUsage
	}
	if args[0] == "version" {
		fmt.Fprintln(stderr, "usage: memenow-storage version\n\nPrint the version of this binary.\n\nexample:\n  memenow-storage version")
		return exitOK
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "memenow-storage: unknown command %q\n", args[0])
		usage(stderr, cmds)
		return exitUsage
	}
	return cmd.run(ctx, []string{"-h"}, getenv, io.Discard, stderr)
}

// usage prints the list of commands.
func usage(w io.Writer, cmds map[string]command) {
	fmt.Fprintln(w, "usage: memenow-storage COMMAND [flags]")
	fmt.Fprintln(w, "\ncommands:")
	for _, name := range []string{"serve", "upload", "download", "status", "cancel", "list", "delete", "share", "migrate", "audit", "version"} {
		if c, ok := cmds[name]; ok {
			fmt.Fprintf(w, "  %-9s %s\n", name, c.summary)
		}
	}
	fmt.Fprintln(w, "  version   print the version")
	fmt.Fprintln(w, "\nRun 'memenow-storage help COMMAND' (or 'memenow-storage COMMAND -h') for a command's synopsis, flags and an example.")
}
