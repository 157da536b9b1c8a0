//go:build !(js && wasm)

package cfworker_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"

	_ "modernc.org/sqlite" // the real SQLite under the D1 stand-in

	"github.com/memenow/memenow-storage/cfworker"
)

// sqliteD1 runs the D1 interface on a real SQLite file, as D1 does: one
// connection (D1 runs one statement at a time), foreign keys on, a batch in
// one transaction, and numbers handed back as float64 like JavaScript's.
// fail, when set, makes every call fail, to test the error paths.
type sqliteD1 struct {
	db   *sql.DB
	fail atomic.Bool
}

func newSQLiteD1(t *testing.T) *sqliteD1 {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "d1.sqlite")+"?_pragma=foreign_keys(1)&_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return &sqliteD1{db: db}
}

var errInjected = errors.New("D1_ERROR: injected failure")

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func runStatement(ctx context.Context, q querier, st cfworker.Statement) (cfworker.Result, error) {
	rows, err := q.QueryContext(ctx, st.SQL, st.Params...)
	if err != nil {
		return cfworker.Result{}, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return cfworker.Result{}, err
	}
	res := cfworker.Result{Rows: []map[string]any{}}
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return cfworker.Result{}, err
		}
		row := map[string]any{}
		for i, c := range cols {
			switch v := vals[i].(type) {
			case int64:
				row[c] = float64(v)
			case []byte:
				row[c] = string(v)
			default:
				row[c] = v
			}
		}
		res.Rows = append(res.Rows, row)
	}
	return res, rows.Err()
}

func (d *sqliteD1) Query(ctx context.Context, st cfworker.Statement) (cfworker.Result, error) {
	if d.fail.Load() {
		return cfworker.Result{}, errInjected
	}
	return runStatement(ctx, d.db, st)
}

func (d *sqliteD1) Batch(ctx context.Context, sts []cfworker.Statement) ([]cfworker.Result, error) {
	if d.fail.Load() {
		return nil, errInjected
	}
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	var out []cfworker.Result
	for _, st := range sts {
		r, err := runStatement(ctx, tx, st)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, tx.Commit()
}
