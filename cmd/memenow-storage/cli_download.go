package main

import (
	"context"
	"fmt"
	"io"
	"path"
	"time"

	storage "github.com/memenow/memenow-storage"
	"github.com/memenow/memenow-storage/client"
)

// downloadDoc is the -h text of download.
var downloadDoc = cliDoc{
	usage: "download KEY [-o FILE] [flags]",
	about: "Save the stored file at KEY, resuming an interrupted download from FILE.part,\n" +
		"and print the saved path. With auth on, files that are not public need a token.",
	examples: []string{
		"memenow-storage download creator/alice/20240112/video/clip.mp4",
		"memenow-storage download creator/alice/20240112/video/clip.mp4 -o - | mpv -",
	},
}

// runDownload is the download subcommand: it saves the file at KEY (to the
// key's base name unless -o says otherwise, "-" meaning stdout), resuming
// an interrupted download from its FILE.part, and prints the saved path on
// stdout. args are the arguments after "download".
func runDownload(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs, common := cliFlagSet("download", downloadDoc, getenv, stderr)
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
		if storage.HasCode(err, storage.CodeNotFound) && common.bearer() == "" {
			// A private file is hidden from a caller without a token.
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			me, merr := c.Me(cctx)
			cancel()
			if merr == nil && me.Auth {
				cliFail(stderr, "download", err)
				fmt.Fprintln(stderr, "memenow-storage download: this server checks tokens, and files that are not public need one: pass --token or set MEMENOW_TOKEN")
				return cliExitFail
			}
		}
		return common.fail(stderr, "download", err)
	}
	if dest != "-" {
		fmt.Fprintln(stdout, dest)
	}
	return cliExitOK
}
