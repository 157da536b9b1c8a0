package httpapi_test

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/memenow/memenow-storage/httpapi"
)

// FuzzRequests sends arbitrary init bodies and chunk headers to the API.
// Whatever the input, the answer is 200 or a 4xx in the documented JSON
// error shape: never a 5xx, never a panic.
func FuzzRequests(f *testing.F) {
	f.Add(`{"file_name":"a.mp4","total_size":100,"user_id":"u","user_role":"creator"}`, "0", "x")
	f.Add(`{"file_name":"../..","total_size":1e99,"user_id":"a/b","user_role":"creator","content_type":";;"}`, "-1", "")
	f.Add(`{"total_size":"9999999999999999999999"}`, "99999999999", "1-2")
	f.Add(`[{"file_name":null}]`, " 1", "\x00")
	svc := newService(f)
	h := httpapi.NewServer(httpapi.Options{Service: svc, Logger: quietLogger()})
	f.Fuzz(func(t *testing.T, body, index, id string) {
		check := func(rec *httptest.ResponseRecorder) {
			t.Helper()
			if rec.Code == 200 {
				return
			}
			var m struct {
				Error struct{ Code, Message string }
			}
			if rec.Code >= 500 || json.Unmarshal(rec.Body.Bytes(), &m) != nil || m.Error.Code == "" || m.Error.Message == "" {
				t.Fatalf("status %d body %q", rec.Code, rec.Body.String())
			}
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("POST", "/api/upload/init", strings.NewReader(body)))
		check(rec)
		req := httptest.NewRequest("PUT", "/api/upload/chunk", strings.NewReader("data"))
		req.Header.Set("X-Chunk-Index", index)
		req.Header.Set("X-Upload-Id", id)
		rec = httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		check(rec)
		rec = httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("POST", "/api/upload/complete", strings.NewReader(body)))
		check(rec)
	})
}
