package storage

import (
	"fmt"
	"mime"
	"path"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// MaxFileNameBytes is the longest sanitised file name, in bytes of UTF-8.
const MaxFileNameBytes = 255

// DefaultContentType is used when an upload names none.
const DefaultContentType = "application/octet-stream"

var userIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// ValidUserID reports whether id is an accepted user id: 1 to 64 ASCII
// letters, digits, '_' or '-'. Ids are never rewritten, so "a/b" is refused
// rather than turned into someone else's "ab".
func ValidUserID(id string) bool { return userIDPattern.MatchString(id) }

// ParseRole returns the Role named by s, or false.
func ParseRole(s string) (Role, bool) {
	switch r := Role(s); r {
	case RoleCreator, RoleMember, RoleSubscriber:
		return r, true
	}
	return "", false
}

// NormalizeContentType checks that s is a syntactically valid MIME type and
// returns it lower-cased in its canonical form; an empty s gives
// DefaultContentType.
func NormalizeContentType(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return DefaultContentType, true
	}
	mediaType, params, err := mime.ParseMediaType(s)
	if err != nil || !strings.Contains(mediaType, "/") {
		return "", false
	}
	typ, sub, _ := strings.Cut(mediaType, "/")
	if typ == "" || sub == "" || strings.Contains(sub, "/") {
		return "", false
	}
	return mime.FormatMediaType(mediaType, params), true
}

// Category returns the folder of the key layout for a content type:
// image, video, audio, document or other.
func Category(contentType string) string {
	mediaType, _, _ := strings.Cut(contentType, ";")
	mediaType = strings.ToLower(strings.TrimSpace(mediaType))
	typ, sub, _ := strings.Cut(mediaType, "/")
	switch typ {
	case "image", "video", "audio":
		return typ
	case "text":
		return "document"
	case "application":
		switch {
		case sub == "pdf", sub == "msword", sub == "rtf", sub == "json",
			sub == "epub+zip", sub == "x-latex",
			strings.HasPrefix(sub, "vnd.openxmlformats-officedocument."),
			strings.HasPrefix(sub, "vnd.ms-excel"),
			strings.HasPrefix(sub, "vnd.ms-powerpoint"),
			strings.HasPrefix(sub, "vnd.ms-word"),
			strings.HasPrefix(sub, "vnd.oasis.opendocument."),
			sub == "vnd.apple.pages", sub == "vnd.apple.numbers", sub == "vnd.apple.keynote":
			return "document"
		}
	}
	return "other"
}

// SanitizeFileName turns a client's file name into one safe as the last
// segment of a key: only the part after the last '/' or '\', no control or
// invalid UTF-8 characters, no leading dots or spaces, no trailing dots or
// spaces, at most MaxFileNameBytes bytes with the extension kept. A name with
// nothing left becomes "file".
func SanitizeFileName(name string) string {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	var b strings.Builder
	for _, r := range strings.ToValidUTF8(name, "") {
		if r == utf8.RuneError || unicode.IsControl(r) || r == '\u2028' || r == '\u2029' ||
			unicode.Is(unicode.Cf, r) { // format characters such as bidi overrides
			continue
		}
		b.WriteRune(r)
	}
	name = strings.TrimRight(strings.TrimLeft(b.String(), ". \t"), ". \t")
	if name == "" {
		return "file"
	}
	return truncateKeepingExt(name, MaxFileNameBytes)
}

// truncateKeepingExt shortens name to at most max bytes, cutting the stem
// at a rune boundary and keeping a short extension.
func truncateKeepingExt(name string, max int) string {
	if len(name) <= max {
		return name
	}
	ext := path.Ext(name)
	if len(ext) > 16 || len(ext) >= max {
		ext = ""
	}
	stem := name[:len(name)-len(ext)]
	limit := max - len(ext)
	for limit > 0 && !utf8.RuneStart(stem[limit]) {
		limit--
	}
	return stem[:limit] + ext
}

// ObjectKey returns the key layout {role}/{user_id}/{YYYYMMDD UTC}/{category}/{file_name}.
func ObjectKey(role Role, userID string, day time.Time, contentType, fileName string) string {
	return fmt.Sprintf("%s/%s/%s/%s/%s", role, userID, day.UTC().Format("20060102"), Category(contentType), fileName)
}

// AlternativeFileName returns an alternative to a file name whose key is
// taken, with suffix before the extension: ("video.mp4", "2") → "video-2.mp4".
// The result still fits in MaxFileNameBytes.
func AlternativeFileName(name, suffix string) string {
	ext := path.Ext(name)
	if ext == name { // ".bashrc"-like names have no stem; sanitised names never start with '.'
		ext = ""
	}
	suffix = "-" + suffix
	stem := name[:len(name)-len(ext)]
	return truncateKeepingExt(stem, MaxFileNameBytes-len(ext)-len(suffix)) + suffix + ext
}
