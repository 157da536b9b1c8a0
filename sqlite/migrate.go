package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/memenow/memenow-storage/internal/migration"
	"github.com/memenow/memenow-storage/sqlite/migrations"
)

// migrate brings the schema of db up to the newest embedded migration in one
// IMMEDIATE transaction. It reads only PRAGMA user_version when the schema is
// current, and refuses a database newer than the embedded migrations.
func migrate(ctx context.Context, db *sql.DB) error {
	ms, err := migration.Load(migrations.Files)
	if err != nil {
		return err
	}
	tx, err := db.BeginTx(ctx, nil) // IMMEDIATE: db has _txlock=immediate
	if err != nil {
		return fmt.Errorf("begin migration: %w", err)
	}
	defer tx.Rollback()
	var current int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&current); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	known := len(ms)
	if current > known {
		return fmt.Errorf("database schema version %d is newer than this program knows (%d); use a newer memenow-storage", current, known)
	}
	if current == known {
		return nil
	}
	for _, m := range ms[current:] {
		if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
			return fmt.Errorf("migration %s: %w", m.Name, err)
		}
	}
	// PRAGMA takes no parameters; known is an int from this program.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", known)); err != nil {
		return fmt.Errorf("set schema version: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit migration: %w", err)
	}
	return nil
}
