package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	storage "github.com/memenow/memenow-storage"
	"github.com/memenow/memenow-storage/client"
)

// statusDoc is the -h text of status.
var statusDoc = cliDoc{
	usage: "status UPLOAD_ID [--json] [flags]",
	about: "Show the state of an upload: its file, state, chunks stored of all, bytes,\n" +
		"the chunks still missing (as ranges, e.g. 3-7,9), its expiry when the server\n" +
		"sets one, and once completed its key and a ready-to-use URL. --json prints\n" +
		"the server's status instead, with the list of stored chunks.",
	examples: []string{
		"memenow-storage status 1641987000000-550e8400-e29b-41d4-a716-446655440000",
		"memenow-storage status 1641987000000-550e8400-e29b-41d4-a716-446655440000 --json | jq .chunks_uploaded",
	},
}

// runStatus is the status subcommand: it prints a summary of upload ID, or
// its status as JSON with --json. args are the arguments after "status".
func runStatus(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs, common := cliFlagSet("status", statusDoc, getenv, stderr)
	asJSON := fs.Bool("json", false, "print the server's status as JSON")
	pos, code, ok := common.parse(fs, args)
	if !ok {
		return code
	}
	if len(pos) != 1 || pos[0] == "" {
		return cliUsageError(fs, stderr, "expected one UPLOAD_ID, got %d arguments", len(pos))
	}
	c := common.client()
	st, err := c.Status(ctx, pos[0])
	if err != nil {
		return common.fail(stderr, "status", err)
	}
	if *asJSON {
		return cliPrintJSON(stdout, stderr, "status", st)
	}
	if err := printStatus(stdout, c, st, time.Now()); err != nil {
		return cliFail(stderr, "status", err)
	}
	return cliExitOK
}

// printStatus writes the summary of st, as of now, one "label value" line
// per fact.
func printStatus(w io.Writer, c *client.Client, st *client.UploadStatus, now time.Time) error {
	var b strings.Builder
	line := func(label, format string, args ...any) {
		fmt.Fprintf(&b, "%-8s %s\n", label, fmt.Sprintf(format, args...))
	}
	line("upload", "%s", st.UploadID)
	file := st.FileName
	if st.ContentType != "" {
		file += ", " + st.ContentType
	}
	line("file", "%s", file)
	line("owner", "%s (%s)", st.UserID, st.UserRole)
	line("state", "%s", st.Status)
	line("chunks", "%d/%d stored (%s each)", st.ChunksUploaded, st.TotalChunks, cliBytes(st.ChunkSize))
	pct := int64(100)
	if st.TotalSize > 0 {
		pct = st.BytesUploaded * 100 / st.TotalSize
	}
	line("bytes", "%s of %s (%d%%)", cliBytes(st.BytesUploaded), cliBytes(st.TotalSize), pct)
	if open := st.Status == string(storage.StatusInitiated) || st.Status == string(storage.StatusInProgress); open && st.ChunksUploaded < st.TotalChunks {
		line("missing", "%s", cliMissingRanges(st.Chunks, st.TotalChunks, 20))
	}
	if st.Key != "" {
		line("key", "%s", st.Key)
		line("url", "%s", c.FileURL(st.Key))
	}
	if st.ExpiresAt != "" {
		line("expires", "%s", cliWhen(st.ExpiresAt, now))
	}
	line("created", "%s UTC", cliTime(st.CreatedAt))
	line("updated", "%s UTC", cliTime(st.UpdatedAt))
	_, err := io.WriteString(w, b.String())
	return err
}

// cliWhen shows an RFC 3339 time from the server in UTC with how far it is
// from now ("2024-01-13 10:30:00 UTC, in 23h59m"), or as sent when it does
// not parse.
func cliWhen(s string, now time.Time) string {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return s
	}
	d := t.Sub(now).Round(time.Minute)
	rel := "in " + cliSpan(d)
	if d < 0 {
		rel = cliSpan(-d) + " ago"
	}
	return fmt.Sprintf("%s UTC, %s", t.UTC().Format(time.DateTime), rel)
}

