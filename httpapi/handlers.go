package httpapi

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	storage "github.com/memenow/memenow-storage"
)

// present reports whether a field is there and not null.
func present(fields map[string]json.RawMessage, name string) bool {
	raw, ok := fields[name]
	return ok && string(raw) != "null"
}

// stringField reads a required (or optional) string field.
func stringField(fields map[string]json.RawMessage, name string, required bool) (string, error) {
	if !present(fields, name) {
		if required {
			return "", storage.Errorf(storage.CodeMissingField, "%s is required", name)
		}
		return "", nil
	}
	var v string
	if err := json.Unmarshal(fields[name], &v); err != nil {
		return "", storage.Errorf(storage.CodeInvalidField, "%s must be a string", name)
	}
	if required && v == "" {
		return "", storage.Errorf(storage.CodeMissingField, "%s is required", name)
	}
	return v, nil
}

var digits = regexp.MustCompile(`^[0-9]+$`)

// sizeField reads a positive integer field. A number too big for int64 is
// reported with tooBig.
func sizeField(fields map[string]json.RawMessage, name string, required bool, tooBig storage.Code) (int64, error) {
	if !present(fields, name) {
		if required {
			return 0, storage.Errorf(storage.CodeMissingField, "%s is required", name)
		}
		return 0, nil
	}
	raw := string(fields[name])
	if !digits.MatchString(raw) {
		return 0, storage.Errorf(storage.CodeInvalidField, "%s must be a positive integer", name)
	}
	n, err := strconv.ParseInt(raw, 10, 64)
	if err != nil {
		return 0, storage.Errorf(tooBig, "%s %s is too large", name, truncate(raw, 40))
	}
	if n <= 0 {
		return 0, storage.Errorf(storage.CodeInvalidField, "%s must be a positive integer", name)
	}
	return n, nil
}

