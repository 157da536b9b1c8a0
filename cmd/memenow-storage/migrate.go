package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/memenow/memenow-storage/postgres"
	"github.com/memenow/memenow-storage/sqlite"
)

// runMigrate applies the schema migrations of the configured database and
// exits. serve migrates at start-up too; this command lets an operator do it
// ahead of a rolling deploy.
func runMigrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	database := fs.String("database", "", "database to migrate: sqlite:PATH or postgres://… (env MEMENOW_DATABASE)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	url := *database
	if url == "" {
		url = getenv("MEMENOW_DATABASE")
	}
	var err error
	switch {
	case isPostgres(url):
		err = postgres.Migrate(ctx, url)
	case strings.HasPrefix(url, "sqlite:") && url != "sqlite:":
		var s *sqlite.Store
		if s, err = sqlite.Open(strings.TrimPrefix(url, "sqlite:")); err == nil { // Open migrates
			err = s.Close()
		}
	default:
		fmt.Fprintln(stderr, "memenow-storage migrate: --database must be sqlite:PATH or postgres://…")
		return exitUsage
	}
	if err != nil {
		fmt.Fprintf(stderr, "memenow-storage migrate: %v\n", err)
		return exitFailure
	}
	fmt.Fprintf(stdout, "migrated %s\n", redactPassword(url))
	return exitOK
}
