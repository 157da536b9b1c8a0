package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	storage "github.com/memenow/memenow-storage"
)

// serveConfig is the configuration of the serve command.
type serveConfig struct {
	Addr            string
	DataDir         string
	MaxFileSize     int64
	ChunkSize       int64
	AllowedOrigins  []string
	ShutdownTimeout time.Duration
	LogFormat       string
	LogLevel        string
	DatabaseName    string // accepted from the original's config; informational
	Database        string // "" or sqlite:PATH (embedded), or postgres://…
	Storage         string // "disk" or s3://BUCKET/prefix
	S3Endpoint      string
	S3Region        string
	S3PathStyle     bool

	// Identity and access (see auth.go).
	JWTSecret      string // HMAC secret of user tokens
	JWTSecretFile  string // file holding it
	JWKSURL        string // JWKS endpoint of user tokens' public keys
	JWTIssuer      string
	JWTAudience    string
	JWTRoleClaim   string
	SigningKey     string // signs share links and upload tokens; generated in the data dir when empty
	MaxShareTTL    time.Duration
	DownloadOrigin string
	InsecureNoAuth bool
	corsSet        bool // --cors-origins (or the old --allowed-origins) was given

	// TrustedProxies are the peers whose X-Forwarded-For and
	// CF-Connecting-IP headers are believed, and which the per-IP limits
	// exempt (every client behind a proxy shares its address).
	TrustedProxies []netip.Prefix

	netLimits    // netlimits.go: timeouts and connection caps
	abuseLimits  // abuse.go: rate limits, quotas, the disk guard
	expiryConfig // expiry.go: upload expiry, the janitor, health and safe start
}

// authOn reports whether a key source for user tokens is configured.
func (c *serveConfig) authOn() bool {
	return c.JWTSecret != "" || c.JWTSecretFile != "" || c.JWKSURL != ""
}

// setting is one configuration value: a flag, its MEMENOW_* variable and its
// config-file key.
type setting struct {
	name  string // flag name; the env var is MEMENOW_ + upper-snake; the file key is snake
	usage string
	def   string
	apply func(cfg *serveConfig, value string) error
}

// settingValue is a flag.Value holding a setting's text; settings whose
// default is "false" are boolean flags, usable as plain --name.
type settingValue struct {
	text   string
	isBool bool
}

func (v *settingValue) String() string     { return v.text }
func (v *settingValue) Set(s string) error { v.text = s; return nil }
func (v *settingValue) IsBoolFlag() bool   { return v.isBool }

