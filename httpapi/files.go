package httpapi

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	storage "github.com/memenow/memenow-storage"
)

// handleFile serves a completed file with ranges and conditional requests,
// to a caller the Service lets read it: its owner, an administrator, anyone
// for a public file or with auth off, and the holder of a share link.
func (s *server) handleFile(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	ctx := r.Context()
	if s.links != nil && linkQuery(r.URL.Query()) {
		p, err := s.links.VerifyLink(key, r.URL.Query(), s.now())
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		ctx = storage.ContextWithPrincipal(ctx, p)
	}
	obj, u, err := s.svc.Open(ctx, key)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	defer obj.Close()
	info := obj.Info()
	h := w.Header()
	forceAttachment, _ := strconv.ParseBool(r.URL.Query().Get("download"))
	setDownloadHeaders(h, info, u.FileName, forceAttachment)
	if info.ETag != "" {
		h.Set("ETag", info.ETag)
	}
	h.Set("Accept-Ranges", "bytes")
	cw := &statusRecorder{ResponseWriter: w} // the bytes served, for the audit row
	http.ServeContent(cw, r, "", info.LastModified, obj)
	if r.Method == http.MethodGet && (cw.status == http.StatusOK || cw.status == http.StatusPartialContent) {
		s.record(r.WithContext(ctx), storage.AuditDownload, u, cw.bytes, storage.OutcomeOK)
	}
}

// linkQuery reports whether a query carries share-link parameters.
func linkQuery(q url.Values) bool { return q.Has("sig") || q.Has("expires") }

// fileResponse answers DELETE /api/files/{key}.
type fileResponse struct {
	Key      string `json:"key"`
	UploadID string `json:"upload_id"`
	Status   string `json:"status"`
}

func (s *server) handleDelete(w http.ResponseWriter, r *http.Request) {
	u, err := s.svc.Delete(r.Context(), r.PathValue("key"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, fileResponse{Key: u.Key, UploadID: u.ID, Status: string(u.Status)})
}

// shareResponse answers POST /api/files/share.
type shareResponse struct {
	Key       string `json:"key"`
	URL       string `json:"url"`
	ExpiresAt string `json:"expires_at"`
}

// handleShare signs a link that reads a file without a token until it
// expires: {"key", "expires_in" (seconds, optional), "download" (optional)}.
func (s *server) handleShare(w http.ResponseWriter, r *http.Request) {
	fields, err := readJSONObject(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	key, err := stringField(fields, "key", true)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	seconds, err := sizeField(fields, "expires_in", false, storage.CodeInvalidField)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	download, err := boolField(fields, "download")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if seconds > int64(s.svc.Config.MaxShareTTL/time.Second) {
		seconds = -1 // the Service refuses it with the limit in the message
	}
	if s.links == nil {
		s.writeError(w, r, storage.Errorf(storage.CodeUnavailable, "share links need a signing key, and this server has none"))
		return
	}
	u, expires, err := s.svc.Share(r.Context(), key, time.Duration(seconds)*time.Second)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	extra := url.Values{}
	if download {
		extra.Set("download", "1")
	}
	link := s.fileURL(r, u.Key) + "?" + s.links.SignLink(u.Key, expires, extra).Encode()
	s.record(r, storage.AuditShare, u, u.TotalSize, storage.OutcomeOK) // never the link: it is a credential
	writeJSON(w, http.StatusOK, shareResponse{Key: u.Key, URL: link, ExpiresAt: timestamp(expires)})
}

// fileURL returns the absolute URL of a file: on the download origin when
// one is configured, else on the origin the request came to.
func (s *server) fileURL(r *http.Request, key string) string {
	origin := s.downloadOrigin
	if origin == "" {
		scheme := "http"
		if r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https" {
			scheme = "https"
		}
		host := r.Host
		if fh := r.Header.Get("X-Forwarded-Host"); fh != "" {
			host = fh
		}
		origin = scheme + "://" + host
	}
	return strings.TrimRight(origin, "/") + "/api/files/" + escapeKey(key)
}

// escapeKey percent-encodes each segment of a key for a URL path.
func escapeKey(key string) string {
	segs := strings.Split(key, "/")
	for i, seg := range segs {
		segs[i] = url.PathEscape(seg)
	}
	return strings.Join(segs, "/")
}

// boolField reads an optional boolean field.
func boolField(fields map[string]json.RawMessage, name string) (bool, error) {
	if !present(fields, name) {
		return false, nil
	}
	var v bool
	if err := json.Unmarshal(fields[name], &v); err != nil {
		return false, storage.Errorf(storage.CodeInvalidField, "%s must be true or false", name)
	}
	return v, nil
}

// pageQuery parses the query of a paged listing and its limit parameter
// (0 when absent: the Service's default). A malformed query or limit is
// CodeInvalidField.
func pageQuery(r *http.Request) (url.Values, int, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, 0, storage.Errorf(storage.CodeInvalidField, "the query string is malformed")
	}
	v := q.Get("limit")
	if v == "" {
		return q, 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || !digits.MatchString(v) {
		return nil, 0, storage.Errorf(storage.CodeInvalidField, "limit must be between 1 and %d", storage.MaxListLimit)
	}
	return q, n, nil
}

// listResponse answers GET /api/uploads.
type listResponse struct {
	Uploads    []uploadJSON `json:"uploads"`
	NextCursor string       `json:"next_cursor,omitempty"`
}

// handleList lists the caller's uploads, newest first:
// ?status=&limit=&cursor= (and user_id= for administrators).
func (s *server) handleList(w http.ResponseWriter, r *http.Request) {
	q, limit, err := pageQuery(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	req := storage.ListRequest{UserID: q.Get("user_id"), Status: q.Get("status"), Cursor: q.Get("cursor"), Limit: limit}
	page, err := s.svc.List(r.Context(), req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	resp := listResponse{Uploads: make([]uploadJSON, len(page.Uploads)), NextCursor: page.NextCursor}
	for i, u := range page.Uploads {
		resp.Uploads[i] = uploadJSONOf(u, s.svc.ExpiresAt(u))
	}
	writeJSON(w, http.StatusOK, resp)
}
