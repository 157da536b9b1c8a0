//go:build js && wasm

package cfworker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"sync"
	"syscall/js"
	"time"

	storage "github.com/memenow/memenow-storage"
)

// This file is the Go half of the per-request "pump" (the other half is
// worker/index.mjs). Go never calls a binding itself: a goroutine may run
// while the scheduler was entered from another request's JavaScript, and
// I/O started there would belong to that request. Instead every binding
// call is posted, as an operation, to the JavaScript object of the request
// it serves (found in the context); that object runs it in its own request
// and calls resume with the result, which wakes the waiting goroutine.

// request is the JavaScript side of one Worker request.
type request struct {
	rc   js.Value        // the shim's RequestContext
	body *jsBody         // nil when the request has no body
	w    *responseWriter // nil for a scheduled event
}

type requestKey struct{}

func requestOf(ctx context.Context) *request {
	r, _ := ctx.Value(requestKey{}).(*request)
	return r
}

type opResult struct {
	val js.Value
	err error
}

type waiter struct {
	op string
	ch chan opResult
}

// operations are the posted operations waiting for resume.
var operations = struct {
	sync.Mutex
	next    int
	waiting map[int]waiter
}{waiting: map[int]waiter{}}

// call posts operation op with args to the request in ctx and waits for its
// result. A failed operation gives a *BindingError, or a *storage.Error
// CodeIncompleteBody when the request body broke off. When ctx ends first
// (a platform promise that never settles, a request whose handler gave up)
// call stops waiting and returns an error wrapping ctx's error; the
// operation's late result, if it ever comes, is dropped.
func call(ctx context.Context, op string, args ...any) (js.Value, error) {
	req := requestOf(ctx)
	if req == nil {
		return js.Undefined(), fmt.Errorf("cfworker: %s called outside a Worker request", op)
	}
	if err := ctx.Err(); err != nil {
		return js.Undefined(), fmt.Errorf("cfworker: %s not started: %w", op, err)
	}
	ch := make(chan opResult, 1)
	operations.Lock()
	operations.next++
	id := operations.next
	operations.waiting[id] = waiter{op: op, ch: ch}
	operations.Unlock()
	req.rc.Call("post", id, op, args)
	select {
	case r := <-ch:
		return r.val, r.err
	case <-ctx.Done():
		operations.Lock()
		_, pending := operations.waiting[id]
		delete(operations.waiting, id)
		operations.Unlock()
		if !pending { // resume delivered the result meanwhile
			r := <-ch
			return r.val, r.err
		}
		return js.Undefined(), fmt.Errorf("cfworker: %s abandoned: %w", op, ctx.Err())
	}
}

// pendingOperations is the number of operations posted and not yet
// resumed or abandoned (for tests).
func pendingOperations() int {
	operations.Lock()
	defer operations.Unlock()
	return len(operations.waiting)
}

// resume is called by the shim with (id, error or null, value).
func resume(_ js.Value, args []js.Value) any {
	id := args[0].Int()
	operations.Lock()
	w, ok := operations.waiting[id]
	delete(operations.waiting, id)
	operations.Unlock()
	if !ok {
		return nil
	}
	if e := args[1]; !e.IsNull() && !e.IsUndefined() {
		msg := e.Get("message").String()
		if e.Get("kind").String() == "body" {
			w.ch <- opResult{err: storage.Wrap(storage.CodeIncompleteBody, errors.New(msg), "the request body ended early")}
			return nil
		}
		w.ch <- opResult{err: &BindingError{Op: w.op, Message: msg, Code: e.Get("code").Int()}}
		return nil
	}
	w.ch <- opResult{val: args[2]}
	return nil
}

// Serve registers h with the shim as the Worker's handler and blocks
// forever. Every request is served on its own goroutine, which recovers
// from panics so that the Go program never exits. When h is a Scheduler it
// also runs the Worker's scheduled events (Cron Triggers).
func Serve(h http.Handler, log *slog.Logger) {
	handle := js.FuncOf(func(_ js.Value, args []js.Value) any {
		rc := args[0]
		go serveRequest(h, log, rc)
		return nil
	})
	api := map[string]any{"handle": handle, "resume": js.FuncOf(resume)}
	if sch, ok := h.(Scheduler); ok {
		api["scheduled"] = js.FuncOf(func(_ js.Value, args []js.Value) any {
			// (context, cron, scheduledTime in unix milliseconds)
			go serveScheduled(sch, log, args[0], args[1].String(), time.UnixMilli(int64(args[2].Float())))
			return nil
		})
	}
	js.Global().Call("__memenowRegister", api)
	select {}
}

// serveScheduled runs a scheduled event in the shim's context rc: its
// binding calls are posted to rc like a request's, and its outcome is
// posted as "scheduled.done" with the error's message ("" for success).
func serveScheduled(sch Scheduler, log *slog.Logger, rc js.Value, cron string, at time.Time) {
	ctx := context.WithValue(context.Background(), requestKey{}, &request{rc: rc})
	msg := ""
	defer func() {
		if v := recover(); v != nil {
			log.Error("panic in a scheduled event", "panic", v, "stack", string(debug.Stack()))
			msg = fmt.Sprint("panic: ", v)
		}
		if _, err := call(ctx, "scheduled.done", msg); err != nil {
			log.Info("the scheduled event's outcome could not be sent", "err", err)
		}
	}()
	if err := sch.Scheduled(ctx, cron, at); err != nil {
		msg = err.Error()
	}
}

// serveRequest runs h for the request rc and posts the response.
func serveRequest(h http.Handler, log *slog.Logger, rc js.Value) {
	req := &request{rc: rc}
	// The request's context ends when its response is done, so that no
	// goroutine it left behind waits on the bridge for ever.
	ctx, cancel := context.WithCancel(context.WithValue(context.Background(), requestKey{}, req))
	defer cancel()
	w := newResponseWriter(ctx)
	req.w = w
	defer func() {
		if v := recover(); v != nil {
			log.Error("panic while serving a request", "panic", v, "stack", string(debug.Stack()))
			w.fail()
		}
		if err := w.finish(); err != nil {
			log.Info("the response could not be sent", "err", err)
		}
	}()
	r, err := newRequest(ctx, req)
	if err != nil {
		log.Error("the Worker request could not be read", "err", err)
		w.fail()
		return
	}
	h.ServeHTTP(w, r)
}
