package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/memenow/memenow-storage/internal/migration"
	"github.com/memenow/memenow-storage/postgres/migrations"
)

// migrationLockKey is the key of the transaction-level advisory lock under
// which migrations run, so that instances starting at once apply each
// migration exactly once. It is the ASCII of "memenow\x01".
const migrationLockKey int64 = 0x6d656d656e6f7701

// Migrate brings the schema of the database at url up to the newest embedded
// migration and returns. Open does the same; Migrate is for running it as a
// separate step (memenow-storage migrate).
func Migrate(ctx context.Context, url string) error {
	cfg, err := parseConfig(url)
	if err != nil {
		return err
	}
	cfg.MaxConns = 1
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	defer pool.Close()
	if err := migrate(ctx, pool); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	return nil
}

// migrate applies the missing migrations in one transaction that first takes
// an advisory lock, so concurrent callers queue and each migration runs
// once. The versions applied are rows of schema_migrations. It refuses a
// database whose schema is newer than the embedded migrations.
func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	ms, err := migration.Load(migrations.Files)
	if err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", migrationLockKey); err != nil {
			return fmt.Errorf("take the migration lock: %w", err)
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    INTEGER     NOT NULL PRIMARY KEY,
			name       TEXT        NOT NULL,
			applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
		)`); err != nil {
			return fmt.Errorf("create schema_migrations: %w", err)
		}
		var current int
		if err := tx.QueryRow(ctx, "SELECT COALESCE(max(version), 0) FROM schema_migrations").Scan(&current); err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
		if current > len(ms) {
			return fmt.Errorf("database schema version %d is newer than this program knows (%d); use a newer memenow-storage", current, len(ms))
		}
		for _, m := range ms[current:] {
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return fmt.Errorf("migration %s: %w", m.Name, err)
			}
			if _, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", m.Version, m.Name); err != nil {
				return fmt.Errorf("record migration %s: %w", m.Name, err)
			}
		}
		return nil
	})
}