// envName returns the environment variable of a flag: --max-file-size → MEMENOW_MAX_FILE_SIZE.
func envName(flagName string) string {
	return "MEMENOW_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// fileKey returns the config-file key of a flag: --max-file-size → max_file_size.
func fileKey(flagName string) string { return strings.ReplaceAll(flagName, "-", "_") }

func serveSettings() []setting {
	s := baseSettings()
	s = append(s, netLimitSettings()...)
	s = append(s, abuseSettings()...)
	return append(s, expirySettings()...)
}

// baseSettings are the settings of the service itself, its stores and its
// identity and access.
func baseSettings() []setting {
	return []setting{
		{"addr", "address to listen on", "127.0.0.1:8787", func(c *serveConfig, v string) error {
			c.Addr = v
			return nil
		}},
		{"data-dir", "folder of the SQLite database and the stored files", "data", func(c *serveConfig, v string) error {
			if v == "" {
				return errors.New("data dir must not be empty")
			}
			c.DataDir = v
			return nil
		}},
		{"max-file-size", "largest file accepted, in bytes (suffixes KB, MB, GB, KiB, MiB, GiB allowed)", strconv.FormatInt(storage.DefaultMax, 10), func(c *serveConfig, v string) (err error) {
			c.MaxFileSize, err = parseSize(v)
			return err
		}},
		{"chunk-size", "default chunk size in bytes (5 MiB to 5 GiB; clients may ask for another at init)", strconv.FormatInt(storage.DefaultChunk, 10), func(c *serveConfig, v string) (err error) {
			c.ChunkSize, err = parseSize(v)
			return err
		}},
		{"cors-origins", "comma-separated origins browsers may call the API from, or * (default: * with auth off, none with auth on)", "", setCORSOrigins},
		{"allowed-origins", "old name of --cors-origins", "", setCORSOrigins},
		{"shutdown-timeout", "how long in-flight requests may run after SIGTERM/SIGINT", "30s", func(c *serveConfig, v string) (err error) {
			c.ShutdownTimeout, err = time.ParseDuration(v)
			if err == nil && c.ShutdownTimeout < 0 {
				err = errors.New("must not be negative")
			}
			return err
		}},
		{"log-format", "log format: text or json", "text", func(c *serveConfig, v string) error {
			if v != "text" && v != "json" {
				return fmt.Errorf("must be text or json, got %q", v)
			}
			c.LogFormat = v
			return nil
		}},
		{"log-level", "log level: debug, info, warn or error", "info", func(c *serveConfig, v string) error {
			switch v {
			case "debug", "info", "warn", "error":
				c.LogLevel = v
				return nil
			}
			return fmt.Errorf("must be debug, info, warn or error, got %q", v)
		}},
		{"database", "metadata database: sqlite:PATH (default: sqlite:DATA_DIR/memenow.db) or postgres://USER@HOST:PORT/DB", "", func(c *serveConfig, v string) error {
			if v != "" && !strings.HasPrefix(v, "sqlite:") && !strings.HasPrefix(v, "postgres://") && !strings.HasPrefix(v, "postgresql://") {
				return fmt.Errorf("must be sqlite:PATH or postgres://…, got %q", v)
			}
			if v == "sqlite:" {
				return errors.New("sqlite: needs a path")
			}
			c.Database = v
			return nil
		}},
		{"storage", "object storage: disk (files under the data dir) or s3://BUCKET/optional/prefix", "disk", func(c *serveConfig, v string) error {
			if v != "disk" && !strings.HasPrefix(v, "s3://") {
				return fmt.Errorf("must be disk or s3://BUCKET/prefix, got %q", v)
			}
			c.Storage = v
			return nil
		}},
		{"s3-endpoint", "S3 endpoint URL, e.g. https://ACCOUNT_ID.r2.cloudflarestorage.com (empty: AWS)", "", func(c *serveConfig, v string) error {
			if v != "" && !strings.HasPrefix(v, "http://") && !strings.HasPrefix(v, "https://") {
				return fmt.Errorf("must be an http:// or https:// URL, got %q", v)
			}
			c.S3Endpoint = v
			return nil
		}},
		{"s3-region", "S3 region (auto suits Cloudflare R2)", "auto", func(c *serveConfig, v string) error {
			c.S3Region = v
			return nil
		}},
		{"s3-path-style", "address buckets as ENDPOINT/BUCKET (most self-hosted S3 servers need it)", "false", func(c *serveConfig, v string) (err error) {
			c.S3PathStyle, err = strconv.ParseBool(v)
			return err
		}},
		{"jwt-secret", "HMAC secret of user tokens (HS256/384/512); turns auth on", "", func(c *serveConfig, v string) error {
			c.JWTSecret = v
			return nil
		}},
		{"jwt-secret-file", "file holding the HMAC secret of user tokens; turns auth on", "", func(c *serveConfig, v string) error {
			c.JWTSecretFile = v
			return nil
		}},
		{"jwks-url", "JWKS URL of user tokens' public keys (RS256, PS256, ES256, ES384, EdDSA); turns auth on", "", func(c *serveConfig, v string) error {
			if v != "" && !strings.HasPrefix(v, "https://") && !strings.HasPrefix(v, "http://") {
				return errors.New("must be an http:// or https:// URL")
			}
			c.JWKSURL = v
			return nil
		}},
		{"jwt-issuer", "required iss claim of user tokens (unchecked when empty)", "", func(c *serveConfig, v string) error {
			c.JWTIssuer = v
			return nil
		}},
		{"jwt-audience", "required aud claim of user tokens (unchecked when empty)", "", func(c *serveConfig, v string) error {
			c.JWTAudience = v
			return nil
		}},
		{"jwt-role-claim", "claim of user tokens that holds the role (creator, member or subscriber)", "role", func(c *serveConfig, v string) error {
			if v == "" {
				return errors.New("must not be empty")
			}
			c.JWTRoleClaim = v
			return nil
		}},
		{"signing-key", "key that signs share links and upload tokens (base64 or hex, 32+ bytes); every instance needs the same (default: generated once in DATA_DIR/signing.key)", "", func(c *serveConfig, v string) error {
			c.SigningKey = v
			return nil
		}},
		{"max-share-ttl", "longest life of a share link", "168h", func(c *serveConfig, v string) (err error) {
			c.MaxShareTTL, err = parseDuration(v)
			if err == nil && c.MaxShareTTL < time.Second {
				err = errors.New("must be at least 1s")
			}
			return err
		}},
		{"download-origin", "origin that share links point at, e.g. https://files.example.com (a separate host name is recommended)", "", func(c *serveConfig, v string) error {
			if v != "" && !strings.HasPrefix(v, "https://") && !strings.HasPrefix(v, "http://") {
				return fmt.Errorf("must be an http:// or https:// origin, got %q", v)
			}
			c.DownloadOrigin = strings.TrimRight(v, "/")
			return nil
		}},
		{"trusted-proxies", "comma-separated CIDRs of reverse proxies whose X-Forwarded-For / CF-Connecting-IP are believed", "", func(c *serveConfig, v string) error {
			c.TrustedProxies = nil
			for _, part := range strings.Split(v, ",") {
				if part = strings.TrimSpace(part); part == "" {
					continue
				}
				if !strings.Contains(part, "/") {
					addr, err := netip.ParseAddr(part)
					if err != nil {
						return fmt.Errorf("%q is not an IP address or CIDR", part)
					}
					part = netip.PrefixFrom(addr, addr.BitLen()).String()
				}
				p, err := netip.ParsePrefix(part)
				if err != nil {
					return fmt.Errorf("%q is not an IP address or CIDR", part)
				}
				c.TrustedProxies = append(c.TrustedProxies, p.Masked())
			}
			return nil
		}},
		{"insecure-no-auth", "allow listening on a non-loopback address without auth (anyone may then act as anyone)", "false", func(c *serveConfig, v string) (err error) {
			c.InsecureNoAuth, err = strconv.ParseBool(v)
			return err
		}},
		{"database-name", "name of the database (kept for the original's config files; unused)", "UPLOAD_DB", func(c *serveConfig, v string) error {
			c.DatabaseName = v
			return nil
		}},
	}
}

// setCORSOrigins applies --cors-origins (or its old name --allowed-origins).
// Empty leaves the default, which depends on whether auth is on.
func setCORSOrigins(c *serveConfig, v string) error {
	if v == "" {
		return nil
	}
	c.AllowedOrigins, c.corsSet = nil, true
	for _, o := range strings.Split(v, ",") {
		if o = strings.TrimSpace(o); o != "" {
			c.AllowedOrigins = append(c.AllowedOrigins, o)
		}
	}
	if len(c.AllowedOrigins) == 0 {
		return errors.New("CORS origins must not be empty (use * for any)")
	}
	return nil
}

// parseDuration parses a Go duration ("90m", "168h") or a number of days ("7d").
func parseDuration(v string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(strings.TrimSpace(v), "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 || n > 36500 {
			return 0, fmt.Errorf("%q is not a duration", v)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration (e.g. 90m, 168h, 7d)", v)
	}
	return d, nil
}

// loadServeConfig resolves the configuration with the precedence
// flag > environment > config file > default.
func loadServeConfig(args []string, getenv func(string) string, usageOut *strings.Builder) (*serveConfig, error) {
	settings := serveSettings()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(usageOut)
	setServeUsage(fs)
	values := map[string]*settingValue{}
	for _, s := range settings {
		values[s.name] = &settingValue{text: s.def, isBool: s.def == "false"}
		fs.Var(values[s.name], s.name, s.usage+" (env "+envName(s.name)+")")
	}
	configFile := fs.String("config", "", "JSON config file (env MEMENOW_CONFIG); keys are the flag names with '_' for '-'")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, flagHelp
		}
		return nil, errUsage{err}
	}
	if fs.NArg() > 0 {
		return nil, errUsage{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	setByFlag := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { setByFlag[f.Name] = true })

	cfg, _, err := resolveSettings(settings, func(name string) (string, bool) {
		return values[name].text, setByFlag[name]
	}, *configFile, setByFlag["config"], getenv)
	return cfg, err
}

