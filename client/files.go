package client

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Identity is the server's answer to GET /api/me: whether it wants a token,
// and whom the client's token (if any) names.
type Identity struct {
	// Auth is true when the server checks tokens; with auth off every
	// caller may do everything and no token is needed.
	Auth bool `json:"auth"`
	// Actor is "anonymous" (no token), "user", "admin", "upload_token" or
	// "share_link".
	Actor string `json:"actor"`
	// UserID and UserRole are the token's user; empty when anonymous.
	UserID   string `json:"user_id,omitempty"`
	UserRole string `json:"user_role,omitempty"`
	// Admin is true for an administrator's token.
	Admin bool `json:"admin"`
	// UploadID is the one upload an upload token acts on.
	UploadID string `json:"upload_id,omitempty"`
}

// Actors of an Identity.
const (
	ActorAnonymous   = "anonymous"
	ActorUser        = "user"
	ActorAdmin       = "admin"
	ActorUploadToken = "upload_token"
	ActorShareLink   = "share_link"
)

// Me asks the server whether it wants a token and whom Token names. A
// token that does not verify gives an error for which IsUnauthorized is
// true, with the server's reason in its message.
func (c *Client) Me(ctx context.Context) (*Identity, error) {
	var out Identity
	err := c.retry(ctx, c.Retry, true, func() error {
		return c.doJSON(ctx, http.MethodGet, "/api/me", nil, &out)
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// ListOptions select the uploads List returns.
type ListOptions struct {
	// Status keeps only the uploads in this state ("completed",
	// "in_progress", "deleted", ...); all when empty.
	Status string
	// Limit is the page size, 1 to 1000; the server's default (50) when 0.
	Limit int
	// Cursor continues a listing: the NextCursor of the previous page.
	Cursor string
	// UserID lists another user's uploads; only administrators may.
	UserID string
}

// UploadInfo is one upload in a listing.
type UploadInfo struct {
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
	// Key is where the file is (or was) stored; sent once completed.
	Key       string `json:"r2_key,omitempty"`
	CreatedAt string `json:"created_at"` // RFC 3339, as sent
	UpdatedAt string `json:"updated_at"`
}

// ListPage is one page of a listing, newest upload first.
type ListPage struct {
	Uploads []UploadInfo `json:"uploads"`
	// NextCursor, when not empty, is the ListOptions.Cursor of the next
	// page; it is empty on the last page.
	NextCursor string `json:"next_cursor,omitempty"`
}

// List returns one page of the caller's uploads (or, for an administrator
// with o.UserID, another user's), newest first. Follow NextCursor for the
// next page.
func (c *Client) List(ctx context.Context, o ListOptions) (*ListPage, error) {
	q := url.Values{}
	if o.Status != "" {
		q.Set("status", o.Status)
	}
	if o.Limit != 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	if o.Cursor != "" {
		q.Set("cursor", o.Cursor)
	}
	if o.UserID != "" {
		q.Set("user_id", o.UserID)
	}
	path := "/api/uploads"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var out ListPage
	err := c.retry(ctx, c.Retry, true, func() error {
		out = ListPage{}
		return c.doJSON(ctx, http.MethodGet, path, nil, &out)
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteResult is the server's answer to a delete.
type DeleteResult struct {
	Key      string `json:"key"`
	UploadID string `json:"upload_id"`
	Status   string `json:"status"` // "deleted"
}

// Delete removes the completed file at key. Deleting it again succeeds
// too, so transient failures are retried. A file that is not the caller's
// gives CodeNotFound, exactly like a missing one.
func (c *Client) Delete(ctx context.Context, key string) (*DeleteResult, error) {
	var out DeleteResult
	err := c.retry(ctx, c.Retry, true, func() error {
		return c.doJSON(ctx, http.MethodDelete, "/api/files/"+escapeKey(key), nil, &out)
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// ShareLink is a URL that reads one file without a token until it expires.
type ShareLink struct {
	Key string `json:"key"`
	// URL reads the file with GET (Range works); changed, it is refused
	// (INVALID_SIGNATURE), and so it is once expired (LINK_EXPIRED).
	URL string `json:"url"`
	// ExpiresAt is when the link stops working, RFC 3339 as sent.
	ExpiresAt string `json:"expires_at"`
}

// Expires returns ExpiresAt as a time, or the zero time when it does not parse.
func (l *ShareLink) Expires() time.Time {
	t, _ := time.Parse(time.RFC3339Nano, l.ExpiresAt)
	return t
}

// Share asks for a link that reads the file at key without a token for
// ttl (rounded up to whole seconds; the server's default, an hour, when 0;
// at most the server's limit). With download the link makes browsers save
// the file instead of showing it. Each call makes a new link; transient
// failures are retried.
func (c *Client) Share(ctx context.Context, key string, ttl time.Duration, download bool) (*ShareLink, error) {
	if ttl < 0 {
		return nil, fmt.Errorf("client: share link lifetime %v is negative", ttl)
	}
	body := map[string]any{"key": key}
	if ttl > 0 {
		body["expires_in"] = int64((ttl + time.Second - 1) / time.Second)
	}
	if download {
		body["download"] = true
	}
	var out ShareLink
	err := c.retry(ctx, c.Retry, true, func() error {
		return c.doJSON(ctx, http.MethodPost, "/api/files/share", body, &out)
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// escapeKey percent-encodes each segment of a key for a URL path.
func escapeKey(key string) string {
	segs := strings.Split(key, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}
