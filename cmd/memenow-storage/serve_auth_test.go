package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/memenow/memenow-storage/apitest"
)

// startRunLogs is startRun that also returns the server's log.
func startRunLogs(t *testing.T, args []string, env map[string]string) (string, *lineWatcher, func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	logs := newLineWatcher(addrPattern)
	done := make(chan int, 1)
	getenv := func(k string) string { return env[k] }
	go func() {
		done <- run(ctx, append([]string{"serve", "--addr", "127.0.0.1:0", "--log-level", "debug"}, args...), getenv, nil, &bytes.Buffer{}, logs)
	}()
	select {
	case addr := <-logs.found:
		return "http://" + addr, logs, func() int { cancel(); return <-done }
	case code := <-done:
		cancel()
		t.Fatalf("serve exited with %d: %s", code, logs.String())
	case <-time.After(20 * time.Second):
		cancel()
		t.Fatalf("serve did not start: %s", logs.String())
	}
	return "", nil, nil
}

func randomSecret(t *testing.T) string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.RawStdEncoding.EncodeToString(b)
}

// runAuthSuite starts serve with auth on over extra args and runs the
// identity and access suite, then checks that no secret reached the log.
func runAuthSuite(t *testing.T, extra []string) {
	secret := randomSecret(t)
	env := map[string]string{"MEMENOW_JWT_SECRET": secret}
	args := append([]string{"--data-dir", t.TempDir(), "--jwt-issuer", "https://id.example", "--jwt-audience", "memenow"}, extra...)
	base, logs, stop := startRunLogs(t, args, env)
	apitest.RunAuth(t, apitest.AuthTarget{
		Target: apitest.Target{BaseURL: base, MaxFileSize: 10737418240},
		Secret: []byte(secret), Issuer: "https://id.example", Audience: "memenow",
	})
	if code := stop(); code != 0 {
		t.Fatalf("exit status %d", code)
	}
	log := logs.String()
	if strings.Contains(log, secret) || strings.Contains(log, "eyJ") || strings.Contains(log, "mnu.") || strings.Contains(log, "sig=") {
		t.Fatalf("a secret, token or link signature reached the log")
	}
	if !strings.Contains(log, "auth=true") {
		t.Fatalf("the start-up line does not say auth is on")
	}
}

// TestRunServeAuth runs the identity and access suite through run() on the
// embedded default (SQLite and disk).
func TestRunServeAuth(t *testing.T) { runAuthSuite(t, nil) }

// TestRunServeAuthOnPostgresAndS3 runs it on PostgreSQL and a real S3 server.
func TestRunServeAuthOnPostgresAndS3(t *testing.T) {
	pg := needServer(t, "MEMENOW_TEST_POSTGRES_URL", "MEMENOW_REQUIRE_POSTGRES", `eval "$(.ci/postgres.sh start /tmp/memenow-pg)"`)
	endpoint := needServer(t, "MEMENOW_TEST_S3_ENDPOINT", "MEMENOW_REQUIRE_S3", `eval "$(.ci/s3-server.sh start /tmp/memenow-s3)"`)
	prefix := fmt.Sprintf("auth-%d", time.Now().UnixNano())
	runAuthSuite(t, []string{"--database", pg, "--storage", "s3://" + os.Getenv("MEMENOW_TEST_S3_BUCKET") + "/" + prefix,
		"--s3-endpoint", endpoint, "--s3-path-style", "--s3-region", "us-east-1", "--signing-key", randomSecret(t)})
}

// TestServeRefusesOpenNetworkWithoutAuth: without a key source, serve
// listens on loopback only, unless --insecure-no-auth.
func TestServeRefusesOpenNetworkWithoutAuth(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0", "192.0.2.1:0"} {
		var errOut bytes.Buffer
		code := run(context.Background(), []string{"serve", "--addr", addr, "--data-dir", t.TempDir()}, func(string) string { return "" }, nil, &bytes.Buffer{}, &errOut)
		if code != exitUsage || !strings.Contains(errOut.String(), "--insecure-no-auth") {
			t.Errorf("--addr %s: exit %d, output %q", addr, code, errOut.String())
		}
	}
	// --insecure-no-auth passes the check; 192.0.2.1 (TEST-NET) then fails
	// to bind, which proves the check let it through without binding.
	var errOut bytes.Buffer
	code := run(context.Background(), []string{"serve", "--addr", "192.0.2.1:0", "--insecure-no-auth", "--data-dir", t.TempDir()}, func(string) string { return "" }, nil, &bytes.Buffer{}, &errOut)
	if code != exitFailure || strings.Contains(errOut.String(), "refusing") || !strings.Contains(errOut.String(), "auth is off") {
		t.Fatalf("--insecure-no-auth: exit %d, output %q", code, errOut.String())
	}
	for addr, want := range map[string]bool{"127.0.0.1:1": true, "127.1.2.3:1": true, "[::1]:1": true, "localhost:1": true,
		"0.0.0.0:1": false, ":1": false, "example.com:1": false, "10.0.0.1:1": false, "nonsense": false} {
		if got := isLoopback(addr); got != want {
			t.Errorf("isLoopback(%q) = %v", addr, got)
		}
	}
}

