//go:build js && wasm

package cfworker

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"syscall/js"

	storage "github.com/memenow/memenow-storage"
)

// JSD1 is the D1 binding of the request in the context (UPLOAD_DB).
type JSD1 struct{}

var _ D1 = JSD1{}

func statementJS(st Statement) map[string]any {
	params := st.Params
	if params == nil {
		params = []any{}
	}
	return map[string]any{"sql": st.SQL, "params": params}
}

// Query runs one statement.
func (JSD1) Query(ctx context.Context, st Statement) (Result, error) {
	v, err := call(ctx, "d1.query", statementJS(st))
	if err != nil {
		return Result{}, err
	}
	var res Result
	if err := json.Unmarshal([]byte(v.String()), &res.Rows); err != nil {
		return Result{}, fmt.Errorf("d1.query: decoding the rows: %w", err)
	}
	return res, nil
}

// Batch runs statements in one transaction.
func (JSD1) Batch(ctx context.Context, sts []Statement) ([]Result, error) {
	args := make([]any, len(sts))
	for i, st := range sts {
		args[i] = statementJS(st)
	}
	v, err := call(ctx, "d1.batch", args)
	if err != nil {
		return nil, err
	}
	var rows [][]map[string]any
	if err := json.Unmarshal([]byte(v.String()), &rows); err != nil {
		return nil, fmt.Errorf("d1.batch: decoding the rows: %w", err)
	}
	res := make([]Result, len(rows))
	for i, r := range rows {
		res[i].Rows = r
	}
	return res, nil
}

// JSR2 is the R2 binding of the request in the context (STORAGE_BUCKET).
type JSR2 struct{}

var _ R2 = JSR2{}

// CreateMultipart starts a multipart upload.
func (JSR2) CreateMultipart(ctx context.Context, key, contentType, uploadID string) (string, error) {
	v, err := call(ctx, "r2.create", key, contentType, uploadID)
	if err != nil {
		return "", err
	}
	return v.String(), nil
}

// UploadPart stores a part. When body is the request's body, its
// JavaScript stream goes to R2 as it is and no byte enters Go memory; a
// body of unknown length is refused, since R2 needs the length first.
func (JSR2) UploadPart(ctx context.Context, key, r2UploadID string, part int, size int64, body io.Reader) (string, error) {
	var src any = "request"
	if b := requestBody(ctx, body, size); b != nil {
		if b.length < 0 {
			return "", storage.Errorf(storage.CodeMissingField, "a chunk needs a Content-Length header on Cloudflare Workers")
		}
		b.handedOff = true
	} else {
		buf := make([]byte, size)
		if _, err := io.ReadFull(body, buf); err != nil {
			return "", storage.Wrap(storage.CodeIncompleteBody, err, "the chunk ended early")
		}
		src = bytesToJS(buf)
	}
	v, err := call(ctx, "r2.uploadPart", key, r2UploadID, part, size, src)
	if err != nil {
		return "", err
	}
	return v.String(), nil
}

// r2Object is the JSON the shim makes of an R2Object.
type r2Object struct {
	Key         string  `json:"key"`
	Size        float64 `json:"size"`
	HTTPETag    string  `json:"httpEtag"`
	Uploaded    float64 `json:"uploaded"`
	ContentType string  `json:"contentType"`
	UploadID    string  `json:"uploadId"`
}

func decodeObject(v js.Value) (*R2Object, error) {
	if v.IsNull() || v.IsUndefined() {
		return nil, nil
	}
	var o r2Object
	if err := json.Unmarshal([]byte(v.String()), &o); err != nil {
		return nil, fmt.Errorf("decoding an R2 object: %w", err)
	}
	return &R2Object{Key: o.Key, Size: int64(o.Size), HTTPETag: o.HTTPETag, UploadedMS: int64(o.Uploaded),
		ContentType: o.ContentType, UploadID: o.UploadID}, nil
}

// CompleteMultipart completes a multipart upload.
func (JSR2) CompleteMultipart(ctx context.Context, key, r2UploadID string, parts []R2Part) (*R2Object, error) {
	ps := make([]any, len(parts))
	for i, p := range parts {
		ps[i] = map[string]any{"partNumber": p.PartNumber, "etag": p.ETag}
	}
	v, err := call(ctx, "r2.complete", key, r2UploadID, ps)
	if err != nil {
		return nil, err
	}
	return decodeObject(v)
}

var _ R2Putter = JSR2{}

// Put stores a whole object.
func (JSR2) Put(ctx context.Context, key, contentType, uploadID string, body []byte) (*R2Object, error) {
	v, err := call(ctx, "r2.put", key, contentType, uploadID, bytesToJS(body))
	if err != nil {
		return nil, err
	}
	return decodeObject(v)
}

// AbortMultipart aborts a multipart upload.
func (JSR2) AbortMultipart(ctx context.Context, key, r2UploadID string) error {
	_, err := call(ctx, "r2.abort", key, r2UploadID)
	return err
}

// Head describes the object at key, or returns nil.
func (JSR2) Head(ctx context.Context, key string) (*R2Object, error) {
	v, err := call(ctx, "r2.head", key)
	if err != nil {
		return nil, err
	}
	return decodeObject(v)
}

// Get streams a range of the object at key.
func (JSR2) Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	v, err := call(ctx, "r2.get", key, offset, length)
	if err != nil {
		return nil, err
	}
	return &jsStream{ctx: ctx, id: v.Int()}, nil
}

var _ ObjectServer = JSR2{}

// ServeObject hands the object's bytes from offset to the response of the
// request in ctx (see ObjectServer): R2 streams them to the client, and
// no byte enters Go.
func (JSR2) ServeObject(ctx context.Context, key, etag string, offset, size int64) (bool, error) {
	req := requestOf(ctx)
	if req == nil || req.w == nil {
		return false, nil
	}
	return req.w.serveObject(key, etag, offset, size)
}

// Delete removes the object at key (R2's delete, which succeeds when there
// is none).
func (JSR2) Delete(ctx context.Context, key string) error {
	_, err := call(ctx, "r2.delete", key)
	return err
}

// Ping lists at most one key.
func (JSR2) Ping(ctx context.Context) error {
	_, err := call(ctx, "r2.ping")
	return err
}

// jsStream reads a JavaScript stream the shim keeps under id.
type jsStream struct {
	ctx context.Context
	id  int
	buf []byte
	eof bool
}

func (s *jsStream) Read(p []byte) (int, error) {
	if len(s.buf) == 0 {
		if s.eof {
			return 0, io.EOF
		}
		v, err := call(s.ctx, "stream.read", s.id)
		if err != nil {
			return 0, err
		}
		if v.IsNull() || v.IsUndefined() {
			s.eof = true
			return 0, io.EOF
		}
		s.buf = make([]byte, v.Length())
		js.CopyBytesToGo(s.buf, v)
	}
	n := copy(p, s.buf)
	s.buf = s.buf[n:]
	return n, nil
}

func (s *jsStream) Close() error {
	if s.eof {
		return nil
	}
	s.eof = true
	_, err := call(s.ctx, "stream.cancel", s.id)
	return err
}

// JSKV is the KV binding of the request in the context (STORAGE_CONFIG).
type JSKV struct{}

var _ KV = JSKV{}

// Get reads the value at key.
func (JSKV) Get(ctx context.Context, key string) (string, bool, error) {
	v, err := call(ctx, "kv.get", key)
	if err != nil {
		return "", false, err
	}
	if v.IsNull() || v.IsUndefined() {
		return "", false, nil
	}
	return v.String(), true, nil
}
