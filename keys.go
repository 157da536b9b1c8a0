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

	"golang.org/x/text/unicode/norm"
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
// segment of a key: only the part after the last '/' or '\', no control,
// format or invalid UTF-8 characters, in Unicode NFC (so "café" typed with a
// precomposed é or with e and a combining accent is the same name), no
// leading dots or spaces, no trailing dots or spaces, at most
// MaxFileNameBytes bytes with a short extension kept. A name with nothing
// left becomes "file".
//
// The result is a fixed point: SanitizeFileName(SanitizeFileName(x)) ==
// SanitizeFileName(x), and NFC normalisation leaves it unchanged.
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
	// Normalise after dropping characters, not before: a dropped format
	// character between a letter and its accent (e, U+200D, U+0301) would
	// otherwise leave a name that is not NFC. Normalisation neither produces
	// the dropped characters nor '/' or '\'.
	name = trimDotsAndSpaces(norm.NFC.String(b.String()))
	if name == "" {
		return "file"
	}
	return truncateKeepingExt(name, MaxFileNameBytes)
}

// trimDotsAndSpaces removes leading and trailing dots and spaces (Windows
// drops the trailing ones, a leading dot hides a file). Both are starters
// that combine with nothing, so an NFC name stays NFC.
func trimDotsAndSpaces(s string) string {
	return strings.Trim(s, ". ")
}

// truncateKeepingExt shortens an NFC name that starts with neither a dot
// nor a space to at most max bytes (max ≥ 4), keeping an extension of 2 to
// 16 bytes. The stem is cut where NFC normalisation starts a new segment, so
// a letter is never parted from its accents and the result stays NFC, and
// the cut stem loses the trailing dots and spaces the cut may expose.
func truncateKeepingExt(name string, max int) string {
	if len(name) <= max {
		return name
	}
	ext := path.Ext(name)
	if len(ext) < 2 || len(ext) > 16 || len(ext) == len(name) || len(ext)+4 > max {
		ext = ""
	}
	stem := name[:len(name)-len(ext)]
	// At least one whole rune (≤ 4 bytes) survives the cut, and the first
	// is neither a dot nor a space, so the stem is never empty.
	return strings.TrimRight(stem[:cutPoint(stem, max-len(ext))], ". ") + ext
}

// cutPoint returns the largest i ≤ limit (limit < len(s)) at which s can be
// cut: a rune boundary where the next rune starts a new normalisation
// segment. When no such point lies in the last 64 bytes (a long run of
// combining marks), it settles for the last rune boundary.
func cutPoint(s string, limit int) int {
	runeStart := limit
	for runeStart > 0 && !utf8.RuneStart(s[runeStart]) {
		runeStart--
	}
	for i := runeStart; i > 0 && i > runeStart-64; i-- {
		if utf8.RuneStart(s[i]) && norm.NFC.PropertiesString(s[i:]).BoundaryBefore() {
			return i
		}
	}
	return runeStart
}

// ObjectKey returns the key layout {role}/{user_id}/{YYYYMMDD UTC}/{category}/{file_name}.
func ObjectKey(role Role, userID string, day time.Time, contentType, fileName string) string {
	return fmt.Sprintf("%s/%s/%s/%s/%s", role, userID, day.UTC().Format("20060102"), Category(contentType), fileName)
}

// AlternativeFileName returns an alternative to a sanitised file name whose
// key is taken, with a short ASCII suffix (letters and digits) before the
// extension: ("video.mp4", "2") → "video-2.mp4". An extension longer than
// 16 bytes counts as part of the stem, as in SanitizeFileName. The result
// still fits in MaxFileNameBytes and is itself a sanitised name.
func AlternativeFileName(name, suffix string) string {
	ext := path.Ext(name)
	if ext == name || len(ext) > 16 { // ".bashrc"-like names have no stem; sanitised names never start with '.'
		ext = ""
	}
	suffix = "-" + suffix
	stem := name[:len(name)-len(ext)]
	return truncateKeepingExt(stem, MaxFileNameBytes-len(ext)-len(suffix)) + suffix + ext
}