// TestServeSigningKeyKept: the generated signing key is kept in the data
// dir, so share links survive a restart.
func TestServeSigningKeyKept(t *testing.T) {
	dir := t.TempDir()
	secret := randomSecret(t)
	env := map[string]string{"MEMENOW_JWT_SECRET": secret}
	target := apitest.AuthTarget{Secret: []byte(secret)}
	base, _, stop := startRunLogs(t, []string{"--data-dir", dir}, env)
	at := (&apitest.T{T: t, Target: apitest.Target{BaseURL: base}}).As(target.User("keeper"))
	u := at.Init("kept.txt", "text/plain", []byte("kept across restarts"), "keeper")
	key := at.UploadAll(u)
	m := at.WantOK(at.PostJSON("/api/files/share", map[string]any{"key": key}))
	link, _ := url.Parse(m["url"].(string))
	stop()
	info, err := os.Stat(filepath.Join(dir, signingKeyFile))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("signing key file: %v, mode %v", err, info)
	}
	base2, _, stop2 := startRunLogs(t, []string{"--data-dir", dir}, env)
	defer stop2()
	resp, err := http.Get(base2 + link.EscapedPath() + "?" + link.RawQuery)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("link after restart: %d", resp.StatusCode)
	}
	// A bad --signing-key is a clear start-up error.
	var errOut bytes.Buffer
	if code := run(context.Background(), []string{"serve", "--addr", "127.0.0.1:0", "--data-dir", dir, "--signing-key", "short"}, func(k string) string { return env[k] }, nil, &bytes.Buffer{}, &errOut); code == 0 || !strings.Contains(errOut.String(), "signing key") {
		t.Fatalf("short signing key: exit %d, %q", code, errOut.String())
	}
}

// jwksServer serves a JWKS whose keys the test changes, and counts fetches.
type jwksServer struct {
	mu      sync.Mutex
	keys    []map[string]string
	fetches int
}

func (s *jwksServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fetches++
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"keys": s.keys})
}

func (s *jwksServer) set(keys ...map[string]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = keys
}

