package cfworker

import (
	"context"
	"testing"

	storage "github.com/memenow/memenow-storage"
)

// emptyR2 keeps objects put whole and records aborts; multipart completes
// are not expected.
type emptyR2 struct {
	R2
	objects map[string]*R2Object
	puts    int
	aborts  []string
}

func (e *emptyR2) Head(ctx context.Context, key string) (*R2Object, error) {
	return e.objects[key], nil
}

func (e *emptyR2) Put(ctx context.Context, key, contentType, uploadID string, body []byte) (*R2Object, error) {
	e.puts++
	o := &R2Object{Key: key, Size: int64(len(body)), HTTPETag: `"d41d8cd98f00b204e9800998ecf8427e"`, UploadedMS: 1700000000000,
		ContentType: contentType, UploadID: uploadID}
	e.objects[key] = o
	return o, nil
}

func (e *emptyR2) AbortMultipart(ctx context.Context, key, id string) error {
	e.aborts = append(e.aborts, id)
	return nil
}

// TestR2CompleteEmptyFile completes the upload of an empty file with no
// chunk: the object is put empty with its content type and upload id and
// the multipart upload aborted; a repeat returns the same info without a
// second put; another upload's object at the key is refused.
func TestR2CompleteEmptyFile(t *testing.T) {
	r2 := &emptyR2{objects: map[string]*R2Object{}}
	s := &ObjectStore{Bucket: r2}
	m := storage.MultipartInfo{UploadID: "u1", Key: "k", ContentType: "text/plain", TotalSize: 0, ChunkSize: 10, TotalChunks: 0}
	first, err := s.CompleteMultipart(context.Background(), m, "h1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if first.Key != "k" || first.Size != 0 || first.ContentType != "text/plain" || first.ETag == "" || r2.puts != 1 || len(r2.aborts) != 1 {
		t.Fatalf("info %+v, %d puts, aborts %v", first, r2.puts, r2.aborts)
	}
	second, err := s.CompleteMultipart(context.Background(), m, "h1", nil)
	if err != nil || second != first || r2.puts != 1 {
		t.Fatalf("repeat: %+v, %v, %d puts; want %+v and no second put", second, err, r2.puts, first)
	}
	other := m
	other.UploadID = "u2"
	if _, err := s.CompleteMultipart(context.Background(), other, "h2", nil); err == nil {
		t.Fatal("complete over another upload's object succeeded")
	}
	// A binding that cannot put refuses rather than completing nothing.
	if _, err := (&ObjectStore{Bucket: &memR2{}}).CompleteMultipart(context.Background(), storage.MultipartInfo{UploadID: "u3", Key: "k3"}, "h3", nil); !storage.HasCode(err, storage.CodeStorage) {
		t.Fatalf("binding without Put: %v", err)
	}
}
