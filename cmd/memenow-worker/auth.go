//go:build js && wasm

package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/memenow/memenow-storage/auth"
	"github.com/memenow/memenow-storage/httpapi"
)

// workerAuth reads the identity settings from the Worker's variables and
// secrets: JWT_SECRET, JWKS_URL, JWT_ISSUER, JWT_AUDIENCE, JWT_ROLE_CLAIM
// (user tokens; auth is on when JWT_SECRET or JWKS_URL is set) and
// SIGNING_KEY (share links and upload tokens). It returns nil values for
// what is not configured.
func workerAuth(ctx context.Context, log *slog.Logger) (httpapi.Authenticator, httpapi.LinkSigner, error) {
	var signer *auth.Signer
	if text := os.Getenv("SIGNING_KEY"); text != "" {
		key, err := auth.ParseSigningKey(text)
		if err != nil {
			return nil, nil, fmt.Errorf("SIGNING_KEY: %v", err)
		}
		if signer, err = auth.NewSigner(key); err != nil {
			return nil, nil, fmt.Errorf("SIGNING_KEY: %v", err)
		}
	}
	secret, jwks := os.Getenv("JWT_SECRET"), strings.TrimSpace(os.Getenv("JWKS_URL"))
	if secret == "" && jwks == "" {
		log.Warn("auth is off: set JWT_SECRET or JWKS_URL (wrangler secret put JWT_SECRET) before exposing this Worker")
		return nil, linkSigner(signer), nil
	}
	if signer == nil {
		log.Warn("SIGNING_KEY is not set: share links and upload tokens are off (wrangler secret put SIGNING_KEY)")
	}
	c := auth.Config{JWKSURL: jwks, Issuer: os.Getenv("JWT_ISSUER"), Audience: os.Getenv("JWT_AUDIENCE"),
		RoleClaim: os.Getenv("JWT_ROLE_CLAIM"), Logger: log,
		// A Worker may fetch only while it serves a request.
		LazyJWKS: true}
	if secret != "" {
		c.HMACSecrets = [][]byte{[]byte(secret)}
	}
	verifier, err := auth.NewVerifier(ctx, c)
	if err != nil {
		return nil, nil, err
	}
	return &auth.Authenticator{Verifier: verifier, Signer: signer}, linkSigner(signer), nil
}

// linkSigner returns s as an httpapi.LinkSigner, or a nil interface.
func linkSigner(s *auth.Signer) httpapi.LinkSigner {
	if s == nil {
		return nil
	}
	return s
}