func b64u(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func rsaJWK(kid string, k *rsa.PrivateKey) map[string]string {
	return map[string]string{"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig",
		"n": b64u(k.N.Bytes()), "e": b64u(big.NewInt(int64(k.E)).Bytes())}
}

func ecJWK(kid string, k *ecdsa.PrivateKey) map[string]string {
	pub, _ := k.PublicKey.ECDH()
	raw := pub.Bytes() // 0x04 || X || Y
	return map[string]string{"kty": "EC", "kid": kid, "crv": "P-256", "alg": "ES256",
		"x": b64u(raw[1:33]), "y": b64u(raw[33:])}
}

func edJWK(kid string, k ed25519.PrivateKey) map[string]string {
	return map[string]string{"kty": "OKP", "kid": kid, "crv": "Ed25519", "alg": "EdDSA", "x": b64u(k.Public().(ed25519.PublicKey))}
}

func mint(t *testing.T, m jwt.SigningMethod, kid string, key crypto.PrivateKey, sub string) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, jwt.MapClaims{"sub": sub, "role": "creator", "exp": time.Now().Add(time.Hour).Unix()})
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestRunServeJWKS: serve with --jwks-url verifies RS256, ES256 and EdDSA
// tokens from a real JWKS endpoint, follows key rotation, and refuses the
// HMAC-with-the-public-key confusion.
func TestRunServeJWKS(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	_, newEdKey, _ := ed25519.GenerateKey(rand.Reader)
	jwks := &jwksServer{}
	jwks.set(rsaJWK("rsa-1", rsaKey), ecJWK("ec-1", ecKey), edJWK("ed-1", edKey))
	idp := httptest.NewServer(jwks)
	defer idp.Close()

	base, _, stop := startRunLogs(t, []string{"--data-dir", t.TempDir(), "--jwks-url", idp.URL + "/jwks.json"}, nil)
	defer stop()
	call := func(token string) (int, map[string]any) {
		req, _ := http.NewRequest("GET", base+"/api/me", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	for name, tok := range map[string]string{
		"RS256": mint(t, jwt.SigningMethodRS256, "rsa-1", rsaKey, "alice"),
		"ES256": mint(t, jwt.SigningMethodES256, "ec-1", ecKey, "alice"),
		"EdDSA": mint(t, jwt.SigningMethodEdDSA, "ed-1", edKey, "alice"),
	} {
		if code, m := call(tok); code != 200 || m["user_id"] != "alice" {
			t.Errorf("%s: %d %v", name, code, m)
		}
	}
	// HS256 signed with the RSA public key (PEM-less DER and the JWK's n).
	der, _ := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	for _, secret := range [][]byte{der, rsaKey.N.Bytes()} {
		if code, _ := call(mint(t, jwt.SigningMethodHS256, "rsa-1", secret, "alice")); code != 401 {
			t.Errorf("HS256 with the public key: %d, want 401", code)
		}
	}
	// Rotation: a new key appears under a new kid and works at once; the
	// removed ones stop working after the next refresh.
	jwks.set(edJWK("ed-2", newEdKey))
	if code, m := call(mint(t, jwt.SigningMethodEdDSA, "ed-2", newEdKey, "bob")); code != 200 || m["user_id"] != "bob" {
		t.Fatalf("rotated key: %d %v", code, m)
	}
	if code, _ := call(mint(t, jwt.SigningMethodRS256, "rsa-1", rsaKey, "alice")); code != 401 {
		t.Fatalf("removed key still accepted: %d", code)
	}
	// A flood of unknown kids does not hammer the JWKS endpoint.
	jwks.mu.Lock()
	before := jwks.fetches
	jwks.mu.Unlock()
	for i := 0; i < 50; i++ {
		call(mint(t, jwt.SigningMethodEdDSA, fmt.Sprintf("nope-%d", i), newEdKey, "bob"))
	}
	jwks.mu.Lock()
	after := jwks.fetches
	jwks.mu.Unlock()
	if after-before > 2 {
		t.Fatalf("50 unknown kids caused %d JWKS fetches", after-before)
	}
}

// TestConfigFileAuthSettings: the auth settings come from flags, the
// environment and the config file, JSON booleans included; a secret's value
// never appears in a configuration error.
func TestConfigFileAuthSettings(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "auth.json")
	os.WriteFile(file, []byte(`{"s3_path_style": true, "insecure_no_auth": false, "jwt_issuer": "https://id.example",
		"cors_origins": ["https://a.example", "https://b.example"], "max_share_ttl": "2d", "download_origin": "https://files.example/"}`), 0o644)
	var out strings.Builder
	cfg, err := loadServeConfig([]string{"--config", file}, func(k string) string {
		return map[string]string{"MEMENOW_JWT_SECRET": "s3cr3t-value"}[k]
	}, &out)
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.S3PathStyle || cfg.InsecureNoAuth || cfg.JWTIssuer != "https://id.example" || !cfg.authOn() ||
		len(cfg.AllowedOrigins) != 2 || cfg.MaxShareTTL != 48*time.Hour || cfg.DownloadOrigin != "https://files.example" {
		t.Fatalf("config %+v", cfg)
	}
	for _, bad := range [][]string{
		{"--max-share-ttl", "0s"}, {"--max-share-ttl", "soon"}, {"--jwks-url", "ftp://x"},
		{"--download-origin", "files.example"}, {"--jwt-role-claim", ""}, {"--cors-origins", " , "},
	} {
		if _, err := loadServeConfig(bad, func(string) string { return "" }, &out); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
	if _, err := loadServeConfig([]string{"--jwt-secret-file", filepath.Join(dir, "missing")}, func(string) string { return "" }, &out); err != nil {
		t.Fatalf("the secret file is read at start, not at parse: %v", err)
	}
	var errOut bytes.Buffer
	code := run(context.Background(), []string{"serve", "--addr", "127.0.0.1:0", "--data-dir", dir, "--jwt-secret-file", filepath.Join(dir, "missing")},
		func(string) string { return "" }, nil, &bytes.Buffer{}, &errOut)
	if code == 0 || !strings.Contains(errOut.String(), "jwt secret file") {
		t.Fatalf("missing secret file: exit %d, %q", code, errOut.String())
	}
}