// countField reads a non-negative integer field, as sizeField does but
// accepting 0.
func countField(fields map[string]json.RawMessage, name string, required bool, tooBig storage.Code) (int64, error) {
	if present(fields, name) && string(fields[name]) == "0" {
		return 0, nil
	}
	n, err := sizeField(fields, name, required, tooBig)
	if storage.HasCode(err, storage.CodeInvalidField) {
		err = storage.Errorf(storage.CodeInvalidField, "%s must be a non-negative integer", name)
	}
	return n, err
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// initResponse answers POST /api/upload/init.
type initResponse struct {
	UploadID    string `json:"upload_id"`
	ChunkSize   int64  `json:"chunk_size"`
	TotalChunks int    `json:"total_chunks"`
	Key         string `json:"r2_key"`
	Status      string `json:"status"`
	Visibility  string `json:"visibility"`
	// ExpiresAt is when the upload expires unless a chunk arrives first.
	ExpiresAt string `json:"expires_at,omitempty"`
	// UploadToken, with auth on, lets another party (a browser) send the
	// chunks of this one upload and complete or cancel it.
	UploadToken string `json:"upload_token,omitempty"`
}

// parseInit reads the fields of an init request, checking presence and types;
// the Service checks the values.
func parseInit(fields map[string]json.RawMessage) (req storage.InitRequest, err error) {
	if req.FileName, err = stringField(fields, "file_name", true); err != nil {
		return req, err
	}
	// total_size may be 0: an empty file, which takes no chunk.
	if req.TotalSize, err = countField(fields, "total_size", true, storage.CodeFileTooLarge); err != nil {
		return req, err
	}
	// user_id and user_role may be absent: with auth on they come from the
	// token, and the Service says when they are missing.
	if req.UserID, err = stringField(fields, "user_id", false); err != nil {
		return req, err
	}
	if req.UserRole, err = stringField(fields, "user_role", false); err != nil {
		return req, err
	}
	if req.Visibility, err = stringField(fields, "visibility", false); err != nil {
		return req, err
	}
	if req.ContentType, err = stringField(fields, "content_type", false); err != nil {
		return req, err
	}
	req.ChunkSize, err = sizeField(fields, "chunk_size", false, storage.CodeInvalidField)
	return req, err
}

func (s *server) handleInit(w http.ResponseWriter, r *http.Request) {
	fields, err := readJSONObject(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	req, err := parseInit(fields)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	u, err := s.svc.Init(r.Context(), req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, initResponse{
		UploadID: u.ID, ChunkSize: u.ChunkSize, TotalChunks: u.TotalChunks, Key: u.Key, Status: string(u.Status),
		Visibility: string(u.Visibility), ExpiresAt: optionalTimestamp(s.svc.ExpiresAt(u)), UploadToken: s.uploadToken(u),
	})
}

// maxUploadIDLen bounds upload ids in headers and bodies.
const maxUploadIDLen = 128

// uploadIDHeader reads the X-Upload-Id header.
func uploadIDHeader(r *http.Request) (string, error) {
	id := strings.TrimSpace(r.Header.Get("X-Upload-Id"))
	if id == "" {
		return "", storage.Errorf(storage.CodeMissingField, "the X-Upload-Id header is required")
	}
	if len(id) > maxUploadIDLen {
		return "", storage.Errorf(storage.CodeInvalidField, "X-Upload-Id is too long")
	}
	return id, nil
}

// chunkIndexHeader reads the X-Chunk-Index header: a non-negative integer.
func chunkIndexHeader(r *http.Request) (int, error) {
	v := strings.TrimSpace(r.Header.Get("X-Chunk-Index"))
	if v == "" {
		return 0, storage.Errorf(storage.CodeMissingField, "the X-Chunk-Index header is required")
	}
	if !digits.MatchString(v) || len(v) > 9 {
		return 0, storage.Errorf(storage.CodeInvalidField, "X-Chunk-Index must be a non-negative integer below the chunk count")
	}
	n, _ := strconv.Atoi(v)
	return n, nil
}

// chunkResponse answers PUT /api/upload/chunk.
type chunkResponse struct {
	UploadID   string `json:"upload_id"`
	ChunkIndex int    `json:"chunk_index"`
	Status     string `json:"status"`
}

func (s *server) handleChunk(w http.ResponseWriter, r *http.Request) {
	id, err := uploadIDHeader(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	index, err := chunkIndexHeader(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if _, err := s.svc.PutChunk(r.Context(), id, index, r.ContentLength, r.Body); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, chunkResponse{UploadID: id, ChunkIndex: index, Status: "uploaded"})
}

// uploadIDBody reads {"upload_id": "..."}.
func uploadIDBody(w http.ResponseWriter, r *http.Request) (string, error) {
	fields, err := readJSONObject(w, r)
	if err != nil {
		return "", err
	}
	id, err := stringField(fields, "upload_id", true)
	if err == nil && len(id) > maxUploadIDLen {
		err = storage.Errorf(storage.CodeInvalidField, "upload_id is too long")
	}
	return id, err
}

// completeResponse answers POST /api/upload/complete.
type completeResponse struct {
	UploadID string `json:"upload_id"`
	Key      string `json:"r2_key"`
	Status   string `json:"status"`
}

func (s *server) handleComplete(w http.ResponseWriter, r *http.Request) {
	id, err := uploadIDBody(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	u, err := s.svc.Complete(r.Context(), id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, completeResponse{UploadID: u.ID, Key: u.Key, Status: string(u.Status)})
}

// cancelResponse answers POST /api/upload/cancel.
type cancelResponse struct {
	UploadID string `json:"upload_id"`
	Status   string `json:"status"`
}

func (s *server) handleCancel(w http.ResponseWriter, r *http.Request) {
	id, err := uploadIDBody(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	u, err := s.svc.Cancel(r.Context(), id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, cancelResponse{UploadID: u.ID, Status: string(u.Status)})
}

// uploadJSON is an upload as the API shows it: the original's status fields
// plus chunk_size, total_chunks, bytes_uploaded, visibility and, once
// completed, r2_key.
type uploadJSON struct {
	UploadID       string `json:"upload_id"`
	FileName       string `json:"file_name"`
	TotalSize      int64  `json:"total_size"`
	UserID         string `json:"user_id"`
	UserRole       string `json:"user_role"`
	ContentType    string `json:"content_type"`
	Visibility     string `json:"visibility"`
	Status         string `json:"status"`
	ChunksUploaded int    `json:"chunks_uploaded"`
	ChunkSize      int64  `json:"chunk_size"`
	TotalChunks    int    `json:"total_chunks"`
	BytesUploaded  int64  `json:"bytes_uploaded"`
	Key            string `json:"r2_key,omitempty"`
	CreatedAt      string `json:"created_at"`
	UpdatedAt      string `json:"updated_at"`
	// ExpiresAt, while the upload takes chunks, is when it expires unless a
	// chunk arrives first.
	ExpiresAt string `json:"expires_at,omitempty"`
}

// uploadJSONOf shows u; expires is when it expires (zero: it does not).
func uploadJSONOf(u *storage.Upload, expires time.Time) uploadJSON {
	j := uploadJSON{
		UploadID: u.ID, FileName: u.FileName, TotalSize: u.TotalSize, UserID: u.UserID,
		UserRole: string(u.UserRole), ContentType: u.ContentType, Visibility: string(u.Visibility),
		Status: string(u.Status), ChunksUploaded: u.ChunksUploaded, ChunkSize: u.ChunkSize,
		TotalChunks: u.TotalChunks, BytesUploaded: u.BytesUploaded,
		CreatedAt: timestamp(u.CreatedAt), UpdatedAt: timestamp(u.UpdatedAt), ExpiresAt: optionalTimestamp(expires),
	}
	if u.Status == storage.StatusCompleted || u.Status == storage.StatusDeleted {
		j.Key = u.Key
	}
	return j
}

// statusResponse answers GET /api/upload/{id}/status: the upload, the sorted
// list of its recorded chunks and, with auth on, a fresh upload token.
type statusResponse struct {
	uploadJSON
	Chunks      []int  `json:"chunks"`
	UploadToken string `json:"upload_token,omitempty"`
}

func (s *server) handleStatus(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if len(id) > maxUploadIDLen {
		s.writeError(w, r, storage.Errorf(storage.CodeInvalidField, "upload id is too long"))
		return
	}
	u, chunks, err := s.svc.Status(r.Context(), id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	resp := statusResponse{uploadJSON: uploadJSONOf(u, s.svc.ExpiresAt(u)), Chunks: make([]int, len(chunks))}
	for i, c := range chunks {
		resp.Chunks[i] = c.Index
	}
	if u.Status == storage.StatusInitiated || u.Status == storage.StatusInProgress {
		resp.UploadToken = s.uploadToken(u)
	}
	writeJSON(w, http.StatusOK, resp)
}

// healthResponse answers GET /health.
type healthResponse struct {
	Status    string            `json:"status"`
	Timestamp string            `json:"timestamp"`
	Checks    map[string]string `json:"checks"`
	Error     *errorDetail      `json:"error,omitempty"`
}

// healthCacheTTL is how long /health reuses the result of its checks, so
// that a load balancer polling it often costs one database commit and one
// probe file every few seconds, not one per poll.
const healthCacheTTL = 2 * time.Second

// healthCache is the last health report; its mutex also makes concurrent
// requests that find it out of date wait for one run of the checks.
type healthCache struct {
	mu     sync.Mutex
	report storage.HealthReport
	at     time.Time // by the server's clock; zero: none yet
}

// healthReport returns the Service's health, reusing a report younger than
// healthCacheTTL. A request that went away does not leave its (failed)
// report behind.
func (s *server) healthReport(r *http.Request) storage.HealthReport {
	c := &s.health
	c.mu.Lock()
	defer c.mu.Unlock()
	now := s.now()
	if !c.at.IsZero() && !now.Before(c.at) && now.Sub(c.at) < healthCacheTTL {
		return c.report
	}
	report := s.svc.Health(r.Context())
	if r.Context().Err() == nil {
		c.report, c.at = report, now
	}
	return report
}

func (s *server) handleHealth(w http.ResponseWriter, r *http.Request) {
	report := s.healthReport(r)
	resp := healthResponse{Status: "ok", Timestamp: timestamp(s.now()), Checks: map[string]string{"database": "ok", "storage": "ok"}}
	if report.SpaceChecked {
		resp.Checks["space"] = "ok"
	}
	status := http.StatusOK
	if !report.OK() {
		status = http.StatusServiceUnavailable
		resp.Status = "unavailable"
		var failed []string
		for _, c := range []struct {
			name string
			err  error
		}{{"database", report.Database}, {"storage", report.Storage}, {"space", report.Space}} {
			if c.err == nil {
				continue
			}
			resp.Checks[c.name] = "error"
			failed = append(failed, c.name)
			s.log.Error("health check failed", "part", c.name, "err", c.err)
		}
		resp.Error = &errorDetail{Code: storage.CodeUnavailable, Timestamp: resp.Timestamp,
			Message: "unavailable: " + strings.Join(failed, " and ") + " check failed"}
		w.Header().Set("Retry-After", "5")
	}
	writeJSON(w, status, resp)
}

// optionalTimestamp formats t as RFC 3339 in UTC, or "" for the zero time.
func optionalTimestamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return timestamp(t)
}