// resolveSettings applies settings to a new serveConfig with serve's
// precedence, flag > environment > config file > default, and returns it
// with, for each setting, where its value came from ("--name", the variable,
// "config file key k" or "default"). fromFlag returns a setting's flag text
// and whether the flag was given; configFlag (given when configFlagSet) or
// MEMENOW_CONFIG names the config file, whose keys may be any of serve's.
// A bad value is an error naming its source.
func resolveSettings(settings []setting, fromFlag func(name string) (string, bool), configFlag string, configFlagSet bool,
	getenv func(string) string) (*serveConfig, map[string]string, error) {
	path := configFlag
	if !configFlagSet {
		path = getenv("MEMENOW_CONFIG")
	}
	fromFile := map[string]string{}
	if path != "" {
		var err error
		if fromFile, err = readConfigFile(path, serveSettings()); err != nil {
			return nil, nil, err
		}
	}
	cfg := &serveConfig{}
	sources := map[string]string{}
	for _, s := range settings {
		value, source := s.def, "default"
		if v, ok := fromFile[fileKey(s.name)]; ok {
			value, source = v, "config file key "+fileKey(s.name)
		}
		if v := getenv(envName(s.name)); v != "" {
			value, source = v, envName(s.name)
		}
		if v, given := fromFlag(s.name); given {
			value, source = v, "--"+s.name
		}
		if err := s.apply(cfg, value); err != nil {
			return nil, nil, fmt.Errorf("%s: %v", source, err)
		}
		sources[s.name] = source
	}
	return cfg, sources, nil
}

