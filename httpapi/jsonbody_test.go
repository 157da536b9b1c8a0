package httpapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	storage "github.com/memenow/memenow-storage"
)

// uploadCount is how many uploads the metadata store holds.
func uploadCount(t *testing.T, svc *storage.Service) int {
	t.Helper()
	list, err := svc.Meta.ListUploads(context.Background(), storage.ListQuery{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return len(list)
}

// wantErrorMessage checks status, code and that the message contains want.
func wantErrorMessage(t *testing.T, resp *http.Response, status int, code, want string) {
	t.Helper()
	m := decode(t, resp)
	e, _ := m["error"].(map[string]any)
	msg, _ := e["message"].(string)
	if resp.StatusCode != status || e["code"] != code || !strings.Contains(msg, want) {
		t.Fatalf("got %d %v, want %d %s with a message containing %q", resp.StatusCode, m, status, code, want)
	}
	if ts, _ := e["timestamp"].(string); ts == "" {
		t.Fatalf("error without a timestamp: %v", m)
	}
}

// TestJSONBodyInit checks the bodies init refuses, and that a refused init
// creates no upload and reserves no key.
func TestJSONBodyInit(t *testing.T) {
	const rest = `"file_name":"a.bin","total_size":10,"user_role":"creator"`
	tests := []struct {
		name, body string
		status     int
		code, msg  string
	}{
		{"duplicate key", `{"user_id":"alice","user_id":"bob",` + rest + `}`,
			400, "INVALID_FIELD", `duplicate key "user_id" in the JSON body`},
		{"duplicate key with the same value", `{"user_id":"alice",` + rest + `,"user_id":"alice"}`,
			400, "INVALID_FIELD", `duplicate key "user_id" in the JSON body`},
		{"duplicate key spelled with an escape", `{"user_id":"alice","user\u005fid":"bob",` + rest + `}`,
			400, "INVALID_FIELD", `duplicate key "user_id" in the JSON body`},
		{"duplicate key, both escaped", `{"\u0075ser_id":"alice","user_i\u0064":"bob",` + rest + `}`,
			400, "INVALID_FIELD", `duplicate key "user_id" in the JSON body`},
		{"duplicate of another field", `{"user_id":"alice",` + rest + `,"total_size":20}`,
			400, "INVALID_FIELD", `duplicate key "total_size" in the JSON body`},
		{"duplicate null", `{"user_id":"alice",` + rest + `,"content_type":null,"content_type":"text/html"}`,
			400, "INVALID_FIELD", `duplicate key "content_type" in the JSON body`},
		{"duplicate unknown key", `{"user_id":"alice",` + rest + `,"x":1,"x":2}`,
			400, "INVALID_FIELD", `duplicate key "x" in the JSON body`},
		{"duplicate key with control characters is quoted", `{"user_id":"alice",` + rest + `,"a\nb":1,"a\nb":2}`,
			400, "INVALID_FIELD", `duplicate key "a\nb" in the JSON body`},
		// What was refused before still is, with the same answer.
		{"empty body", ``, 400, "INVALID_FIELD", "must be a JSON object"},
		{"blank body", " \n\t", 400, "INVALID_FIELD", "must be a JSON object"},
		{"array", `[{"user_id":"alice"}]`, 400, "INVALID_FIELD", "must be a JSON object"},
		{"null", `null`, 400, "INVALID_FIELD", "must be a JSON object"},
		{"string", `"user_id"`, 400, "INVALID_FIELD", "must be a JSON object"},
		{"broken JSON", `{"user_id":"alice",`, 400, "INVALID_FIELD", "must be a JSON object"},
		{"trailing data", `{"user_id":"alice",` + rest + `} {}`, 400, "INVALID_FIELD", "data after the JSON object"},
		{"trailing garbage", `{"user_id":"alice",` + rest + `}x`, 400, "INVALID_FIELD", "data after the JSON object"},
		{"trailing data after a duplicate", `{"user_id":"alice","user_id":"bob",` + rest + `} {}`,
			400, "INVALID_FIELD", "data after the JSON object"},
		{"over the size cap", `{"user_id":"alice",` + rest + `,"pad":"` + strings.Repeat("x", 64<<10) + `"}`,
			413, "REQUEST_TOO_LARGE", "request body is over"},
	}
	svc := newService(t)
	srv := startServer(t, svc)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantErrorMessage(t, post(t, srv.URL+"/api/upload/init", tt.body), tt.status, tt.code, tt.msg)
			if n := uploadCount(t, svc); n != 0 {
				t.Fatalf("%d uploads after a refused init, want 0", n)
			}
		})
	}
	// Nothing was reserved: the same init, written once, gets the plain key.
	m := decode(t, post(t, srv.URL+"/api/upload/init", `{"user_id":"alice",`+rest+`}`))
	if key, _ := m["r2_key"].(string); !strings.HasPrefix(key, "creator/alice/") || !strings.HasSuffix(key, "/a.bin") {
		t.Fatalf("init after the refused ones: %v, want key creator/alice/…/a.bin", m)
	}
	// Keys are compared exactly after unescaping: a different case is a
	// different (unknown, ignored) key, not a duplicate.
	m = decode(t, post(t, srv.URL+"/api/upload/init", `{"user_id":"bob","USER_ID":"eve",`+rest+`}`))
	if key, _ := m["r2_key"].(string); !strings.HasPrefix(key, "creator/bob/") {
		t.Fatalf("init with user_id and USER_ID: %v, want key creator/bob/…", m)
	}
}

