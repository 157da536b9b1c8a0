package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/memenow/memenow-storage/client"
)

// listDoc is the -h text of list.
var listDoc = cliDoc{
	usage: "list [--status STATUS] [--limit N] [--all] [--user ID] [--json] [flags]",
	about: "List your uploads, newest first, as a table: created (UTC), status, size, key\n" +
		"(or file name while unfinished) and upload id. One page unless --all; an\n" +
		"administrator's token may list another user's uploads with --user.",
	examples: []string{
		"memenow-storage list",
		"memenow-storage list --status completed --all",
		"memenow-storage list --user alice --json",
	},
}

// runList is the list subcommand. args are the arguments after "list".
func runList(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs, common := cliFlagSet("list", listDoc, getenv, stderr)
	status := fs.String("status", "", "only uploads in this state: initiated, in_progress, completed, cancelled, deleted, ...")
	limit := fs.Int("limit", 0, "uploads per page, 1 to 1000 (default: the server's, 50)")
	all := fs.Bool("all", false, "follow the pages to the end instead of printing one")
	cursor := fs.String("cursor", "", "start at this page (the next_cursor of an earlier listing)")
	user := fs.String("user", "", "list this user's uploads (administrators only)")
	asJSON := fs.Bool("json", false, "print the uploads as JSON instead of a table")
	common.addQuiet(fs, "print no notes (\"no uploads\", the hint at more pages)")
	pos, code, ok := common.parse(fs, args)
	if !ok {
		return code
	}
	switch {
	case len(pos) != 0:
		return cliUsageError(fs, stderr, "unexpected argument %q", pos[0])
	case *limit < 0 || *limit > 1000:
		return cliUsageError(fs, stderr, "--limit must be between 1 and 1000")
	}
	c := common.client()
	opts := client.ListOptions{Status: *status, Limit: *limit, Cursor: *cursor, UserID: *user}
	var uploads []client.UploadInfo
	next := ""
	for {
		page, err := c.List(ctx, opts)
		if err != nil {
			return common.fail(stderr, "list", err)
		}
		uploads = append(uploads, page.Uploads...)
		next = page.NextCursor
		if !*all || next == "" {
			break
		}
		if next == opts.Cursor {
			return cliFail(stderr, "list", fmt.Errorf("the server sent the same cursor twice"))
		}
		opts.Cursor = next
	}
	if *asJSON {
		if uploads == nil {
			uploads = []client.UploadInfo{}
		}
		return cliPrintJSON(stdout, stderr, "list", client.ListPage{Uploads: uploads, NextCursor: next})
	}
	if len(uploads) == 0 {
		if !common.quiet {
			fmt.Fprintln(stderr, "no uploads")
		}
		return cliExitOK
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CREATED\tSTATUS\tSIZE\tKEY / FILE NAME\tUPLOAD ID")
	for _, u := range uploads {
		name := u.Key
		if name == "" {
			name = u.FileName
		}
		status := u.Status
		if (status == "initiated" || status == "in_progress") && u.TotalChunks > 0 {
			status += fmt.Sprintf(" %d/%d", u.ChunksUploaded, u.TotalChunks)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", cliTime(u.CreatedAt), status, cliBytes(u.TotalSize), name, u.UploadID)
	}
	if err := tw.Flush(); err != nil {
		return cliFail(stderr, "list", err)
	}
	if next != "" && !common.quiet {
		fmt.Fprintf(stderr, "more uploads: run with --all, or with --cursor %s\n", next)
	}
	return cliExitOK
}

// cliTime shows an RFC 3339 time from the server as "2006-01-02 15:04:05"
// in UTC, or as sent when it does not parse.
func cliTime(s string) string {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return s
	}
	return t.UTC().Format(time.DateTime)
}
