// Package migrations holds the SQLite schema, one numbered file per version
// (0001_init.sql, 0002_….sql), shared by the sqlite store and the Cloudflare
// Worker's D1 adapter, which cannot link the SQLite driver. The files are
// plain SQLite without PRAGMA so that they also run on D1; wrangler's
// migrations_dir points here too.
package migrations

import "embed"

// Files holds the *.sql files at its root.
//
//go:embed *.sql
var Files embed.FS
