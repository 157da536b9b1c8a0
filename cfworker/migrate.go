package cfworker

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/memenow/memenow-storage/internal/migration"
	"github.com/memenow/memenow-storage/sqlite/migrations"
)

// Migration is one schema file and its statements.
type Migration struct {
	Name       string // e.g. "0001_init.sql", as wrangler records it
	Statements []string
}

// Migrations returns the SQLite store's migrations in order, split into
// statements: D1 is SQLite.
func Migrations() ([]Migration, error) {
	ms, err := migration.Load(migrations.Files)
	if err != nil {
		return nil, err
	}
	out := make([]Migration, len(ms))
	for i, m := range ms {
		out[i] = Migration{Name: m.Name, Statements: SplitSQL(m.SQL)}
	}
	return out, nil
}

// SplitSQL splits a file of SQL statements at the semicolons outside
// quotes, dropping "--" comments and empty statements.
func SplitSQL(src string) []string {
	var out []string
	var b strings.Builder
	var quote byte
	for i := 0; i < len(src); i++ {
		c := src[i]
		switch {
		case quote != 0:
			b.WriteByte(c)
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
			b.WriteByte(c)
		case c == '-' && i+1 < len(src) && src[i+1] == '-':
			for i < len(src) && src[i] != '\n' {
				i++
			}
			b.WriteByte('\n')
		case c == ';':
			if s := strings.TrimSpace(b.String()); s != "" {
				out = append(out, s)
			}
			b.Reset()
		default:
			b.WriteByte(c)
		}
	}
	if s := strings.TrimSpace(b.String()); s != "" {
		out = append(out, s)
	}
	return out
}

// migrationsTable is wrangler's own table, so that `wrangler d1 migrations
// apply` (with migrations_dir pointing at the same files) and this code
// agree on what has been applied.
const migrationsTable = `CREATE TABLE IF NOT EXISTS d1_migrations(
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	name       TEXT UNIQUE,
	applied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP NOT NULL
)`

// Migrate applies the migrations the database lacks, each in one batch
// with its row in d1_migrations. A concurrent migration by another isolate
// makes a batch fail; the applied names are then read again. After one
// success it does nothing.
func (s *MetaStore) Migrate(ctx context.Context) error {
	if s.migrated.Load() {
		return nil
	}
	ms, err := Migrations()
	if err != nil {
		return err
	}
	if _, err := s.DB.Query(ctx, Statement{SQL: migrationsTable}); err != nil {
		return fmt.Errorf("create d1_migrations: %w", err)
	}
	applied, err := s.appliedMigrations(ctx)
	if err != nil {
		return err
	}
	for _, m := range ms {
		if slices.Contains(applied, m.Name) {
			continue
		}
		sts := make([]Statement, 0, len(m.Statements)+1)
		for _, sql := range m.Statements {
			sts = append(sts, Statement{SQL: sql})
		}
		sts = append(sts, Statement{SQL: `INSERT INTO d1_migrations (name) VALUES (?)`, Params: []any{m.Name}})
		if _, err := s.DB.Batch(ctx, sts); err != nil {
			again, rerr := s.appliedMigrations(ctx)
			if rerr != nil || !slices.Contains(again, m.Name) {
				return fmt.Errorf("migration %s: %w", m.Name, err)
			}
		}
	}
	s.migrated.Store(true)
	return nil
}

func (s *MetaStore) appliedMigrations(ctx context.Context) ([]string, error) {
	res, err := s.DB.Query(ctx, Statement{SQL: `SELECT name FROM d1_migrations ORDER BY id`})
	if err != nil {
		return nil, fmt.Errorf("read d1_migrations: %w", err)
	}
	var names []string
	for _, row := range res.Rows {
		names = append(names, rowReader(row).str("name"))
	}
	return names, nil
}