// flagHelp is returned when -h was asked for.
var flagHelp = flag.ErrHelp

// errUsage marks a command-line usage error.
type errUsage struct{ error }

// readConfigFile reads a JSON object whose keys are settings' file keys.
// Strings, numbers, booleans and lists of strings are accepted; unknown keys are an error, so that typos
// do not go unnoticed.
func readConfigFile(path string, settings []setting) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config file: %v", err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("config file %s: not a JSON object: %v", path, err)
	}
	known := map[string]bool{}
	for _, s := range settings {
		known[fileKey(s.name)] = true
	}
	out := map[string]string{}
	for key, value := range raw {
		if !known[key] {
			return nil, fmt.Errorf("config file %s: unknown key %q", path, key)
		}
		var s string
		if err := json.Unmarshal(value, &s); err == nil {
			out[key] = s
			continue
		}
		var list []string
		if err := json.Unmarshal(value, &list); err == nil {
			out[key] = strings.Join(list, ",")
			continue
		}
		var n json.Number
		if err := json.Unmarshal(value, &n); err == nil {
			out[key] = n.String()
			continue
		}
		var b bool
		if err := json.Unmarshal(value, &b); err == nil {
			out[key] = strconv.FormatBool(b)
			continue
		}
		return nil, fmt.Errorf("config file %s: key %q must be a string, a number, a boolean or a list of strings", path, key)
	}
	return out, nil
}

// parseSize parses a byte count: a plain integer, or one followed by a unit
// (case-insensitive, a space before it allowed): B; KB, MB, GB, TB, powers
// of 1000; KiB, MiB, GiB, TiB, powers of 1024. "95MiB", "95 mib" and
// "99614720" are one size. A bare K, M, G or T is refused as ambiguous.
// serve's sizes and the client's --chunk-size both use it.
func parseSize(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	digits := 0
	for digits < len(t) && t[digits] >= '0' && t[digits] <= '9' {
		digits++
	}
	num, unit := t[:digits], strings.TrimSpace(t[digits:])
	mult, known := map[string]int64{
		"": 1, "b": 1,
		"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
		"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
	}[unit]
	switch {
	case num != "" && len(unit) == 1 && strings.Contains("kmgt", unit):
		u := strings.ToUpper(unit)
		return 0, fmt.Errorf("%q is not a size: write %s%siB (powers of 1024) or %s%sB (powers of 1000)", s, num, u, num, u)
	case num == "" || !known:
		return 0, fmt.Errorf("%q is not a size: use bytes or a unit, e.g. 95MiB (KB, MB, GB, TB: powers of 1000; KiB, MiB, GiB, TiB: powers of 1024)", s)
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n > (1<<63-1)/mult {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return n * mult, nil
}

// version returns the module version the binary was built from.
func version() string {
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" {
		return info.Main.Version
	}
	return "(devel)"
}
