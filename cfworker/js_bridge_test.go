//go:build js && wasm

// These tests run the bridge under Node (GOOS=js GOARCH=wasm go test -exec
// "$(go env GOROOT)/lib/wasm/go_js_wasm_exec" -run Bridge ./cfworker) with a
// fake RequestContext in place of worker/index.mjs.

package cfworker

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"syscall/js"
	"testing"
)

// fakeRC is a RequestContext whose post records each operation and, unless
// hang is set, resumes it at once with null.
type fakeRC struct {
	posted chan struct{} // one value per post, when made by newFakeRC

	mu   sync.Mutex
	ops  []string
	args [][]js.Value
	hang bool
}

func (f *fakeRC) value() js.Value {
	obj := js.Global().Get("Object").New()
	obj.Set("post", js.FuncOf(func(_ js.Value, a []js.Value) any {
		id, op, args := a[0].Int(), a[1].String(), a[2]
		f.mu.Lock()
		f.ops = append(f.ops, op)
		var vs []js.Value
		for i := 0; i < args.Length(); i++ {
			vs = append(vs, args.Index(i))
		}
		f.args = append(f.args, vs)
		hang := f.hang
		f.mu.Unlock()
		if f.posted != nil {
			f.posted <- struct{}{}
		}
		if !hang {
			go resume(js.Null(), []js.Value{js.ValueOf(id), js.Null(), js.Null()})
		}
		return nil
	}))
	return obj
}

// TestBridgeCallGivesUpWithItsContext posts an operation whose promise
// never settles: call returns the context's error once it is cancelled,
// and forgets the operation.
func TestBridgeCallGivesUpWithItsContext(t *testing.T) {
	f := &fakeRC{hang: true, posted: make(chan struct{}, 4)}
	ctx, cancel := context.WithCancel(context.WithValue(context.Background(), requestKey{}, &request{rc: f.value()}))
	done := make(chan error, 1)
	go func() {
		_, err := call(ctx, "r2.head", "k")
		done <- err
	}()
	<-f.posted
	if pendingOperations() != 1 {
		t.Fatalf("%d pending operations, want 1", pendingOperations())
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("call returned %v, want context.Canceled", err)
	}
	if pendingOperations() != 0 {
		t.Fatalf("%d pending operations after the cancel, want 0", pendingOperations())
	}
	if _, err := call(ctx, "r2.head", "k"); !errors.Is(err, context.Canceled) {
		t.Fatalf("call on a cancelled context: %v", err)
	}
	if len(f.ops) != 1 {
		t.Fatalf("a call on a cancelled context was posted: %v", f.ops)
	}
}

// TestBridgeStreamsBodyOfUnknownLength writes a body larger than flushSize
// without a Content-Length: it goes as respond.stream with a null length,
// then every byte in writes, then end(true) — never as an empty whole
// response.
func TestBridgeStreamsBodyOfUnknownLength(t *testing.T) {
	f := &fakeRC{}
	ctx := context.WithValue(context.Background(), requestKey{}, &request{rc: f.value()})
	w := newResponseWriter(ctx)
	w.Header().Set("Content-Type", "text/plain")
	piece := make([]byte, 64<<10)
	const pieces = 10 // 640 KiB
	for range pieces {
		if _, err := w.Write(piece); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.finish(); err != nil {
		t.Fatal(err)
	}
	if len(f.ops) < 3 || f.ops[0] != opRespondStream || f.ops[len(f.ops)-1] != opEnd {
		t.Fatalf("operations %v, want respond.stream, write…, end", f.ops)
	}
	if a := f.args[0]; a[0].Int() != http.StatusOK || !a[2].IsNull() {
		t.Fatalf("respond.stream(%v, _, %v), want (200, _, null)", a[0], a[2])
	}
	total := 0
	for i, op := range f.ops[1 : len(f.ops)-1] {
		if op != opWrite {
			t.Fatalf("operation %d is %s, want write", i+1, op)
		}
		total += f.args[i+1][0].Length()
	}
	if total != pieces*len(piece) {
		t.Fatalf("%d bytes written, want %d", total, pieces*len(piece))
	}
	if !f.args[len(f.args)-1][0].Bool() {
		t.Fatal("end(false), want end(true)")
	}

	// A small body is one respond, which ends the response.
	f2 := &fakeRC{}
	w = newResponseWriter(context.WithValue(context.Background(), requestKey{}, &request{rc: f2.value()}))
	_, _ = w.Write([]byte("hi"))
	if err := w.finish(); err != nil {
		t.Fatal(err)
	}
	if len(f2.ops) != 1 || f2.ops[0] != opRespond || f2.args[0][2].Length() != 2 {
		t.Fatalf("operations %v, want one respond with the body", f2.ops)
	}
}
