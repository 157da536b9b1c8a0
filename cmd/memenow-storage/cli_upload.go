package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"os"
	"path/filepath"
	"time"

	storage "github.com/memenow/memenow-storage"
	"github.com/memenow/memenow-storage/client"
)

// uploadDoc is the -h text of upload.
var uploadDoc = cliDoc{
	usage: "upload FILE [--user-id ID --user-role creator|member|subscriber] [flags]",
	about: "Upload FILE in parallel chunks. At the end the upload id and a ready-to-use\n" +
		"URL of the file go to stderr and the stored file's key to stdout (only the key\n" +
		"with --quiet). Run the same command again to resume an interrupted upload.\n" +
		"With a token (--token or MEMENOW_TOKEN) the owner comes from the token and\n" +
		"--user-id/--user-role may be left out; without one they are required.\n" +
		"Sizes are bytes or take a unit, in any case: KB, MB, GB (powers of 1000) or\n" +
		"KiB, MiB, GiB (powers of 1024).",
	examples: []string{
		"memenow-storage upload clip.mp4 --user-id alice --user-role creator",
		"MEMENOW_TOKEN=... memenow-storage upload clip.mp4 --public --chunk-size 95MiB",
	},
}

// runUpload is the upload subcommand: it uploads FILE in parallel chunks,
// prints the upload id and the file's URL on stderr (unless --quiet) and
// the stored file's key on stdout, and resumes an interrupted upload
// of the same unchanged file when run again. args are the arguments after
// "upload".
func runUpload(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs, common := cliFlagSet("upload", uploadDoc, getenv, stderr)
	userID := fs.String("user-id", "", "owner of the upload: 1 to 64 of A-Z a-z 0-9 _ - (required without a token)")
	role := fs.String("user-role", "", "role of the owner: creator, member or subscriber (required without a token)")
	contentType := fs.String("content-type", "", "MIME type (default: guessed from the file's extension)")
	parallel := fs.Int("parallel", client.DefaultParallel, "chunks sent at once")
	chunkSize := fs.String("chunk-size", "", "chunk size to ask the server for, 5MiB to 5GiB, e.g. 8MiB or 95mib (default: the server's)")
	retries := fs.Int("retries", client.DefaultMaxRetries, "retries of a failed request before giving up (0: none)")
	restart := fs.Bool("restart", false, "start a new upload instead of resuming an interrupted one")
	public := fs.Bool("public", false, "let anyone read the file without a token (default: private to its owner)")
	common.addQuiet(fs, "print only the key: no progress, retries or notes")
	pos, code, ok := common.parse(fs, args)
	if !ok {
		return code
	}
	_, validRole := storage.ParseRole(*role)
	switch {
	case len(pos) != 1:
		return cliUsageError(fs, stderr, "expected one FILE, got %d arguments", len(pos))
	case *userID == "" && common.bearer() == "":
		return cliUsageError(fs, stderr, "--user-id is required (or a token that names the user: --token or MEMENOW_TOKEN)")
	case *role == "" && common.bearer() == "":
		return cliUsageError(fs, stderr, "--user-role is required (or a token that names the user: --token or MEMENOW_TOKEN)")
	case *userID != "" && !storage.ValidUserID(*userID):
		return cliUsageError(fs, stderr, "--user-id %q: use 1 to 64 of A-Z, a-z, 0-9, _ and -", *userID)
	case *role != "" && !validRole:
		return cliUsageError(fs, stderr, "--user-role %q: use creator, member or subscriber", *role)
	case *parallel < 1:
		return cliUsageError(fs, stderr, "--parallel must be at least 1")
	case *retries < 0:
		return cliUsageError(fs, stderr, "--retries must not be negative")
	}
	var chunk int64
	if *chunkSize != "" {
		n, err := parseSize(*chunkSize)
		if err != nil {
			return cliUsageError(fs, stderr, "--chunk-size: %v", err)
		}
		if n < storage.MinChunkSize || n > storage.MaxChunkSize {
			return cliUsageError(fs, stderr, "--chunk-size %s is %d bytes: it must be between 5MiB and 5GiB", *chunkSize, n)
		}
		chunk = n
	}

	visibility := ""
	if *public {
		visibility = client.VisibilityPublic
	}
	c := common.client()
	c.Retry.MaxRetries = *retries
	if *retries == 0 {
		c.Retry.MaxRetries = -1
	}
	f, err := os.Open(pos[0])
	if err != nil {
		return cliFail(stderr, "upload", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return cliFail(stderr, "upload", err)
	}
	if !fi.Mode().IsRegular() {
		return cliFail(stderr, "upload", fmt.Errorf("%s is not a regular file", pos[0]))
	}
	ct := *contentType
	if ct == "" {
		ct = mime.TypeByExtension(filepath.Ext(fi.Name()))
	}

	// The owner the resume state is kept under: the flags, else the token's.
	owner, ownerRole := *userID, *role
	if owner == "" || ownerRole == "" {
		me, err := c.Me(ctx)
		if err != nil {
			return common.fail(stderr, "upload", err)
		}
		if !me.Auth {
			return cliUsageError(fs, stderr, "this server does not check tokens: --user-id and --user-role are required")
		}
		if me.UserID == "" {
			return cliFail(stderr, "upload", fmt.Errorf("the token (a %s credential) names no user: use a user's token", me.Actor))
		}
		if owner == "" {
			owner = me.UserID
		}
		if ownerRole == "" {
			ownerRole = me.UserRole
		}
	}

	states, err := newUploadStates(getenv)
	if err != nil {
		return cliFail(stderr, "upload", err)
	}
	id, err := uploadIdentity(pos[0], fi, common.server, owner, ownerRole)
	if err != nil {
		return cliFail(stderr, "upload", err)
	}
	resumeID := ""
	if st, err := states.load(id); err == nil && st.UploadID != "" {
		if *restart {
			// Free the abandoned upload's key and chunks; failing is harmless.
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			_, _ = c.Cancel(cctx, st.UploadID)
			cancel()
			_ = states.remove(id)
		} else {
			resumeID = st.UploadID
		}
	}

	progress := newCLIProgress(stderr, common.quiet, "uploading "+fi.Name())
	common.progress = progress
	if resumeID != "" && !common.quiet {
		fmt.Fprintf(stderr, "resuming upload %s\n", resumeID)
	}
	saved := resumeID
	res, err := c.Upload(ctx, f, fi.Size(), client.UploadOptions{
		FileName:      fi.Name(),
		UserID:        *userID,
		UserRole:      *role,
		ContentType:   ct,
		Visibility:    visibility,
		ChunkSize:     chunk,
		Parallel:      *parallel,
		ResumeID:      resumeID,
		RestartIfGone: true,
		Progress:      progress.update,
		OnInit: func(uploadID string) error {
			saved = uploadID
			if resumeID != "" && !common.quiet {
				fmt.Fprintf(stderr, "upload %s is gone on the server; started upload %s\n", resumeID, uploadID)
			}
			return states.save(id, uploadState{UploadID: uploadID, Server: common.server, File: id.path,
				Size: fi.Size(), ModTime: fi.ModTime(), UserID: owner, UserRole: ownerRole})
		},
	})
	progress.finish(err == nil)
	if err != nil {
		switch {
		case cliInterrupted(ctx, err):
			fmt.Fprintf(stderr, "memenow-storage upload: interrupted")
			if saved != "" {
				fmt.Fprintf(stderr, "; upload %s can be resumed: run the same command again", saved)
			}
			fmt.Fprintln(stderr)
			return cliExitFail
		case fi.Size() == 0 && saved == "" && storage.HasCode(err, storage.CodeInvalidField):
			fmt.Fprintf(stderr, "memenow-storage upload: %s is empty, and this server does not accept empty files (%s)\n",
				pos[0], cliDescribe(err))
			return cliExitFail
		case storage.HasCode(err, storage.CodeUploadNotFound), storage.HasCode(err, storage.CodeUploadCancelled):
			_ = states.remove(id)
		case saved != "":
			defer fmt.Fprintf(stderr, "upload %s can be resumed: run the same command again\n", saved)
		}
		return common.fail(stderr, "upload", err)
	}
	_ = states.remove(id)
	if !common.quiet {
		fmt.Fprintf(stderr, "uploaded %s (%s) as upload %s\nurl: %s\n", fi.Name(), cliBytes(res.Size), res.UploadID, c.FileURL(res.Key))
	}
	fmt.Fprintln(stdout, res.Key)
	return cliExitOK
}

// uploadState is what is remembered of an upload in progress, so that the
// same command resumes it.
type uploadState struct {
	UploadID string    `json:"upload_id"`
	Server   string    `json:"server"`
	File     string    `json:"file"`
	Size     int64     `json:"size"`
	ModTime  time.Time `json:"mod_time"`
	UserID   string    `json:"user_id"`
	UserRole string    `json:"user_role"`
}

// uploadID identifies one upload command: the file (absolute path, size and
// modification time), the server and the user.
type uploadID struct {
	path string
	hash string
}

func uploadIdentity(path string, fi os.FileInfo, server, userID, role string) (uploadID, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return uploadID{}, err
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%d\x00%d\x00%s\x00%s\x00%s", abs, fi.Size(), fi.ModTime().UnixNano(), server, userID, role)
	return uploadID{path: abs, hash: hex.EncodeToString(h.Sum(nil))[:32]}, nil
}

// uploadStates keeps uploadState files in a folder.
type uploadStates struct{ dir string }

func newUploadStates(getenv func(string) string) (*uploadStates, error) {
	base, err := cliCacheDir(getenv)
	if err != nil {
		return nil, err
	}
	return &uploadStates{dir: filepath.Join(base, "uploads")}, nil
}

func (s *uploadStates) path(id uploadID) string { return filepath.Join(s.dir, id.hash+".json") }

func (s *uploadStates) load(id uploadID) (uploadState, error) {
	var st uploadState
	b, err := os.ReadFile(s.path(id))
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("reading %s: %w", s.path(id), err)
	}
	return st, nil
}

// save writes st atomically: a temporary file, then a rename.
func (s *uploadStates) save(id uploadID, st uploadState) error {
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return fmt.Errorf("saving resume state: %w", err)
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(s.dir, id.hash+".*.tmp")
	if err != nil {
		return fmt.Errorf("saving resume state: %w", err)
	}
	_, werr := tmp.Write(append(b, '\n'))
	serr := tmp.Sync()
	cerr := tmp.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("saving resume state: %w", err)
	}
	if err := os.Rename(tmp.Name(), s.path(id)); err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("saving resume state: %w", err)
	}
	return nil
}

func (s *uploadStates) remove(id uploadID) error {
	err := os.Remove(s.path(id))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}
