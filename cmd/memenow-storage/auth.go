package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/memenow/memenow-storage/auth"
)

// signingKeyFile is the generated signing key under the data dir.
const signingKeyFile = "signing.key"

// openAuth returns the verifier of user tokens (nil with auth off) and the
// signer of share links and upload tokens. The caller closes the verifier.
func openAuth(ctx context.Context, cfg *serveConfig, log *slog.Logger) (*auth.Verifier, *auth.Signer, error) {
	key, err := signingKey(cfg)
	if err != nil {
		return nil, nil, err
	}
	if cfg.SigningKey == "" && cfg.authOn() && isPostgres(cfg.Database) {
		log.Warn("no --signing-key: share links and upload tokens are signed with a key of this instance's data dir; give every instance the same --signing-key")
	}
	signer, err := auth.NewSigner(key)
	if err != nil {
		return nil, nil, fmt.Errorf("signing key: %v", err)
	}
	if !cfg.authOn() {
		return nil, signer, nil
	}
	var secrets [][]byte
	if cfg.JWTSecret != "" {
		secrets = append(secrets, []byte(cfg.JWTSecret))
	}
	if cfg.JWTSecretFile != "" {
		data, err := os.ReadFile(cfg.JWTSecretFile)
		if err != nil {
			return nil, nil, fmt.Errorf("jwt secret file: %v", err)
		}
		secret := strings.TrimRight(string(data), "\r\n")
		if secret == "" {
			return nil, nil, fmt.Errorf("jwt secret file %s is empty", cfg.JWTSecretFile)
		}
		secrets = append(secrets, []byte(secret))
	}
	verifier, err := auth.NewVerifier(ctx, auth.Config{
		HMACSecrets: secrets, JWKSURL: cfg.JWKSURL,
		Issuer: cfg.JWTIssuer, Audience: cfg.JWTAudience, RoleClaim: cfg.JWTRoleClaim,
		Logger: log,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("auth: %v", err)
	}
	return verifier, signer, nil
}

// signingKey returns --signing-key, or the key kept in the data dir,
// generating it (mode 0600) on first start. Instances that do not share the data dir
// (PostgreSQL and S3) must be given one key with --signing-key.
func signingKey(cfg *serveConfig) ([]byte, error) {
	if cfg.SigningKey != "" {
		key, err := auth.ParseSigningKey(cfg.SigningKey)
		if err != nil {
			return nil, fmt.Errorf("signing key: %v", err)
		}
		return key, nil
	}
	path := filepath.Join(cfg.DataDir, signingKeyFile)
	data, err := os.ReadFile(path)
	if err == nil {
		key, err := auth.ParseSigningKey(strings.TrimSpace(string(data)))
		if err != nil {
			return nil, fmt.Errorf("signing key file %s: %v", path, err)
		}
		return key, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("signing key: %v", err)
	}
	key, err := auth.GenerateSigningKey()
	if err != nil {
		return nil, fmt.Errorf("signing key: %v", err)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("signing key: %v", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) { // another process made it first: use theirs
		return signingKey(cfg)
	}
	if err != nil {
		return nil, fmt.Errorf("signing key: %v", err)
	}
	_, err = f.WriteString(auth.EncodeSigningKey(key) + "\n")
	if serr := f.Sync(); err == nil {
		err = serr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("signing key: %v", err)
	}
	return key, nil
}

// isLoopback reports whether a listen address only accepts connections from
// this machine.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
