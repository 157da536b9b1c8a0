package main

import (
	"context"
	"fmt"
	"io"
	"path"

	"github.com/memenow/memenow-storage/client"
)

const downloadUsage = "download KEY [-o FILE] [flags]"

// runDownload is the download subcommand: it saves the file at KEY (to the
// key's base name unless -o says otherwise, "-" meaning stdout), resuming
// an interrupted download from its FILE.part, and prints the saved path on
// stdout. args are the arguments after "download".
func runDownload(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs, common := cliFlagSet("download", downloadUsage, getenv, stderr)
	out := fs.String("o", "", "output file, or - for stdout (default: the key's last segment)")
	pos, code, ok := cliParse(fs, args)
	if !ok {
		return code
	}
	if len(pos) != 1 || pos[0] == "" {
		return cliUsageError(fs, stderr, "expected one KEY, got %d arguments", len(pos))
	}
	key := pos[0]
	dest := *out
	if dest == "" {
		dest = path.Base(key)
		if dest == "." || dest == "/" || dest == ".." {
			return cliUsageError(fs, stderr, "cannot name a file after key %q; use -o", key)
		}
	}
	c := common.client()
	progress := newCLIProgress(stderr, common.quiet || dest == "-", "downloading "+path.Base(key))
	opts := client.DownloadOptions{Progress: progress.update}
	var err error
	if dest == "-" {
		_, err = c.DownloadWith(ctx, key, stdout, opts)
	} else {
		_, err = c.DownloadFile(ctx, key, dest, opts)
	}
	progress.finish(err == nil)
	if err != nil {
		if cliInterrupted(ctx, err) && dest != "-" {
			fmt.Fprintf(stderr, "memenow-storage download: interrupted; %s.part keeps what arrived: run the same command again to resume\n", dest)
			return cliExitFail
		}
		return cliFail(stderr, "download", err)
	}
	if dest != "-" {
		fmt.Fprintln(stdout, dest)
	}
	return cliExitOK
}
