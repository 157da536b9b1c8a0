// Package migrations holds the PostgreSQL schema, one numbered file per
// version (0001_init.sql, 0002_….sql).
package migrations

import "embed"

// Files holds the *.sql files at its root.
//
//go:embed *.sql
var Files embed.FS
