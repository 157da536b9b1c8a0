package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	storage "github.com/memenow/memenow-storage"
)

// TestConnectionLostClassifies checks which errors count as a lost
// connection (the pool is reset) and which are a statement's own (it is
// not).
func TestConnectionLostClassifies(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		err  error
		want bool
	}{
		{"scan error", context.Background(), pgx.ScanArgError{ColumnIndex: 0, Err: errors.New("cannot scan text into *int")}, false},
		{"no rows", context.Background(), pgx.ErrNoRows, false},
		{"plain error", context.Background(), errors.New("some statement failed"), false},
		{"unique violation", context.Background(), &pgconn.PgError{Severity: "ERROR", Code: "23505"}, false},
		{"syntax error", context.Background(), &pgconn.PgError{Severity: "ERROR", Code: "42601"}, false},
		{"connection failure 08006", context.Background(), &pgconn.PgError{Severity: "ERROR", Code: "08006"}, true},
		{"admin shutdown FATAL", context.Background(), &pgconn.PgError{Severity: "FATAL", Code: "57P01"}, true},
		{"connect error", context.Background(), &pgconn.ConnectError{}, true},
		{"net error", context.Background(), &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}, true},
		{"wrapped unexpected EOF", context.Background(), fmt.Errorf("receive message: %w", io.ErrUnexpectedEOF), true},
		{"EOF", context.Background(), io.EOF, true},
		{"connection refused", context.Background(), fmt.Errorf("dial: %w", syscall.ECONNREFUSED), true},
		{"caller cancelled", cancelled, &net.OpError{Op: "read", Net: "tcp", Err: context.Canceled}, false},
		{"nil", context.Background(), nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := connectionLost(tt.ctx, tt.err); got != tt.want {
				t.Errorf("connectionLost(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

// TestBadRowKeepsPool checks on a real server that a row that does not scan
// leaves the pool's connections alone, while a connection the server
// terminated is recognised as lost and makes the pool start afresh.
func TestBadRowKeepsPool(t *testing.T) {
	dbURL := freshDatabase(t)
	s := openT(t, dbURL)
	defer s.Close()
	ctx := t.Context()
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	conns := func() int64 { return s.pool.Stat().NewConnsCount() }

	before := conns()
	var n int
	err := s.pool.QueryRow(ctx, "SELECT 'not a number'").Scan(&n)
	if err == nil {
		t.Fatal("scanning text into an int succeeded")
	}
	if connectionLost(ctx, err) {
		t.Errorf("a scan error (%v) counts as a lost connection", err)
	}
	_ = s.dbError(ctx, err)
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if after := conns(); after != before {
		t.Errorf("a scan error made the pool open %d new connections; want none (no reset)", after-before)
	}

	// A connection terminated by the server is lost. A second, healthy
	// connection stays idle in the pool: only a reset makes the next Ping
	// open a new one.
	c, err := s.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	healthy, err := s.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	healthy.Release()
	pid := c.Conn().PgConn().PID()
	killer := rawConn(t, dbURL)
	if _, err := killer.Exec(ctx, "SELECT pg_terminate_backend($1)", pid); err != nil {
		t.Fatal(err)
	}
	_, err = c.Exec(ctx, "SELECT 1")
	c.Release()
	if err == nil {
		t.Fatal("a query on a terminated connection succeeded")
	}
	if !connectionLost(ctx, err) {
		t.Errorf("the error of a terminated connection (%v) does not count as a lost connection", err)
	}
	before = conns()
	_ = s.dbError(ctx, err)
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping after the reset: %v", err)
	}
	if conns() == before {
		t.Error("a lost connection did not reset the pool")
	}
}

// TestDiskFullIsInsufficientStorage: PostgreSQL's disk_full (53100) is
// CodeInsufficientStorage (507, not retried blindly); other statement
// errors stay CodeDatabase.
func TestDiskFullIsInsufficientStorage(t *testing.T) {
	s := &Store{} // statement errors never touch the pool
	full := s.dbError(context.Background(), &pgconn.PgError{Severity: "ERROR", Code: "53100", Message: "could not extend file"})
	if !storage.HasCode(full, storage.CodeInsufficientStorage) {
		t.Fatalf("disk_full: %v", full)
	}
	other := s.dbError(context.Background(), &pgconn.PgError{Severity: "ERROR", Code: "23502"})
	if !storage.HasCode(other, storage.CodeDatabase) {
		t.Fatalf("not_null_violation: %v", other)
	}
}
