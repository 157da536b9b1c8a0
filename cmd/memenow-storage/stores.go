package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	storage "github.com/memenow/memenow-storage"
	"github.com/memenow/memenow-storage/disk"
	"github.com/memenow/memenow-storage/postgres"
	"github.com/memenow/memenow-storage/s3"
	"github.com/memenow/memenow-storage/sqlite"
)

// dbFileName is the embedded SQLite file under the data dir.
const dbFileName = "memenow.db"

// sqlitePath returns the SQLite file the configuration names.
func sqlitePath(cfg *serveConfig) string {
	if p, ok := strings.CutPrefix(cfg.Database, "sqlite:"); ok {
		return p
	}
	return filepath.Join(cfg.DataDir, dbFileName)
}

// describeDatabase names the metadata store for the start-up log line,
// without credentials.
func describeDatabase(cfg *serveConfig) string {
	if isPostgres(cfg.Database) {
		return redactPassword(cfg.Database)
	}
	return "sqlite:" + sqlitePath(cfg)
}

// isPostgres reports whether a --database value names PostgreSQL.
func isPostgres(database string) bool {
	return strings.HasPrefix(database, "postgres://") || strings.HasPrefix(database, "postgresql://")
}

// redactPassword hides the secrets of a URL-style connection string: the
// password of its user info and every query parameter whose name says it
// holds a secret (password, sslpassword, token, secret, key, …).
func redactPassword(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL, not shown)"
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	q := u.Query()
	changed := false
	for name := range q {
		lower := strings.ToLower(name)
		for _, word := range []string{"password", "passwd", "pwd", "secret", "token", "key", "credential", "signature"} {
			if strings.Contains(lower, word) {
				q.Set(name, "xxxxx")
				changed = true
				break
			}
		}
	}
	if changed {
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// openMeta opens the metadata store the configuration names.
func openMeta(ctx context.Context, cfg *serveConfig) (storage.MetaStore, error) {
	if isPostgres(cfg.Database) {
		meta, err := postgres.Open(ctx, cfg.Database)
		if err != nil {
			return nil, fmt.Errorf("database %s: %v", redactPassword(cfg.Database), err)
		}
		return meta, nil
	}
	path := sqlitePath(cfg)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("database: %v", err)
	}
	meta, err := sqlite.Open(path)
	if err != nil {
		return nil, fmt.Errorf("database: %v", err)
	}
	return meta, nil
}

// openObjects opens the object store the configuration names.
func openObjects(ctx context.Context, cfg *serveConfig) (storage.ObjectStore, error) {
	if cfg.Storage == "disk" {
		objects, err := disk.New(cfg.DataDir)
		if err != nil {
			return nil, fmt.Errorf("storage: %v", err)
		}
		return objects, nil
	}
	bucket, prefix, err := s3.ParseURL(cfg.Storage)
	if err != nil {
		return nil, fmt.Errorf("storage: %v", err)
	}
	objects, err := s3.New(ctx, s3.Options{Bucket: bucket, Prefix: prefix, Endpoint: cfg.S3Endpoint, Region: cfg.S3Region, PathStyle: cfg.S3PathStyle})
	if err != nil {
		return nil, fmt.Errorf("storage: %v", err)
	}
	return objects, nil
}

// openStores opens both stores and returns the Service on them and a
// function that closes them.
func openStores(ctx context.Context, cfg *serveConfig, limits storage.Config) (*storage.Service, func(), error) {
	meta, err := openMeta(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	objects, err := openObjects(ctx, cfg)
	if err != nil {
		meta.Close()
		return nil, nil, err
	}
	svc := &storage.Service{Objects: objects, Meta: meta, Config: limits}
	return svc, func() { meta.Close() }, nil
}
