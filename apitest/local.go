package apitest

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"path/filepath"
	"testing"

	storage "github.com/memenow/memenow-storage"
	"github.com/memenow/memenow-storage/auth"
	"github.com/memenow/memenow-storage/disk"
	"github.com/memenow/memenow-storage/httpapi"
	"github.com/memenow/memenow-storage/sqlite"
)

// LocalOptions configures NewLocal.
type LocalOptions struct {
	// Config is the Service's limits; storage.DefaultConfig() when nil.
	Config *storage.Config
	// Secret, when set, turns auth on: HS256 user tokens signed with it.
	Secret []byte
	// Page is served at GET / when not nil.
	Page http.Handler
	// AllowedOrigins is passed to httpapi.Options.
	AllowedOrigins []string
}

// NewLocal returns the real API over a SQLite file and a disk folder in
// t's temporary folders, with share links and upload tokens signed by a
// fixed key, and the Service behind it; everything is closed when t ends.
// Tests in any package start it with httptest.NewServer, wrapping the
// handler when they need to watch or fault requests.
func NewLocal(t testing.TB, o LocalOptions) (http.Handler, *storage.Service) {
	t.Helper()
	meta, err := sqlite.Open(filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { meta.Close() })
	objects, err := disk.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg := storage.DefaultConfig()
	if o.Config != nil {
		cfg = *o.Config
	}
	signer, err := auth.NewSigner(bytes.Repeat([]byte{7}, auth.MinSigningKeyBytes))
	if err != nil {
		t.Fatal(err)
	}
	svc := &storage.Service{Objects: objects, Meta: meta, Config: cfg, RequireAuth: o.Secret != nil}
	opts := httpapi.Options{Service: svc, Logger: slog.New(slog.DiscardHandler), Links: signer, Page: o.Page,
		AllowedOrigins: o.AllowedOrigins}
	if o.Secret != nil {
		v, err := auth.NewVerifier(context.Background(), auth.Config{HMACSecrets: [][]byte{o.Secret}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(v.Close)
		opts.Auth = &auth.Authenticator{Verifier: v, Signer: signer}
	}
	return httpapi.NewServer(opts), svc
}
