package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/memenow/memenow-storage/postgres"
	"github.com/memenow/memenow-storage/sqlite"
)

// migrateDoc is the -h text of migrate.
var migrateDoc = cliDoc{
	usage: "migrate [--database URL | --data-dir DIR] [--config FILE]",
	about: "Apply the schema migrations of the metadata database and exit; serve does\n" +
		"the same at start-up, so this is only needed ahead of a rolling deploy.\n" +
		"The database is found as serve finds it: --database, else MEMENOW_DATABASE,\n" +
		"else the config file's database key, else serve's default, the SQLite file\n" +
		"sqlite:DATA_DIR/memenow.db (DATA_DIR from --data-dir, MEMENOW_DATA_DIR or\n" +
		"the config file, default data).",
	examples: []string{
		"memenow-storage migrate --database postgres://memenow:secret@db.internal:5432/memenow",
		"memenow-storage migrate --data-dir /var/lib/memenow",
	},
}

// runMigrate applies the schema migrations of the configured database and
// exits. serve migrates at start-up too; this command lets an operator do it
// ahead of a rolling deploy. The database is resolved like serve's: flag >
// environment > config file > default (sqlite:DATA_DIR/memenow.db).
func runMigrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { cliPrintUsage(stderr, fs, migrateDoc) }
	var settings []setting
	values := map[string]*string{}
	for _, s := range serveSettings() {
		if slices.Contains([]string{"database", "data-dir"}, s.name) { // serve's settings that migrate uses
			settings = append(settings, s)
			values[s.name] = fs.String(s.name, s.def, s.usage+" (env "+envName(s.name)+")")
		}
	}
	configFile := fs.String("config", "", "serve's JSON config file, whose database and data_dir keys are used (env MEMENOW_CONFIG)")
	pos, code, ok := cliParse(fs, args)
	if !ok {
		return code
	}
	if len(pos) != 0 {
		return cliUsageError(fs, stderr, "unexpected argument %q", pos[0])
	}
	setByFlag := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { setByFlag[f.Name] = true })
	cfg, source, err := resolveSettings(settings, func(name string) (string, bool) {
		return *values[name], setByFlag[name]
	}, *configFile, setByFlag["config"], getenv)
	if err != nil {
		return cliUsageError(fs, stderr, "%v", err)
	}

	target := describeDatabase(cfg)
	if isPostgres(cfg.Database) {
		err = postgres.Migrate(ctx, cfg.Database)
	} else {
		if cfg.Database == "" {
			fmt.Fprintf(stderr, "memenow-storage migrate: no --database given: migrating serve's default, %s (data dir %q from %s)\n",
				target, cfg.DataDir, source["data-dir"])
		}
		file := sqlitePath(cfg)
		if err = os.MkdirAll(filepath.Dir(file), 0o755); err == nil {
			var s *sqlite.Store
			if s, err = sqlite.Open(file); err == nil { // Open migrates
				err = s.Close()
			}
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "memenow-storage migrate: %s: %v\n", target, err)
		return exitFailure
	}
	fmt.Fprintf(stdout, "migrated %s\n", target)
	return exitOK
}
