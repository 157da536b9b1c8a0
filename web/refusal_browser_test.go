package web_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	storage "github.com/memenow/memenow-storage"
	"github.com/memenow/memenow-storage/apitest"
	"github.com/memenow/memenow-storage/web"
)

// rowError waits for the first row to stop with an error and returns the
// error it shows.
func rowError(t *testing.T, ctx context.Context, what string) string {
	t.Helper()
	return waitFor(t, ctx, what, `(() => { const e = document.querySelector("#list .row[data-state=error] .error");
		return e && !e.hidden ? e.textContent : ""; })()`)
}

// TestBrowserDoesNotRetryFullStorage: a chunk answered 507 (the server's
// storage is full) stops the upload with the error at once; the page does
// not send the chunk again.
func TestBrowserDoesNotRetryFullStorage(t *testing.T) {
	srv := newServer(t)
	srv.faults = map[string]int{"PUT /api/upload/chunk 0": http.StatusInsufficientStorage}
	srv.hold(1) // the other chunks wait, so that only chunk 0 decides
	defer srv.release()
	ctx := newBrowser(t)
	path, _ := writeFile(t, "full.bin", fileSize, 5)

	open(t, ctx, srv.URL+"/")
	fillForm(t, ctx, "filler", "creator", "5")
	do(t, ctx, chromedp.SetUploadFiles(chromedp.ID("file"), []string{path}))
	if msg := rowError(t, ctx, "the upload to stop"); !strings.Contains(msg, "507") {
		t.Errorf("error shown %q, want the 507", msg)
	}
	if arrived, _ := srv.counts(); arrived[0] != 1 {
		t.Errorf("chunk 0 was sent %d times, want once: a 507 is not retried", arrived[0])
	}
}

// TestBrowserDoesNotRetryQuota: an init refused with 429 TOO_MANY_UPLOADS
// stops with the server's reason at once instead of being retried for a
// minute and more.
func TestBrowserDoesNotRetryQuota(t *testing.T) {
	cfg := storage.DefaultConfig()
	cfg.Quota = storage.Quota{MaxOpenUploads: 1}
	api, svc := apitest.NewLocal(t, apitest.LocalOptions{Config: &cfg, Page: web.Handler()})
	if _, err := svc.Init(t.Context(), storage.InitRequest{FileName: "open.bin", TotalSize: 10, UserID: "busy", UserRole: "creator"}); err != nil {
		t.Fatal(err)
	}
	srv := startGated(t, api, svc)
	ctx := newBrowser(t)
	path, _ := writeFile(t, "second.bin", 1000, 6)

	open(t, ctx, srv.URL+"/")
	fillForm(t, ctx, "busy", "creator", "5")
	do(t, ctx, chromedp.SetUploadFiles(chromedp.ID("file"), []string{path}))
	msg := rowError(t, ctx, "the refused upload to stop")
	if !strings.Contains(msg, "TOO_MANY_UPLOADS") || !strings.Contains(msg, "429") || strings.Contains(msg, "retrying") {
		t.Errorf("error shown %q, want the server's TOO_MANY_UPLOADS, not retried", msg)
	}
	list, err := svc.Meta.ListUploads(t.Context(), storage.ListQuery{UserID: "busy", Limit: 10})
	if err != nil || len(list) != 1 {
		t.Errorf("user busy has %d uploads (%v), want the 1 made before", len(list), err)
	}
}