// TestJSONBodyCompleteCancel checks that complete and cancel refuse a body
// naming upload_id twice, even with the same id, and leave the upload as it
// was.
func TestJSONBodyCompleteCancel(t *testing.T) {
	svc := newService(t)
	srv := startServer(t, svc)
	m := decode(t, post(t, srv.URL+"/api/upload/init", `{"file_name":"a.bin","total_size":3,"user_id":"alice","user_role":"creator"}`))
	id, _ := m["upload_id"].(string)
	if id == "" {
		t.Fatalf("init: %v", m)
	}
	req, err := http.NewRequest("PUT", srv.URL+"/api/upload/chunk", strings.NewReader("abc"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Upload-Id", id)
	req.Header.Set("X-Chunk-Index", "0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("chunk: %d %v", resp.StatusCode, decode(t, resp))
	}
	resp.Body.Close()

	other := "00000000-0000-0000-0000-000000000000"
	bodies := map[string]string{
		"same id twice":              `{"upload_id":"` + id + `","upload_id":"` + id + `"}`,
		"another id, then this one":  `{"upload_id":"` + other + `","upload_id":"` + id + `"}`,
		"escaped key":                `{"upload_id":"` + id + `","upload\u005fid":"` + id + `"}`,
		"this id, then another one":  `{"upload_id":"` + id + `","upload_id":"` + other + `"}`,
		"duplicate of an unused key": `{"upload_id":"` + id + `","force":true,"force":false}`,
	}
	for _, op := range []string{"complete", "cancel"} {
		for name, body := range bodies {
			t.Run(op+"/"+name, func(t *testing.T) {
				want := `duplicate key "upload_id" in the JSON body`
				if strings.Contains(name, "unused") {
					want = `duplicate key "force" in the JSON body`
				}
				wantErrorMessage(t, post(t, srv.URL+"/api/upload/"+op, body), 400, "INVALID_FIELD", want)
				u, _, err := svc.Status(context.Background(), id)
				if err != nil {
					t.Fatal(err)
				}
				if u.Status != storage.StatusInitiated && u.Status != storage.StatusInProgress {
					t.Fatalf("upload is %s after a refused %s, want it still open", u.Status, op)
				}
			})
		}
	}
	if n := uploadCount(t, svc); n != 1 {
		t.Fatalf("%d uploads, want 1", n)
	}
	// The same requests written once still work.
	m = decode(t, post(t, srv.URL+"/api/upload/complete", `{"upload_id":"`+id+`"}`))
	if m["status"] != "completed" {
		t.Fatalf("complete: %v", m)
	}
}
