package httpapi

// routes lists the whole API.
func (s *server) routes() {
	s.mux.HandleFunc("POST /api/upload/init", s.handleInit)
	s.mux.HandleFunc("PUT /api/upload/chunk", s.handleChunk)
	s.mux.HandleFunc("POST /api/upload/complete", s.handleComplete)
	s.mux.HandleFunc("GET /api/upload/{id}/status", s.handleStatus)
	s.mux.HandleFunc("POST /api/upload/cancel", s.handleCancel)
	s.mux.HandleFunc("GET /api/uploads", s.handleList)
	s.mux.HandleFunc("GET /api/files/{key...}", s.handleFile) // GET patterns match HEAD too
	s.mux.HandleFunc("DELETE /api/files/{key...}", s.handleDelete)
	s.mux.HandleFunc("POST /api/files/share", s.handleShare)
	s.mux.HandleFunc("GET /api/me", s.handleMe)
	s.mux.HandleFunc("GET /api/audit", s.handleAudit) // audit.go
	s.mux.HandleFunc("GET /health", s.handleHealth)
	if s.page != nil {
		s.mux.Handle("GET /{$}", s.page)
	}
}

// allowedMethods answers the Allow header of CORS preflights.
const allowedMethods = "GET, HEAD, POST, PUT, DELETE, OPTIONS"

// allowedHeaders are the request headers browsers may send.
const allowedHeaders = "Content-Type, X-Upload-Id, X-Chunk-Index, Authorization, Range, If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since, If-Range"

// exposedHeaders are the response headers browser scripts may read.
const exposedHeaders = "ETag, Content-Length, Content-Range, Accept-Ranges, Last-Modified, Retry-After, Content-Type, X-Request-Id"
