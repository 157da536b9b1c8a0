package main

import (
	"context"
	"fmt"
	"io"
	"time"
)

// deleteDoc is the -h text of delete.
var deleteDoc = cliDoc{
	usage: "delete KEY [flags]",
	about: "Delete the stored file at KEY (yours, or anyone's with an administrator's\n" +
		"token) and print the server's answer as JSON. Deleting it again succeeds too.",
	examples: []string{"memenow-storage delete creator/alice/20240112/video/clip.mp4"},
}

// runDelete is the delete subcommand. args are the arguments after "delete".
func runDelete(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs, common := cliFlagSet("delete", deleteDoc, getenv, stderr)
	pos, code, ok := common.parse(fs, args)
	if !ok {
		return code
	}
	if len(pos) != 1 || pos[0] == "" {
		return cliUsageError(fs, stderr, "expected one KEY, got %d arguments", len(pos))
	}
	res, err := common.client().Delete(ctx, pos[0])
	if err != nil {
		return common.fail(stderr, "delete", err)
	}
	return cliPrintJSON(stdout, stderr, "delete", res)
}

// shareDoc is the -h text of share.
var shareDoc = cliDoc{
	usage: "share KEY [--expires 1h] [--download] [flags]",
	about: "Print a link that reads the stored file at KEY without a token until it\n" +
		"expires (at most the server's --max-share-ttl, 7 days by default). Anyone\n" +
		"holding the link can read the file: share it like a password.",
	examples: []string{
		"memenow-storage share creator/alice/20240112/video/clip.mp4",
		"memenow-storage share creator/alice/20240112/video/clip.mp4 --expires 24h --download",
	},
}

// runShare is the share subcommand. args are the arguments after "share".
func runShare(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs, common := cliFlagSet("share", shareDoc, getenv, stderr)
	expires := fs.Duration("expires", time.Hour, "how long the link works, e.g. 30m, 24h, 168h")
	download := fs.Bool("download", false, "make browsers save the file instead of showing it")
	common.addQuiet(fs, "print only the link, not when it expires")
	pos, code, ok := common.parse(fs, args)
	if !ok {
		return code
	}
	switch {
	case len(pos) != 1 || pos[0] == "":
		return cliUsageError(fs, stderr, "expected one KEY, got %d arguments", len(pos))
	case *expires < time.Second:
		return cliUsageError(fs, stderr, "--expires must be at least 1s, got %v", *expires)
	}
	link, err := common.client().Share(ctx, pos[0], *expires, *download)
	if err != nil {
		return common.fail(stderr, "share", err)
	}
	fmt.Fprintln(stdout, link.URL)
	if !common.quiet {
		when := link.ExpiresAt
		if t := link.Expires(); !t.IsZero() {
			when = t.Local().Format("2006-01-02 15:04:05 MST")
		}
		fmt.Fprintf(stderr, "the link works until %s\n", when)
	}
	return cliExitOK
}
