package cfworker

import (
	"context"
	"errors"
	"reflect"
	"testing"

	storage "github.com/memenow/memenow-storage"
)

// partsR2 keeps the ETag R2 holds for each part, and completes only with
// exactly those, as R2 does (10025 "invalid part" otherwise).
type partsR2 struct {
	memR2
	held      map[int]string
	completes [][]R2Part
}

func (p *partsR2) Head(ctx context.Context, key string) (*R2Object, error) { return nil, nil }

func (p *partsR2) CompleteMultipart(ctx context.Context, key, id string, parts []R2Part) (*R2Object, error) {
	p.completes = append(p.completes, parts)
	for _, part := range parts {
		if p.held[part.PartNumber] != part.ETag {
			return nil, &BindingError{Op: "r2.complete", Message: "invalid part (10025)", Code: R2InvalidPart}
		}
	}
	return &R2Object{Key: key, Size: 25, HTTPETag: `"x-3"`}, nil
}

// TestR2CompleteNamesChunksToResend completes uploads whose recorded
// chunks do not match what R2 holds: CodeInvalidPart names the chunks to
// send again in Missing (exactly when the records show it, every chunk
// when only R2 knows), and a good list completes with the parts in order.
func TestR2CompleteNamesChunksToResend(t *testing.T) {
	m := storage.MultipartInfo{UploadID: "u", Key: "k", TotalSize: 25, ChunkSize: 10, TotalChunks: 3}
	good := []storage.Chunk{{Index: 2, Size: 5, ETag: "c"}, {Index: 0, Size: 10, ETag: "a"}, {Index: 1, Size: 10, ETag: "b"}}
	held := map[int]string{1: "a", 2: "b", 3: "c"}
	tests := []struct {
		name      string
		chunks    []storage.Chunk
		held      map[int]string
		missing   []int // nil: success
		completes int   // R2 complete calls
	}{
		{"matching", good, held, nil, 1},
		{"R2 kept another part of chunk 1", good, map[int]string{1: "a", 2: "b2", 3: "c"}, []int{0, 1, 2}, 1},
		{"chunk 1 not recorded", []storage.Chunk{good[0], good[1]}, held, []int{1}, 0},
		{"chunk 2 of the wrong size", []storage.Chunk{{Index: 2, Size: 10, ETag: "c"}, good[1], good[2]}, held, []int{2}, 0},
		{"chunk 0 without an ETag", []storage.Chunk{good[0], {Index: 0, Size: 10}, good[2]}, held, []int{0}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r2 := &partsR2{held: tt.held}
			info, err := (&ObjectStore{Bucket: r2}).CompleteMultipart(context.Background(), m, "h", tt.chunks)
			if len(r2.completes) != tt.completes {
				t.Fatalf("%d R2 completes, want %d", len(r2.completes), tt.completes)
			}
			if tt.missing == nil {
				if err != nil {
					t.Fatal(err)
				}
				if want := []R2Part{{1, "a"}, {2, "b"}, {3, "c"}}; !reflect.DeepEqual(r2.completes[0], want) || info.Size != 25 {
					t.Fatalf("completed with %v (%+v), want %v", r2.completes[0], info, want)
				}
				return
			}
			var se *storage.Error
			if !errors.As(err, &se) || se.Code != storage.CodeInvalidPart || !reflect.DeepEqual(se.Missing, tt.missing) {
				t.Fatalf("err %v (%#v), want CodeInvalidPart with Missing %v", err, se, tt.missing)
			}
		})
	}
}
