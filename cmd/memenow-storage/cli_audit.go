package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	storage "github.com/memenow/memenow-storage"
	"github.com/memenow/memenow-storage/httpapi"
	"github.com/memenow/memenow-storage/postgres"
	"github.com/memenow/memenow-storage/sqlite"
)

// auditDoc is the -h text of audit.
var auditDoc = cliDoc{
	usage: "audit [--since DURATION|TIME] [--user ID] [--action ACTION] [--limit N] [--json] [--database URL | --data-dir DIR] [--config FILE]",
	about: "Print the audit log, newest first: who did what, from where, to which upload\n" +
		"or file, and how it ended. It reads the metadata database directly, found as\n" +
		"serve and migrate find it (--database, else MEMENOW_DATABASE, else the config\n" +
		"file, else sqlite:DATA_DIR/memenow.db). --since takes a duration back from\n" +
		"now (24h, 7d) or an RFC 3339 time. Actions: " + strings.Join(storage.AuditActions, ", ") + ".",
	examples: []string{
		"memenow-storage audit --since 24h",
		"memenow-storage audit --user user123 --action download --json",
		"memenow-storage audit --database postgres://memenow:secret@db.internal:5432/memenow --action auth_failure --limit 100",
	},
}

// runAudit prints the audit log from the database.
func runAudit(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("audit", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { cliPrintUsage(stderr, fs, auditDoc) }
	values := map[string]*string{}
	var settings []setting
	for _, s := range serveSettings() {
		if slices.Contains([]string{"database", "data-dir"}, s.name) {
			settings = append(settings, s)
			values[s.name] = fs.String(s.name, s.def, s.usage+" (env "+envName(s.name)+")")
		}
	}
	configFile := fs.String("config", "", "serve's JSON config file, whose database and data_dir keys are used (env MEMENOW_CONFIG)")
	since := fs.String("since", "", "only events since this long ago (24h, 7d) or since an RFC 3339 time")
	user := fs.String("user", "", "only the events of this user id (the actor)")
	action := fs.String("action", "", "only events of this action")
	limit := fs.Int("limit", 100, "the most events printed (1 to 1000)")
	asJSON := fs.Bool("json", false, "print JSON lines, one event each, instead of a table")
	pos, code, ok := cliParse(fs, args)
	if !ok {
		return code
	}
	if len(pos) != 0 {
		return cliUsageError(fs, stderr, "unexpected argument %q", pos[0])
	}
	q := storage.AuditQuery{UserID: *user, Action: *action, Limit: *limit}
	if *limit < 1 || *limit > storage.MaxListLimit {
		return cliUsageError(fs, stderr, "--limit must be between 1 and %d", storage.MaxListLimit)
	}
	if *action != "" && !slices.Contains(storage.AuditActions, *action) {
		return cliUsageError(fs, stderr, "--action must be one of %s", strings.Join(storage.AuditActions, ", "))
	}
	if *since != "" {
		if d, err := parseDuration(*since); err == nil {
			q.Since = time.Now().Add(-d)
		} else if t, terr := time.Parse(time.RFC3339Nano, *since); terr == nil {
			q.Since = t
		} else {
			return cliUsageError(fs, stderr, "--since must be a duration (24h, 7d) or an RFC 3339 time, got %q", *since)
		}
	}
	setByFlag := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { setByFlag[f.Name] = true })
	cfg, _, err := resolveSettings(settings, func(name string) (string, bool) {
		return *values[name], setByFlag[name]
	}, *configFile, setByFlag["config"], getenv)
	if err != nil {
		fmt.Fprintf(stderr, "memenow-storage audit: %v\n", err)
		return exitUsage
	}
	meta, err := openAuditMeta(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "memenow-storage audit: %s: %v\n", describeDatabase(cfg), err)
		return exitFailure
	}
	defer meta.Close()
	events, err := meta.ListAudit(ctx, q)
	if err != nil {
		fmt.Fprintf(stderr, "memenow-storage audit: %s: %v\n", describeDatabase(cfg), err)
		return exitFailure
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		for _, e := range events {
			if err := enc.Encode(httpapi.AuditJSONOf(e)); err != nil {
				return exitFailure
			}
		}
		return exitOK
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tACTION\tOUTCOME\tACTOR\tUSER\tCLIENT IP\tUPLOAD\tKEY\tBYTES\tREQUEST")
	for _, e := range events {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", e.Time.UTC().Format("2006-01-02T15:04:05.000Z"),
			e.Action, e.Outcome, e.Actor, dash(e.ActorID), dash(e.ClientIP), dash(e.UploadID), dash(e.Key), e.Bytes, dash(e.RequestID))
	}
	if err := tw.Flush(); err != nil {
		return exitFailure
	}
	return exitOK
}

// dash shows an empty field as "-".
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return strings.Map(func(r rune) rune { // a table cell: no control characters
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}

// openAuditMeta opens the database for reading the audit log; a missing
// SQLite file is an error, not a new database.
func openAuditMeta(ctx context.Context, cfg *serveConfig) (storage.MetaStore, error) {
	if isPostgres(cfg.Database) {
		return postgres.Open(ctx, cfg.Database)
	}
	path := sqlitePath(cfg)
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("no database at %s (give --database or --data-dir): %v", path, err)
	}
	return sqlite.Open(path)
}
