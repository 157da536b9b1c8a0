package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	storage "github.com/memenow/memenow-storage"
	"github.com/memenow/memenow-storage/client"
)

// downloadDoc is the -h text of download.
var downloadDoc = cliDoc{
	usage: "download KEY [-o FILE|DIR|-] [--force] [flags]",
	about: "Save the stored file at KEY (to the key's last segment in the working folder,\n" +
		"or as -o says: a file, a folder to save it in, or - for stdout), resuming an\n" +
		"interrupted download from FILE.part, and print the saved path. An existing\n" +
		"FILE is never replaced unless --force is given. With auth on, files that are\n" +
		"not public need a token.",
	examples: []string{
		"memenow-storage download creator/alice/20240112/video/clip.mp4",
		"memenow-storage download creator/alice/20240112/video/clip.mp4 -o - | mpv -",
	},
}

// runDownload is the download subcommand: it saves the file at KEY (to the
// key's base name unless -o says otherwise, "-" meaning stdout), resuming
// an interrupted download from its FILE.part, and prints the saved path on
// stdout. An existing destination is refused (exit 1) unless --force. args
// are the arguments after "download".
func runDownload(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs, common := cliFlagSet("download", downloadDoc, getenv, stderr)
	out := fs.String("o", "", "output file, a folder to save it in, or - for stdout (default: the key's last segment)")
	force := fs.Bool("force", false, "replace an existing output file")
	common.addQuiet(fs, "print no progress, retries or notes")
	pos, code, ok := common.parse(fs, args)
	if !ok {
		return code
	}
	if len(pos) != 1 || pos[0] == "" {
		return cliUsageError(fs, stderr, "expected one KEY, got %d arguments", len(pos))
	}
	key := pos[0]
	base := path.Base(key)
	if base == "." || base == "/" || base == ".." {
		base = ""
	}
	dest := *out
	if dest != "-" {
		if fi, err := os.Stat(dest); dest == "" || strings.HasSuffix(dest, "/") || (err == nil && fi.IsDir()) {
			if base == "" {
				return cliUsageError(fs, stderr, "cannot name a file after key %q; use -o FILE", key)
			}
			dest = filepath.Join(dest, base)
		}
		if _, err := os.Lstat(dest); err == nil && !*force {
			fmt.Fprintf(stderr, "memenow-storage download: %s already exists: pass --force to replace it, or -o to save elsewhere\n", dest)
			return cliExitFail
		}
	}
	c := common.client()
	progress := newCLIProgress(stderr, common.quiet || dest == "-", "downloading "+path.Base(key))
	common.progress = progress
	opts := client.DownloadOptions{Progress: progress.update, NoOverwrite: !*force}
	var err error
	if dest == "-" {
		_, err = c.DownloadWith(ctx, key, stdout, opts)
	} else {
		_, err = c.DownloadFile(ctx, key, dest, opts)
	}
	progress.finish(err == nil)
	if err != nil {
		if errors.Is(err, iofs.ErrExist) {
			fmt.Fprintf(stderr, "memenow-storage download: %s appeared while downloading: pass --force to replace it; %s.part keeps the file\n", dest, dest)
			return cliExitFail
		}
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
