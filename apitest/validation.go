package apitest

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"testing"
)

func testInitValidation(t *T) {
	user := NewUserID()
	valid := func() map[string]any {
		return map[string]any{"file_name": "a.mp4", "total_size": 1000, "user_id": user, "user_role": "creator", "content_type": "video/mp4"}
	}
	with := func(k string, v any) map[string]any {
		m := valid()
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	tooMany := t.MaxFileSize
	if tooMany <= 0 {
		tooMany = 10737418240
	}
	cases := []struct {
		name   string
		body   any
		status int
		code   string
	}{
		{"no file_name", with("file_name", nil), 400, "MISSING_FIELD"},
		{"empty file_name", with("file_name", ""), 400, "MISSING_FIELD"},
		{"null file_name", `{"file_name":null,"total_size":1,"user_id":"` + user + `","user_role":"creator"}`, 400, "MISSING_FIELD"},
		{"no total_size", with("total_size", nil), 400, "MISSING_FIELD"},
		{"no user_id", with("user_id", nil), 400, "MISSING_FIELD"},
		{"no user_role", with("user_role", nil), 400, "MISSING_FIELD"},
		{"file_name number", with("file_name", 5), 400, "INVALID_FIELD"},
		{"total_size string", with("total_size", "1000"), 400, "INVALID_FIELD"},
		{"total_size negative", with("total_size", -1), 400, "INVALID_FIELD"},
		{"total_size fraction", with("total_size", 1.5), 400, "INVALID_FIELD"},
		{"total_size exponent", `{"file_name":"a","total_size":1e3,"user_id":"` + user + `","user_role":"creator"}`, 400, "INVALID_FIELD"},
		{"total_size bool", with("total_size", true), 400, "INVALID_FIELD"},
		{"total_size over limit", with("total_size", tooMany+1), 413, "FILE_TOO_LARGE"},
		{"total_size huge", `{"file_name":"a","total_size":123456789012345678901234567890,"user_id":"` + user + `","user_role":"creator"}`, 413, "FILE_TOO_LARGE"},
		{"user_role unknown", with("user_role", "admin"), 400, "INVALID_FIELD"},
		{"user_role case", with("user_role", "Creator"), 400, "INVALID_FIELD"},
		{"user_id slash", with("user_id", "a/b"), 400, "INVALID_FIELD"},
		{"user_id dots", with("user_id", ".."), 400, "INVALID_FIELD"},
		{"user_id space", with("user_id", "a b"), 400, "INVALID_FIELD"},
		{"user_id unicode", with("user_id", "üser"), 400, "INVALID_FIELD"},
		{"user_id too long", with("user_id", strings.Repeat("a", 65)), 400, "INVALID_FIELD"},
		{"user_id number", with("user_id", 123), 400, "INVALID_FIELD"},
		{"content_type invalid", with("content_type", "not a type"), 400, "INVALID_FIELD"},
		{"content_type no subtype", with("content_type", "video/"), 400, "INVALID_FIELD"},
		{"content_type number", with("content_type", 1), 400, "INVALID_FIELD"},
		{"content_type over 255 bytes", with("content_type", "application/x-"+strings.Repeat("a", 5000)), 400, "INVALID_FIELD"},
		{"content_type of 256 bytes with parameters", with("content_type", "text/plain; x="+strings.Repeat("b", 242)), 400, "INVALID_FIELD"},
		{"chunk_size too small", with("chunk_size", 1024), 400, "INVALID_FIELD"},
		{"chunk_size too large", with("chunk_size", int64(6)<<30), 400, "INVALID_FIELD"},
		{"chunk_size string", with("chunk_size", "5MiB"), 400, "INVALID_FIELD"},
		{"too many chunks", map[string]any{"file_name": "a", "total_size": int64(5<<20) * 10001, "user_id": user, "user_role": "creator", "chunk_size": 5 << 20}, -1, ""},
		{"malformed JSON", `{"file_name": "a",`, 400, "INVALID_FIELD"},
		{"JSON array", `[1,2]`, 400, "INVALID_FIELD"},
		{"JSON string", `"hello"`, 400, "INVALID_FIELD"},
		{"empty body", ``, 400, "INVALID_FIELD"},
		{"trailing data", `{"file_name":"a","total_size":1,"user_id":"x","user_role":"creator"} {}`, 400, "INVALID_FIELD"},
		{"body too large", `{"file_name":"` + strings.Repeat("a", 70<<10) + `"}`, 413, "REQUEST_TOO_LARGE"},
	}
	for _, c := range cases {
		t.Run(c.name, func(tt *testing.T) {
			t := &T{T: tt, Target: t.Target}
			r := t.PostJSON("/api/upload/init", c.body)
			if c.status == -1 { // over 10,000 chunks: refused, as too large or as invalid
				if r.Status != 400 && r.Status != 413 {
					t.Fatalf("status %d: %s", r.Status, r.Body)
				}
				return
			}
			t.WantError(r, c.status, c.code)
		})
	}
}

func testJSONEdgeCases(t *T) {
	user := NewUserID()
	// Unknown fields are ignored; the content type is normalised.
	m := t.WantOK(t.PostJSON("/api/upload/init", fmt.Sprintf(
		`{"file_name":"a.txt","total_size":10,"user_id":%q,"user_role":"member","content_type":"Text/Plain; Charset=UTF-8","extra":{"x":[1]}}`, user)))
	st := t.WantOK(t.Do("GET", "/api/upload/"+m["upload_id"].(string)+"/status", nil, nil))
	if st["content_type"] != "text/plain; charset=UTF-8" || st["user_role"] != "member" {
		t.Fatalf("status %v", st)
	}
	// complete and cancel need an upload_id string.
	for _, path := range []string{"/api/upload/complete", "/api/upload/cancel"} {
		t.WantError(t.PostJSON(path, `{}`), 400, "MISSING_FIELD")
		t.WantError(t.PostJSON(path, `{"upload_id":7}`), 400, "INVALID_FIELD")
		t.WantError(t.PostJSON(path, `nope`), 400, "INVALID_FIELD")
		t.WantError(t.PostJSON(path, map[string]any{"upload_id": strings.Repeat("x", 500)}), 400, "INVALID_FIELD")
	}
}

func testChunkValidation(t *T) {
	u := t.Init("v.bin", "", threeChunks(4), NewUserID())
	chunk := u.Chunk(0)
	put := func(h map[string]string, body []byte) *Response {
		if _, ok := h["Content-Length"]; !ok {
			h["Content-Length"] = strconv.Itoa(len(body))
		}
		return t.Do("PUT", "/api/upload/chunk", h, bytes.NewReader(body))
	}
	t.WantError(put(map[string]string{"X-Chunk-Index": "0"}, chunk), 400, "MISSING_FIELD")
	t.WantError(put(map[string]string{"X-Upload-Id": u.ID}, chunk), 400, "MISSING_FIELD")
	for _, bad := range []string{"-1", "abc", "1.5", "3", "4", "99999999999999999999", "0x1", " "} {
		r := put(map[string]string{"X-Upload-Id": u.ID, "X-Chunk-Index": bad}, chunk)
		code := "INVALID_FIELD"
		if strings.TrimSpace(bad) == "" {
			code = "MISSING_FIELD"
		}
		t.WantError(r, 400, code)
	}
	// Wrong sizes: short, long, and the last chunk with a full chunk's length.
	t.WantError(t.PutChunk(u, 0, chunk[:len(chunk)-1]), 400, "CHUNK_SIZE_MISMATCH")
	t.WantError(t.PutChunk(u, 0, append(append([]byte{}, chunk...), 1)), 400, "CHUNK_SIZE_MISMATCH")
	t.WantError(t.PutChunk(u, 2, chunk), 400, "CHUNK_SIZE_MISMATCH")
	t.WantError(t.PutChunk(u, 1, nil), 400, "CHUNK_SIZE_MISMATCH")
	st := t.Status(u)
	if st["chunks_uploaded"] != 0.0 || st["status"] != "initiated" || st["bytes_uploaded"] != 0.0 {
		t.Fatalf("a refused chunk was recorded: %v", st)
	}
	// Unknown upload.
	t.WantError(put(map[string]string{"X-Upload-Id": "1700000000000-00000000-0000-4000-8000-000000000000", "X-Chunk-Index": "0"}, chunk), 404, "UPLOAD_NOT_FOUND")
	t.WantError(put(map[string]string{"X-Upload-Id": "../../etc", "X-Chunk-Index": "0"}, chunk), 404, "UPLOAD_NOT_FOUND")
	// The upload still works after all that.
	t.UploadAll(u)
	if got := t.Do("GET", FilePath(u.Key), nil, nil); !bytes.Equal(got.Body, u.Data) {
		t.Fatal("file differs after refused chunks")
	}
}

func testReupload(t *T) {
	u := t.Init("re.bin", "", threeChunks(5), NewUserID())
	other := RandomBytes(len(u.Chunk(1)), 99)
	t.WantOK(t.PutChunk(u, 1, other))
	t.SendChunk(u, 1) // replaces
	t.WantOK(t.PutChunk(u, 2, RandomBytes(len(u.Chunk(2)), 98)))
	t.SendChunk(u, 2)
	t.SendChunk(u, 0)
	st := t.Status(u)
	if st["chunks_uploaded"] != 3.0 || st["bytes_uploaded"] != float64(len(u.Data)) {
		t.Fatalf("re-uploaded chunks counted twice: %v", st)
	}
	t.WantOK(t.Complete(u))
	if got := t.Do("GET", FilePath(u.Key), nil, nil); !bytes.Equal(got.Body, u.Data) {
		t.Fatal("re-uploaded chunk did not replace the first bytes")
	}
}

func testMissingChunks(t *T) {
	u := t.Init("m.bin", "", threeChunks(6), NewUserID())
	e := t.WantError(t.Complete(u), 409, "CHUNKS_MISSING")
	if fmt.Sprint(e["missing_chunks"]) != "[0 1 2]" {
		t.Fatalf("missing_chunks %v", e["missing_chunks"])
	}
	t.SendChunk(u, 1)
	e = t.WantError(t.Complete(u), 409, "CHUNKS_MISSING")
	if fmt.Sprint(e["missing_chunks"]) != "[0 2]" || !strings.Contains(e["message"].(string), "0, 2") {
		t.Fatalf("error %v", e)
	}
	if st := t.Status(u); st["status"] != "in_progress" {
		t.Fatalf("status after failed complete: %v", st["status"])
	}
	t.SendChunk(u, 0)
	t.SendChunk(u, 2)
	t.WantOK(t.Complete(u))
}

// testAfterComplete: a repeated complete answers 200 with the first
// answer's body (complete is idempotent); a chunk or a cancel after it
// answers 409 UPLOAD_COMPLETED.
func testAfterComplete(t *T) {
	u := t.Init("done.bin", "", threeChunks(7), NewUserID())
	for i := 0; i < u.Chunks; i++ {
		t.SendChunk(u, i)
	}
	first := t.WantOK(t.Complete(u))
	for range 2 {
		if again := t.WantOK(t.Complete(u)); fmt.Sprint(again) != fmt.Sprint(first) {
			t.Fatalf("repeated complete answered %v, the first %v", again, first)
		}
	}
	if first["upload_id"] != u.ID || first["r2_key"] != u.Key || first["status"] != "completed" || len(first) != 3 {
		t.Fatalf("complete answered %v", first)
	}
	t.WantError(t.PutChunk(u, 0, u.Chunk(0)), 409, "UPLOAD_COMPLETED")
	t.WantError(t.Cancel(u), 409, "UPLOAD_COMPLETED")
	t.WantOK(t.Complete(u))
	if got := t.Do("GET", FilePath(u.Key), nil, nil); !bytes.Equal(got.Body, u.Data) {
		t.Fatal("file changed after late requests")
	}
}

// testAfterCancel: a repeated cancel answers 200 with the first answer's
// body (cancel is idempotent); a chunk or a complete after it answers 409
// UPLOAD_CANCELLED; the status says what is stored: no chunk, no byte.
func testAfterCancel(t *T) {
	u := t.Init("gone.bin", "", threeChunks(8), NewUserID())
	t.SendChunk(u, 0)
	t.SendChunk(u, 2)
	m := t.WantOK(t.Cancel(u))
	if m["upload_id"] != u.ID || m["status"] != "cancelled" || len(m) != 2 {
		t.Fatalf("cancel response %v", m)
	}
	for range 2 {
		if again := t.WantOK(t.Cancel(u)); fmt.Sprint(again) != fmt.Sprint(m) {
			t.Fatalf("repeated cancel answered %v, the first %v", again, m)
		}
	}
	t.WantError(t.PutChunk(u, 1, u.Chunk(1)), 409, "UPLOAD_CANCELLED")
	t.WantError(t.Complete(u), 409, "UPLOAD_CANCELLED")
	st := t.Status(u)
	if st["status"] != "cancelled" {
		t.Fatalf("status %v", st["status"])
	}
	if st["chunks_uploaded"] != 0.0 || st["bytes_uploaded"] != 0.0 || fmt.Sprint(st["chunks"]) != "[]" {
		t.Fatalf("status after cancel counts chunks that are gone: chunks_uploaded %v, bytes_uploaded %v, chunks %v",
			st["chunks_uploaded"], st["bytes_uploaded"], st["chunks"])
	}
	t.WantError(t.Do("GET", FilePath(u.Key), nil, nil), 404, "NOT_FOUND")
}

func testUnknownUpload(t *T) {
	ghost := &Upload{ID: "1700000000000-5f0c6a4e-1b2c-4d3e-8f90-123456789abc"}
	t.WantError(t.Do("GET", "/api/upload/"+ghost.ID+"/status", nil, nil), 404, "UPLOAD_NOT_FOUND")
	t.WantError(t.Complete(ghost), 404, "UPLOAD_NOT_FOUND")
	t.WantError(t.Cancel(ghost), 404, "UPLOAD_NOT_FOUND")
	t.WantError(t.Do("GET", "/api/upload/%27%20OR%201=1--/status", nil, nil), 404, "UPLOAD_NOT_FOUND")
}
