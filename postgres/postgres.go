// Package postgres is the MetaStore on PostgreSQL (github.com/jackc/pgx/v5),
// for running many stateless instances on one database.
//
// Every state change is a single-statement compare-and-set
// (UPDATE … WHERE id = $1 AND status = ANY($2)) or a short transaction that
// first locks the upload's row (SELECT … FOR UPDATE), so any instance can
// take any request. The key reservation is a partial unique index, so it
// holds across instances. The schema lives in numbered files under
// migrations/, recorded in schema_migrations and applied at Open under an
// advisory lock.
//
// The connection pool recovers by itself when the database comes back after
// an outage: requests made while it is down fail with CodeDatabase, and the
// first failure that looks like a lost connection drops every pooled
// connection, so the requests after its return get fresh ones.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	storage "github.com/memenow/memenow-storage"
)

var _ storage.MetaStore = (*Store)(nil)

const (
	// pingTimeout bounds Ping, so that /health answers quickly while the
	// database is unreachable.
	pingTimeout = 2 * time.Second
	// defaultConnectTimeout bounds a new connection when the URL sets no
	// connect_timeout.
	defaultConnectTimeout = 5 * time.Second
	// defaultMaxConns is the least pool size when the URL sets no
	// pool_max_conns; three instances use 48 of PostgreSQL's default 100.
	defaultMaxConns = 16
	// keyIndex is the partial unique index that reserves keys.
	keyIndex = "uploads_r2_key_reserved"
	// uniqueViolation is PostgreSQL's SQLSTATE for a unique constraint violation.
	uniqueViolation = "23505"
)

// Store is a MetaStore on a PostgreSQL connection pool. It is safe for
// concurrent use, also by many processes on one database.
type Store struct {
	pool *pgxpool.Pool
}

// Open connects to the database at url (a postgres:// URL or a key=value
// connection string; pool_max_conns and the other pgxpool settings are
// honoured, and the pool holds at least 16 connections when it sets none) and brings its schema up to date under an advisory lock, so
// several instances may start at once. It refuses a database whose schema
// is newer than this program knows.
func Open(ctx context.Context, url string) (*Store, error) {
	cfg, err := parseConfig(url)
	if err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return &Store{pool: pool}, nil
}

// parseConfig parses url into a pool configuration with the store's
// defaults. pgx hides the password in its parse errors.
func parseConfig(url string) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = defaultConnectTimeout
	}
	if !strings.Contains(url, "pool_max_conns") {
		// pgxpool's default, max(4, NumCPU), is small for a server whose
		// every chunk request holds a connection for a few statements.
		cfg.MaxConns = int32(max(defaultMaxConns, 4*runtime.GOMAXPROCS(0)))
	}
	return cfg, nil
}

// Ping checks that the database answers a trivial query within a short
// timeout. Errors: CodeDatabase.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	var one int
	if err := s.pool.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
		return s.dbError(ctx, err)
	}
	return nil
}

// Close closes the connection pool.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// dbError wraps a backend failure as CodeDatabase with a message that shows
// no SQL; the cause stays available for logs. *storage.Error values pass
// through. When err looks like a lost connection, the pool drops its
// connections, so that none left over from before an outage is used again.
func (s *Store) dbError(ctx context.Context, err error) error {
	var e *storage.Error
	if errors.As(err, &e) {
		return err
	}
	if connectionLost(ctx, err) {
		s.pool.Reset()
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "53100" { // disk_full
		return storage.Wrap(storage.CodeInsufficientStorage, err, "the database server is out of space")
	}
	return storage.Wrap(storage.CodeDatabase, err, "database error")
}

// connectionLost reports whether err is a failure of the connection rather
// than of a statement, so that the pool should drop its connections: a
// PostgreSQL error of severity FATAL or PANIC or of SQLSTATE class 08
// (connection exception), a failure to connect (*pgconn.ConnectError), a
// network error, or the connection's stream ending (io.EOF,
// io.ErrUnexpectedEOF). Anything else (a statement's error, a row that does
// not scan, the caller's own cancellation) leaves the pool alone: one bad
// row must not drop every connection.
func connectionLost(ctx context.Context, err error) bool {
	if err == nil || ctx.Err() != nil {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Severity == "FATAL" || pgErr.Severity == "PANIC" || strings.HasPrefix(pgErr.Code, "08")
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	switch {
	case errors.As(err, &connectErr), errors.As(err, &netErr):
		return true
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return true
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.EPIPE):
		return true
	}
	return false
}

// isKeyTaken reports whether err violates the key reservation index.
func isKeyTaken(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == uniqueViolation && pgErr.ConstraintName == keyIndex
}
