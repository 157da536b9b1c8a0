// Package sqlite is the MetaStore on an SQLite file (modernc.org/sqlite,
// pure Go).
//
// The database runs in WAL mode with synchronous=FULL, so a committed chunk
// survives a crash. Writes go through a single connection that begins its
// transactions IMMEDIATE, reads through a separate pool, so parallel chunk
// requests queue in the process instead of failing with SQLITE_BUSY. Writes
// that queue up together share one commit (group commit), so concurrent
// requests do not wait for one fsync each. The
// schema lives in numbered files under migrations/, versioned with PRAGMA
// user_version and applied at Open.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"strings"

	msqlite "modernc.org/sqlite" // registers the "sqlite" driver
	sqlite3 "modernc.org/sqlite/lib"

	storage "github.com/memenow/memenow-storage"
)

var _ storage.MetaStore = (*Store)(nil)

// busyTimeoutMS is how long a connection waits for a lock held by another
// process (or another Store on the same file) before giving up.
const busyTimeoutMS = 10000

// Store is a MetaStore on one SQLite file. It is safe for concurrent use.
type Store struct {
	w      *sql.DB // the single writer
	writes *groupCommitter
	r      *sql.DB      // the reader pool
	file   fileIdentity // the database file opened (janitor.go)
}

// Open opens (creating if needed) the SQLite database at path and brings its
// schema up to date. It refuses a database whose schema is newer than this
// program knows. Open reads no table, so it is fast on a large database.
func Open(path string) (*Store, error) {
	ctx := context.Background()
	w, err := sql.Open("sqlite", dsn(path, "_txlock=immediate", "_pragma=journal_mode(WAL)"))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	if err := migrate(ctx, w); err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: %s: %w", path, err)
	}

	r, err := sql.Open("sqlite", dsn(path, "_query_only=1"))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	if err := r.PingContext(ctx); err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	return &Store{w: w, writes: newGroupCommitter(w), r: r, file: newFileIdentity(path)}, nil
}

// dsn builds a modernc.org/sqlite data source name for path with the
// settings every connection needs plus extra.
func dsn(path string, extra ...string) string {
	params := append([]string{
		fmt.Sprintf("_pragma=busy_timeout(%d)", busyTimeoutMS),
		"_pragma=foreign_keys(1)",
		"_pragma=synchronous(FULL)",
	}, extra...)
	// A "file:" URI keeps a '?' or '#' in the path from being read as the
	// start of the parameters.
	esc := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	return "file:" + esc + "?" + strings.Join(params, "&")
}

// Ping checks that the database answers a trivial query.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.r.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return dbError(err)
	}
	return nil
}

// Close closes both connection pools.
func (s *Store) Close() error {
	s.writes.close()
	rerr := s.r.Close()
	werr := s.w.Close()
	if werr != nil {
		return werr
	}
	return rerr
}

// dbError wraps a backend failure as CodeDatabase (CodeInsufficientStorage
// when SQLite cannot grow its file) with a message that shows no SQL; the
// cause stays available for logs.
func dbError(err error) error {
	var e *storage.Error
	if errors.As(err, &e) {
		return err
	}
	if sqliteCode(err)&0xff == sqliteFull {
		// The client must not retry blindly, and the operator sees why.
		return storage.Wrap(storage.CodeInsufficientStorage, err, "the database's disk is full")
	}
	return storage.Wrap(storage.CodeDatabase, err, "database error")
}

// sqliteFull is SQLite's primary result code SQLITE_FULL: the disk (or
// the database's size limit) is full.
const sqliteFull = 13

// sqliteCode returns the extended result code of a modernc.org/sqlite
// error, or 0.
func sqliteCode(err error) int {
	var e *msqlite.Error
	if errors.As(err, &e) {
		return e.Code()
	}
	return 0
}

// isUniqueViolation reports whether err is a UNIQUE index violation (not a
// PRIMARY KEY one).
func isUniqueViolation(err error) bool {
	return sqliteCode(err) == sqlite3.SQLITE_CONSTRAINT_UNIQUE
}
