package httpapi

import (
	"mime"
	"net/http"
	"path"
	"strings"
	"unicode/utf8"

	storage "github.com/memenow/memenow-storage"
)

// downloadCSP is the Content-Security-Policy of every downloaded file. The
// sandbox directive makes a document that a browser does render anyway an
// opaque origin with scripts, forms, plugins and popups off, so it can
// neither run as a page of our origin nor read its cookies or storage; and
// default-src 'none' forbids every load it could make (images, styles,
// frames, connections). A standalone image, audio or video still shows:
// the browser's media document loads the file itself, not as a subresource.
const downloadCSP = "default-src 'none'; sandbox"

// setDownloadHeaders sets the headers that keep a served file from running
// as a page of the API's origin, whatever its bytes or declared type:
//
//   - X-Content-Type-Options: nosniff, so the browser never guesses a type
//     other than the one sent, and Content-Security-Policy: downloadCSP;
//   - Content-Disposition: inline only for the types a browser shows in a
//     viewer that runs no page script (images other than SVG, audio, video,
//     PDF and plain text), attachment for every other type, including HTML,
//     XHTML, SVG and any XML, JavaScript, CSS, application/octet-stream and
//     malformed or unknown types; forceAttachment (the ?download=1 query)
//     makes it attachment for every type. Both forms name the file with an
//     ASCII fallback and its UTF-8 name (RFC 6266, RFC 8187);
//   - Cross-Origin-Resource-Policy: same-site, so pages of other sites cannot
//     pull a file into their process with <img>, <script> or a no-cors fetch
//     (Spectre-style reads, hotlinked share links), while our own page, a
//     sibling download host such as files.example.com (the recommended
//     deployment) and CORS requests from the configured origins still work;
//   - Referrer-Policy: no-referrer, so a link in a rendered file (a PDF)
//     never leaks the file's URL and any share token in it.
//
// Content-Type is the stored type, unchanged (nosniff, the sandbox and
// attachment make even text/html safe), or application/octet-stream when
// none is stored, so that net/http does not sniff one. No charset is added
// to text/plain: the bytes need not be UTF-8, and charset guessing is no
// longer a way to run script. fileName is the name to offer; when it is
// empty the last segment of info.Key is used. It is cleaned as a key's file
// name is (storage.SanitizeFileName), so no control character or path part
// can reach the header.
func setDownloadHeaders(h http.Header, info storage.ObjectInfo, fileName string, forceAttachment bool) {
	contentType := strings.TrimSpace(info.ContentType)
	if contentType == "" {
		contentType = storage.DefaultContentType
	}
	if fileName == "" {
		fileName = path.Base(info.Key)
	}
	disposition := "attachment"
	if !forceAttachment && inlineSafe(contentType) {
		disposition = "inline"
	}
	h.Set("Content-Type", contentType)
	h.Set("Content-Disposition", contentDisposition(disposition, storage.SanitizeFileName(fileName)))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", downloadCSP)
	h.Set("Cross-Origin-Resource-Policy", "same-site")
	h.Set("Referrer-Policy", "no-referrer")
}

// inlineSafe reports whether a browser shows a file of this type in a
// viewer of its own that runs no script of the file as a page: raster
// images, audio, video, PDF and plain text. Every other type, and any that
// does not parse, is not: HTML, XHTML, SVG, any XML (a +xml suffix or an
// xml subtype), JavaScript, CSS and unknown types.
func inlineSafe(contentType string) bool {
	mediaType, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	typ, sub, ok := strings.Cut(mediaType, "/") // ParseMediaType lower-cases it
	if !ok || strings.HasSuffix(sub, "+xml") || strings.Contains(sub, "xml") {
		return false
	}
	switch typ {
	case "image", "audio", "video":
		return sub != ""
	case "application":
		return sub == "pdf"
	case "text":
		return sub == "plain"
	}
	return false
}

// contentDisposition formats a Content-Disposition value with both file
// name parameters: filename, an ASCII fallback for old clients, and
// filename*, the exact UTF-8 name percent-encoded (RFC 8187), which current
// browsers prefer.
func contentDisposition(disposition, name string) string {
	return disposition + `; filename="` + asciiFileName(name) + `"; filename*=UTF-8''` + encodeRFC8187(name)
}

// asciiFileName is the fallback for the filename parameter: printable
// ASCII only, with each other character, and '"', '\' and '%' (which some
// clients unescape, RFC 6266 appendix D), replaced by '_'.
func asciiFileName(name string) string {
	var b strings.Builder
	for _, r := range name {
		if r < 0x20 || r >= 0x7f || r == '"' || r == '\\' || r == '%' {
			r = '_'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// encodeRFC8187 percent-encodes every byte of name's UTF-8 that is not an
// attr-char of RFC 8187 (letters, digits and !#$&+-.^_`|~).
func encodeRFC8187(name string) string {
	const hex = "0123456789ABCDEF"
	name = strings.ToValidUTF8(name, string(utf8.RuneError))
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		c := name[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$&+-.^_`|~", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}