// cliSpan formats a duration of minutes or more as 3d4h, 23h59m or 5m.
func cliSpan(d time.Duration) string {
	days, hours, mins := int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour), int(d%time.Hour/time.Minute)
	switch {
	case days > 0:
		return fmt.Sprintf("%dd%dh", days, hours)
	case hours > 0:
		return fmt.Sprintf("%dh%dm", hours, mins)
	}
	return fmt.Sprintf("%dm", mins)
}

// cliMissingRanges lists the chunk indices in [0, total) that are not in
// have, compacted into ranges ("3-7,9"); after maxRanges ranges it stops and says
// how many chunks are missing in all.
func cliMissingRanges(have []int, total, maxRanges int) string {
	stored := make([]bool, total)
	for _, i := range have {
		if i >= 0 && i < total {
			stored[i] = true
		}
	}
	var parts []string
	missing, ranges := 0, 0
	for i := 0; i < total; {
		if stored[i] {
			i++
			continue
		}
		j := i
		for j+1 < total && !stored[j+1] {
			j++
		}
		missing += j - i + 1
		ranges++
		if ranges <= maxRanges {
			if j == i {
				parts = append(parts, strconv.Itoa(i))
			} else {
				parts = append(parts, fmt.Sprintf("%d-%d", i, j))
			}
		}
		i = j + 1
	}
	s := strings.Join(parts, ",")
	if ranges > maxRanges {
		s += fmt.Sprintf(",… (%d chunks in %d ranges)", missing, ranges)
	}
	return s
}

// cancelDoc is the -h text of cancel.
var cancelDoc = cliDoc{
	usage: "cancel UPLOAD_ID [flags]",
	about: "Abandon an unfinished upload: its chunks and reserved key are freed, and the\n" +
		"resume state kept for it on this machine is forgotten, so that the next\n" +
		"upload of the same file starts afresh. Prints the server's answer as JSON.\n" +
		"Cancelling an upload that is already cancelled succeeds too.",
	examples: []string{"memenow-storage cancel 1641987000000-550e8400-e29b-41d4-a716-446655440000"},
}

// runCancel is the cancel subcommand: it cancels upload ID, forgets the
// local resume state that points at it, and prints the server's answer as
// JSON; an upload already cancelled counts as cancelled now. args are the
// arguments after "cancel".
func runCancel(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs, common := cliFlagSet("cancel", cancelDoc, getenv, stderr)
	pos, code, ok := common.parse(fs, args)
	if !ok {
		return code
	}
	if len(pos) != 1 || pos[0] == "" {
		return cliUsageError(fs, stderr, "expected one UPLOAD_ID, got %d arguments", len(pos))
	}
	res, err := common.client().Cancel(ctx, pos[0])
	if err == nil || storage.HasCode(err, storage.CodeUploadCancelled) || storage.HasCode(err, storage.CodeUploadNotFound) {
		// Nothing is left to resume: forget it, so that the next upload
		// of the file does not try.
		if states, serr := newUploadStates(getenv); serr == nil {
			for _, file := range states.forget(pos[0]) {
				fmt.Fprintf(stderr, "forgot the resume state of %s: its next upload starts afresh\n", file)
			}
		}
	}
	if storage.HasCode(err, storage.CodeUploadCancelled) {
		// Cancelling is idempotent: a repeat succeeds, with the same answer.
		fmt.Fprintf(stderr, "upload %s was already cancelled\n", pos[0])
		res, err = &client.CancelResponse{UploadID: pos[0], Status: string(storage.StatusCancelled)}, nil
	}
	if err != nil {
		return common.fail(stderr, "cancel", err)
	}
	return cliPrintJSON(stdout, stderr, "cancel", res)
}

// forget removes every resume state of upload uploadID and returns the
// files they were kept for.
func (s *uploadStates) forget(uploadID string) []string {
	paths, _ := filepath.Glob(filepath.Join(s.dir, "*.json"))
	var files []string
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		var st uploadState
		if json.Unmarshal(b, &st) != nil || st.UploadID != uploadID {
			continue
		}
		if os.Remove(p) == nil {
			files = append(files, st.File)
		}
	}
	return files
}

// cliPrintJSON prints v as indented JSON.
func cliPrintJSON(stdout, stderr io.Writer, cmd string, v any) int {
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return cliFail(stderr, cmd, err)
	}
	return cliExitOK
}
