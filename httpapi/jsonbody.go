package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"unicode/utf8"

	storage "github.com/memenow/memenow-storage"
)

// maxJSONBody bounds the JSON bodies of init, complete and cancel.
const maxJSONBody = 64 << 10

// readJSONObject reads a JSON object body of at most maxJSONBody bytes into
// a map of raw fields. It refuses, with CodeInvalidField, an empty body, a
// body that is not one JSON object, data after the object, and an object
// that names a key twice: encoding/json would keep the last value, while
// another parser in front of us (a proxy, a WAF, a signature check) may
// have acted on the first, so {"user_id":"alice","user_id":"bob"} means
// nothing we can trust. Keys compare after JSON unescaping, so "user_id"
// and "user\u005fid" are the same key.
func readJSONObject(w http.ResponseWriter, r *http.Request) (map[string]json.RawMessage, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxJSONBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, storage.Errorf(storage.CodeRequestTooLarge, "request body is over %d bytes", maxJSONBody)
		}
		return nil, storage.Wrap(storage.CodeIncompleteBody, err, "request body could not be read")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, storage.Errorf(storage.CodeInvalidField, "request body must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var fields map[string]json.RawMessage
	if err := dec.Decode(&fields); err != nil || fields == nil {
		return nil, storage.Errorf(storage.CodeInvalidField, "request body must be a JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, storage.Errorf(storage.CodeInvalidField, "request body has data after the JSON object")
	}
	if key, ok := duplicateKey(body); ok {
		return nil, storage.Errorf(storage.CodeInvalidField, "duplicate key %q in the JSON body", truncateRunes(key, 64))
	}
	return fields, nil
}

// duplicateKey returns the first key that the top-level object of body, a
// valid JSON object, names a second time, compared after unescaping. Keys
// of nested objects are not compared: no field of the API is an object.
func duplicateKey(body []byte) (string, bool) {
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return "", false
	}
	seen := make(map[string]struct{})
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return "", false
		}
		key, _ := tok.(string)
		if _, dup := seen[key]; dup {
			return key, true
		}
		seen[key] = struct{}{}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return "", false
		}
	}
	return "", false
}

// truncateRunes shortens s to at most n bytes without cutting a rune, for
// echoing client text in an error message.
func truncateRunes(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
