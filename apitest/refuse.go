package apitest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
)

// RefuseEmptyFiles wraps an API handler so that it refuses the init of an
// empty file (total_size 0) with 400 INVALID_FIELD, as servers before
// zero-byte support did; everything else goes to next. Clients' tests use
// it to check what they say to such a server.
func RefuseEmptyFiles(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/api/upload/init" {
			next.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, "reading the body failed", http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		var req struct {
			TotalSize *json.Number `json:"total_size"`
		}
		if json.Unmarshal(body, &req) == nil && req.TotalSize != nil && req.TotalSize.String() == "0" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"error":{"code":"INVALID_FIELD","message":"total_size must be a positive integer"}}` + "\n"))
			return
		}
		next.ServeHTTP(w, r)
	})
}
