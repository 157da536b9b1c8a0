package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	storage "github.com/memenow/memenow-storage"
	"github.com/memenow/memenow-storage/apitest"
	"github.com/memenow/memenow-storage/auth"
	"github.com/memenow/memenow-storage/web"
)

// chromiumPath is where Debian's chromium package puts the browser.
const chromiumPath = "/usr/bin/chromium"

// fileSize makes three chunks of 5 MiB, the last one short.
const fileSize = 12 << 20

// server is the real API (SQLite and disk in t.TempDir()) with the page, and
// a wrapper that counts chunk PUTs and can hold them.
type server struct {
	URL string
	svc *storage.Service
	*chunkGate
}

func newServer(t *testing.T) *server {
	t.Helper()
	api, svc := apitest.NewLocal(t, apitest.LocalOptions{Page: web.Handler()})
	return startGated(t, api, svc)
}

// startGated serves next behind a chunkGate that is open.
func startGated(t *testing.T, next http.Handler, svc *storage.Service) *server {
	gate := &chunkGate{next: next, arrived: map[int]int{}, open: make(chan struct{})}
	close(gate.open)
	srv := httptest.NewServer(gate)
	t.Cleanup(srv.Close)
	return &server{URL: srv.URL, svc: svc, chunkGate: gate}
}

// chunkGate counts chunk PUTs by index and, while held, keeps every chunk
// PUT with an index of at least from waiting (its body read) until release.
// A held request whose client goes away is dropped, never passed on. It
// answers the first request named in faults ("PUT /api/upload/chunk 1",
// "POST /api/upload/complete") with that status instead of passing it on.
type chunkGate struct {
	next    http.Handler
	mu      sync.Mutex
	faults  map[string]int
	arrived map[int]int
	waiting int
	from    int
	open    chan struct{}
}

func (g *chunkGate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := r.Method + " " + r.URL.Path
	isChunk := name == "PUT /api/upload/chunk"
	index, _ := strconv.Atoi(r.Header.Get("X-Chunk-Index"))
	if isChunk {
		name += " " + strconv.Itoa(index)
	}
	g.mu.Lock()
	fault := g.faults[name]
	delete(g.faults, name)
	if isChunk {
		g.arrived[index]++
	}
	open, from := g.open, g.from
	g.mu.Unlock()
	if fault != 0 {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Retry-After", "0")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(fault)
		fmt.Fprintf(w, `{"error":{"code":"INJECTED","message":"injected fault %d","timestamp":""}}`, fault)
		return
	}
	if !isChunk {
		g.next.ServeHTTP(w, r)
		return
	}
	select {
	case <-open:
		g.next.ServeHTTP(w, r)
		return
	default:
	}
	if index < from {
		g.next.ServeHTTP(w, r)
		return
	}
	// Read the body so that the server notices when the client goes away.
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	g.mu.Lock()
	g.waiting++
	g.mu.Unlock()
	defer func() { g.mu.Lock(); g.waiting--; g.mu.Unlock() }()
	select {
	case <-open:
		r.Body = io.NopCloser(bytes.NewReader(body))
		g.next.ServeHTTP(w, r)
	case <-r.Context().Done():
	}
}

// hold makes chunk PUTs with index >= from wait until release.
func (g *chunkGate) hold(from int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.from, g.open = from, make(chan struct{})
}

func (g *chunkGate) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	close(g.open)
}

func (g *chunkGate) counts() (arrived map[int]int, waiting int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return maps.Clone(g.arrived), g.waiting
}

// console collects what the page writes to its console.
type console struct {
	mu   sync.Mutex
	msgs []chromedp.ConsoleMessage
}

func watchConsole(ctx context.Context) *console {
	c := &console{}
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			c.mu.Lock()
			c.msgs = append(c.msgs, m)
			c.mu.Unlock()
		}
	}()
	return c
}

// errors lists the errors, warnings and exceptions, leaving out the
// browser's own "Failed to load resource" lines for the HTTP statuses the
// test caused on purpose.
func (c *console) errors(allowStatuses ...int) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, m := range c.msgs {
		switch m.Type {
		case chromedp.ConsoleError, chromedp.ConsoleWarning, chromedp.ConsoleException:
		default:
			continue
		}
		if m.Source == "network" && slices.ContainsFunc(allowStatuses, func(status int) bool {
			return strings.Contains(m.Text, fmt.Sprintf("the server responded with a status of %d ", status))
		}) {
			continue
		}
		out = append(out, fmt.Sprintf("%s (source %q, %s)", m, m.Source, m.URL))
	}
	return out
}

// newBrowser starts headless Chromium with a temporary profile.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("MEMENOW_REQUIRE_BROWSER") == "1" {
			t.Fatalf("MEMENOW_REQUIRE_BROWSER=1 but Chromium is missing: %v (apt-get install -y chromium)", err)
		}
		t.Skipf("Chromium is not installed at %s (apt-get install -y chromium); set MEMENOW_REQUIRE_BROWSER=1 to fail instead", chromiumPath)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(t.TempDir()),
		// Chromium makes an org.chromium.Chromium.* folder in TMPDIR per
		// start and leaves it: give it a folder of the test's own.
		chromedp.Env("TMPDIR="+t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	t.Cleanup(cancel)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(cancelBrowser)
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return bctx
}

// do runs steps or fails the test.
func do(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%v\npage: %s", err, rowsText(ctx))
	}
}

// waitFor polls a JavaScript expression until it is truthy and returns its
// value as a string. The minute is a deadline for a hung page, not a
// performance bound.
func waitFor(t *testing.T, ctx context.Context, what, expr string) string {
	t.Helper()
	expr = "(() => { const v = (" + expr + "); return v ? String(v) : \"\"; })()"
	v, err := chromedp.Run(ctx, chromedp.Poll[string](expr, chromedp.WithPollingTimeout(time.Minute), chromedp.WithPollingInterval(50*time.Millisecond)))
	if err != nil {
		t.Fatalf("waiting for %s: %v\npage: %s", what, err, rowsText(ctx))
	}
	return v
}

// rowsText is the text of the upload list, for failure messages.
func rowsText(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("#list").innerText`))
	if err != nil {
		return "(unreadable: " + err.Error() + ")"
	}
	return s
}

// writeFile writes n random bytes to a file named name in a new folder.
func writeFile(t *testing.T, name string, n int, seed uint64) (string, []byte) {
	t.Helper()
	data := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, 7))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path, data
}

// open loads the page and waits for its script to run.
func open(t *testing.T, ctx context.Context, url string) {
	t.Helper()
	do(t, ctx, chromedp.Navigate(url))
	waitFor(t, ctx, "the page script to run", `document.body.dataset.ready`)
}

// fillForm sets the user id, role and chunk size like a user typing.
func fillForm(t *testing.T, ctx context.Context, userID, role, chunkMiB string) {
	t.Helper()
	do(t, ctx,
		chromedp.Evaluate[chromedp.Void](`document.getElementById("user-id").value = ""`),
		chromedp.SendKeys(chromedp.ID("user-id"), userID),
		chromedp.SetValue(chromedp.ID("user-role"), role),
		chromedp.Evaluate[chromedp.Void](`document.getElementById("chunk-mib").value = ""`),
		chromedp.SendKeys(chromedp.ID("chunk-mib"), chunkMiB),
	)
}

// checkDownload fetches the completed file over HTTP and compares it.
func checkDownload(t *testing.T, srv *server, href string, want []byte) {
	t.Helper()
	if !strings.HasPrefix(href, "/api/files/") {
		t.Fatalf("download link %q does not point at /api/files/", href)
	}
	resp, err := http.Get(srv.URL + href)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || !bytes.Equal(got, want) {
		t.Fatalf("GET %s: status %d, %d bytes, identical %v; want 200 and the %d uploaded bytes",
			href, resp.StatusCode, len(got), bytes.Equal(got, want), len(want))
	}
}

// screenshot saves a full-page PNG under $MEMENOW_ARTIFACTS_DIR, to be kept
// and looked at, or else under the test's own temporary folder (removed with
// it), and logs its path.
func screenshot(t *testing.T, ctx context.Context, name string, width int64) {
	t.Helper()
	do(t, ctx, chromedp.EmulateViewport(width, 800))
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	dir := os.Getenv("MEMENOW_ARTIFACTS_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot at %d px: %s", width, path)
}

// rowState is the state of the first upload row.
const rowState = `document.querySelector("#list .row") && document.querySelector("#list .row").dataset.state`

// waitCompleted waits for the first row to show 100% and its key and returns
// its download link; a row that stops with an error fails the test at once.
func waitCompleted(t *testing.T, ctx context.Context, what string) string {
	t.Helper()
	v := waitFor(t, ctx, what, `(() => {
		const bad = document.querySelector("#list .row[data-state=error] .error");
		if (bad) return "error: " + bad.textContent;
		const r = document.querySelector("#list .row[data-state=completed]");
		return r && r.querySelector("progress").value === 100 && r.querySelector(".status").textContent.includes("100%")
			&& r.querySelector(".key").textContent ? r.querySelector(".link").getAttribute("href") : ""; })()`)
	if strings.HasPrefix(v, "error: ") {
		t.Fatalf("waiting for %s: the page shows %s", what, v)
	}
	return v
}

// TestBrowserUpload uploads a three-chunk file through the page, opened
// from the keyboard, and downloads it back byte for byte.
func TestBrowserUpload(t *testing.T) {
	srv := newServer(t)
	ctx := newBrowser(t)
	logs := watchConsole(ctx)
	path, data := writeFile(t, "holiday video.bin", fileSize, 1)

	open(t, ctx, srv.URL+"/")
	fillForm(t, ctx, "user_1", "member", "5")

	// The drop zone opens the picker from the keyboard.
	if _, err := chromedp.Call(ctx, page.SetInterceptFileChooserDialog, page.SetInterceptFileChooserDialogParams{Enabled: true}); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"\r", " "} {
		wctx, cancel := context.WithTimeout(ctx, time.Minute) // a deadline for a hung page
		defer cancel()
		chooser := chromedp.Events(wctx, page.FileChooserOpened)
		do(t, ctx, chromedp.Focus(chromedp.ID("drop")), chromedp.KeyEvent(key))
		for ev, err := range chooser {
			if err != nil {
				t.Fatalf("key %q did not open the file chooser: %v", key, err)
			}
			if ev.Mode != page.FileChooserOpenedModeSelectMultiple {
				t.Errorf("key %q opened a chooser in mode %q, want selectMultiple", key, ev.Mode)
			}
			break
		}
	}

	do(t, ctx, chromedp.SetUploadFiles(chromedp.ID("file"), []string{path}))
	href := waitCompleted(t, ctx, "the upload to complete")
	key, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#list .row .key")))
	if err != nil {
		t.Fatal(err)
	}
	if want := "member/user_1/"; !strings.HasPrefix(key, want) || !strings.HasSuffix(key, "/holiday video.bin") {
		t.Errorf("key %q, want member/user_1/…/holiday video.bin", key)
	}
	checkDownload(t, srv, href, data)
	arrived, _ := srv.counts()
	if want := map[int]int{0: 1, 1: 1, 2: 1}; !maps.Equal(arrived, want) {
		t.Errorf("chunk PUTs by index %v, want %v", arrived, want)
	}
	detail, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#list .row .detail")))
	if !strings.Contains(detail, "3 of 3 chunks") {
		t.Errorf("row detail %q, want it to say 3 of 3 chunks", detail)
	}
	// The settings are remembered for the next visit.
	do(t, ctx, chromedp.Reload())
	waitFor(t, ctx, "the page script to run", `document.body.dataset.ready`)
	for id, want := range map[string]string{"user-id": "user_1", "user-role": "member", "chunk-mib": "5"} {
		if got, err := chromedp.Run(ctx, chromedp.Value(chromedp.ID(id))); err != nil || got != want {
			t.Errorf("after reload #%s = %q (%v), want %q", id, got, err, want)
		}
	}
	// Two more at once: the same file picked again (a new upload, since the
	// first completed) and a file dropped on the drop zone.
	do(t, ctx,
		chromedp.SetUploadFiles(chromedp.ID("file"), []string{path}),
		chromedp.Evaluate[chromedp.Void](`(() => {
			const dt = new DataTransfer();
			dt.items.add(new File(["dropped bytes\n"], "dropped.txt", { type: "text/plain" }));
			document.getElementById("drop").dispatchEvent(new DragEvent("drop", { dataTransfer: dt, bubbles: true, cancelable: true }));
		})()`),
	)
	links := waitFor(t, ctx, "both uploads to complete", `(() => {
		const done = [...document.querySelectorAll("#list .row[data-state=completed] .link")];
		return done.length === 2 ? done.map((a) => a.getAttribute("href")).join(" ") : ""; })()`)
	hrefs := strings.Fields(links)
	checkDownload(t, srv, hrefs[0], data)
	checkDownload(t, srv, hrefs[1], []byte("dropped bytes\n"))
	if hrefs[0] == href {
		t.Errorf("the second upload of the same file reused the key of the first: %s", href)
	}
	screenshot(t, ctx, "memenow-web-desktop.png", 1280)
	screenshot(t, ctx, "memenow-web-360.png", 360)
	if overflow, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth`)); err != nil || overflow {
		t.Errorf("page wider than a 360 px viewport (overflow %v, %v)", overflow, err)
	}
	if errs := logs.errors(); len(errs) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(errs, "\n"))
	}
}

// TestBrowserPauseReloadResume pauses with chunk 0 stored and chunks 1 and 2
// held in flight, resumes and pauses again, reloads the page, picks the
// same file again, and checks the upload finishes without sending chunk 0
// again.
func TestBrowserPauseReloadResume(t *testing.T) {
	srv := newServer(t)
	ctx := newBrowser(t)
	logs := watchConsole(ctx)
	path, data := writeFile(t, "resume.bin", fileSize, 2)
	srv.hold(1)

	open(t, ctx, srv.URL+"/")
	fillForm(t, ctx, "resumer", "creator", "5")
	do(t, ctx, chromedp.SetUploadFiles(chromedp.ID("file"), []string{path}))
	waitFor(t, ctx, "chunk 0 to be stored", `document.querySelector("#list .row .detail").textContent.includes("1 of 3 chunks")`)

	uploadID := func() string {
		id, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => {
			for (const k of Object.keys(localStorage)) if (k.startsWith("memenow.upload:")) return JSON.parse(localStorage.getItem(k)).upload_id;
			return ""; })()`))
		if err != nil || id == "" {
			t.Fatalf("no upload id remembered in localStorage (%v)", err)
		}
		return id
	}()
	pauseAndCheck := func() {
		t.Helper()
		do(t, ctx, chromedp.Click(chromedp.CSS("#list .row .pause")))
		waitFor(t, ctx, "the row to pause", rowState+` === "paused"`)
		_, chunks, err := srv.svc.Status(ctx, uploadID)
		if err != nil {
			t.Fatal(err)
		}
		if len(chunks) != 1 || chunks[0].Index != 0 {
			t.Fatalf("server has chunks %v after pausing, want only chunk 0", chunks)
		}
	}
	pauseAndCheck()
	screenshot(t, ctx, "memenow-web-paused-360.png", 360) // and go on at 360 px
	do(t, ctx, chromedp.Click(chromedp.CSS("#list .row .resume")))
	waitFor(t, ctx, "the row to upload again", rowState+` === "uploading"`)
	pauseAndCheck()

	do(t, ctx, chromedp.Reload())
	waitFor(t, ctx, "the page script to run", `document.body.dataset.ready`)
	status := waitFor(t, ctx, "the remembered upload", `document.querySelector("#list .row[data-state=waiting] .status").textContent`)
	if !strings.Contains(status, "pick the same file again") {
		t.Errorf("remembered row says %q, want a hint to pick the file again", status)
	}
	srv.release()
	do(t, ctx, chromedp.SetUploadFiles(chromedp.ID("file"), []string{path}))
	href := waitCompleted(t, ctx, "the resumed upload to complete")
	checkDownload(t, srv, href, data)

	arrived, waiting := srv.counts()
	if arrived[0] != 1 {
		t.Errorf("chunk 0 was PUT %d times, want once: the resumed upload must skip stored chunks (all PUTs: %v)", arrived[0], arrived)
	}
	if arrived[1] < 2 || arrived[2] < 2 {
		t.Errorf("chunk PUTs %v, want chunks 1 and 2 sent again after each pause", arrived)
	}
	if waiting != 0 {
		t.Errorf("%d chunk PUTs still held", waiting)
	}
	if errs := logs.errors(); len(errs) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(errs, "\n"))
	}
}

// TestBrowserShowsAPIErrors checks that an error of the API the page cannot
// foresee (a chunk size over this server's maximum of 8 MiB, within the 5
// GiB the page knows of) is shown in the row in words, and that Retry
// after fixing the input completes the upload.
func TestBrowserShowsAPIErrors(t *testing.T) {
	cfg := storage.DefaultConfig()
	cfg.MaxChunkSize = 8 << 20
	api, svc := apitest.NewLocal(t, apitest.LocalOptions{Config: &cfg, Page: web.Handler()})
	srv := startGated(t, api, svc)
	ctx := newBrowser(t)
	logs := watchConsole(ctx)
	path, data := writeFile(t, "small.txt", 1000, 3)

	open(t, ctx, srv.URL+"/")
	fillForm(t, ctx, "user_2", "subscriber", "10")
	do(t, ctx, chromedp.SetUploadFiles(chromedp.ID("file"), []string{path}))
	msg := waitFor(t, ctx, "the error", `(() => { const e = document.querySelector("#list .row[data-state=error] .error");
		return e && !e.hidden ? e.textContent : ""; })()`)
	if !strings.Contains(msg, "chunk_size must be between") || !strings.Contains(msg, "INVALID_FIELD") {
		t.Errorf("error shown %q, want the server's reason and the code INVALID_FIELD", msg)
	}
	screenshot(t, ctx, "memenow-web-error-chunk-size.png", 360)

	fillForm(t, ctx, "user_2", "subscriber", "5")
	do(t, ctx, chromedp.Click(chromedp.CSS("#list .row .resume")))
	href := waitCompleted(t, ctx, "the retried upload to complete")
	checkDownload(t, srv, href, data)
	hidden, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector("#list .row .error").hidden`))
	if err != nil || !hidden {
		t.Errorf("the old error is still shown after the upload completed (%v)", err)
	}
	if errs := logs.errors(http.StatusBadRequest); len(errs) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(errs, "\n"))
	}
}

// fieldState is the error shown next to a field ("" when none), whether
// the field is marked invalid, and whether it has the focus.
func fieldState(t *testing.T, ctx context.Context, id string) (msg string, invalid, focused bool) {
	t.Helper()
	var errID = map[string]string{"user-id": "user-id-error", "user-role": "user-role-error", "chunk-mib": "chunk-error"}[id]
	v, err := chromedp.Run(ctx, chromedp.Evaluate[[]any](fmt.Sprintf(`(() => { const f = document.getElementById(%q), e = document.getElementById(%q);
		return [e.hidden ? "" : e.textContent, f.getAttribute("aria-invalid") === "true", document.activeElement === f]; })()`, id, errID)))
	if err != nil || len(v) != 3 {
		t.Fatalf("reading #%s: %v %v", id, v, err)
	}
	return v[0].(string), v[1].(bool), v[2].(bool)
}

// uploadsOnServer counts the uploads the server has (auth off: all).
func uploadsOnServer(t *testing.T, srv *server) int {
	t.Helper()
	resp, err := http.Get(srv.URL + "/api/uploads")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var page struct {
		Uploads []json.RawMessage `json:"uploads"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		t.Fatal(err)
	}
	return len(page.Uploads)
}

// TestBrowserValidatesForm checks that with auth off the page starts no
// upload it knows the server would refuse: a missing or invalid user id,
// a chunk size out of bounds. It says what is wrong next to the field,
// focuses it, keeps the file picker closed, and clears the message once
// the field is right; an empty file gets a clear message.
func TestBrowserValidatesForm(t *testing.T) {
	api, svc := apitest.NewLocal(t, apitest.LocalOptions{Page: web.Handler()})
	srv := startGated(t, apitest.RefuseEmptyFiles(api), svc) // a server that refuses empty files
	ctx := newBrowser(t)
	logs := watchConsole(ctx)
	path, data := writeFile(t, "checked.bin", 1000, 7)
	emptyPath, _ := writeFile(t, "empty.txt", 0, 8)

	open(t, ctx, srv.URL+"/")
	waitFor(t, ctx, "the /api/me answer", `document.body.dataset.auth === "off"`)
	do(t, ctx, chromedp.Evaluate[chromedp.Void](`localStorage.clear()`))
	fillForm(t, ctx, "", "member", "")
	do(t, ctx, chromedp.SetUploadFiles(chromedp.ID("file"), []string{path}))
	notice := waitFor(t, ctx, "the refusal", `document.getElementById("notice").textContent`)
	if !strings.Contains(notice, "Not uploaded: checked.bin") {
		t.Errorf("notice %q, want it to say the file was not uploaded", notice)
	}
	if msg, invalid, focused := fieldState(t, ctx, "user-id"); !strings.Contains(msg, "Enter a user id") || !invalid || !focused {
		t.Errorf("user id field: message %q, invalid %v, focused %v; want a message, marked and focused", msg, invalid, focused)
	}
	if rows, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#list .row").length`)); err != nil || rows != 0 {
		t.Errorf("%d upload rows (%v), want none", rows, err)
	}
	screenshot(t, ctx, "memenow-web-form-invalid-360.png", 360)

	// The drop zone does not open the picker while the form is wrong.
	if _, err := chromedp.Call(ctx, page.SetInterceptFileChooserDialog, page.SetInterceptFileChooserDialogParams{Enabled: true}); err != nil {
		t.Fatal(err)
	}
	fillForm(t, ctx, "a/b", "member", "")
	if msg, _, _ := fieldState(t, ctx, "user-id"); !strings.Contains(msg, "“/” is not allowed") {
		t.Errorf("user id message %q, want it to name the bad character", msg)
	}
	wctx, cancel := context.WithTimeout(ctx, time.Second)
	chooser := chromedp.Events(wctx, page.FileChooserOpened)
	do(t, ctx, chromedp.Focus(chromedp.ID("drop")), chromedp.KeyEvent("\r"))
	for _, err := range chooser {
		if err == nil {
			t.Error("the drop zone opened the file chooser with an invalid user id")
		}
		break
	}
	cancel()
	if _, _, focused := fieldState(t, ctx, "user-id"); !focused {
		t.Error("the drop zone did not move the focus to the invalid user id")
	}

	// Typing a valid id clears its message at once; chunk sizes out of
	// bounds are refused next to their field.
	fillForm(t, ctx, "user_3", "member", "")
	if msg, invalid, _ := fieldState(t, ctx, "user-id"); msg != "" || invalid {
		t.Errorf("valid user id still marked: %q, %v", msg, invalid)
	}
	for _, mib := range []string{"3", "5.5", "6000"} {
		fillForm(t, ctx, "user_3", "member", mib)
		do(t, ctx, chromedp.SetUploadFiles(chromedp.ID("file"), []string{path}))
		waitFor(t, ctx, "the chunk size refusal", `!document.getElementById("chunk-error").hidden`)
		if msg, invalid, focused := fieldState(t, ctx, "chunk-mib"); !strings.Contains(msg, "from 5 to 5120") || !invalid || !focused {
			t.Errorf("chunk size %s: message %q, invalid %v, focused %v", mib, msg, invalid, focused)
		}
	}
	if n := uploadsOnServer(t, srv); n != 0 {
		t.Fatalf("the server has %d uploads, want none: every attempt so far was invalid", n)
	}

	fillForm(t, ctx, "user_3", "member", "5")
	if msg, _, _ := fieldState(t, ctx, "chunk-mib"); msg != "" {
		t.Errorf("valid chunk size still marked: %q", msg)
	}
	do(t, ctx, chromedp.SetUploadFiles(chromedp.ID("file"), []string{path}))
	href := waitCompleted(t, ctx, "the upload to complete")
	checkDownload(t, srv, href, data)

	// An empty file: this server refuses it, and the row says why.
	do(t, ctx, chromedp.SetUploadFiles(chromedp.ID("file"), []string{emptyPath}))
	msg := waitFor(t, ctx, "the empty file's error", `(() => { const e = document.querySelector("#list .row[data-state=error] .error");
		return e && !e.hidden ? e.textContent : ""; })()`)
	if !strings.Contains(msg, "empty.txt is empty, and this server does not accept empty files") {
		t.Errorf("empty file error %q", msg)
	}
	if errs := logs.errors(http.StatusBadRequest); len(errs) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(errs, "\n"))
	}
}

// TestBrowserRetries answers chunk PUTs and the completion with retryable
// errors once each and checks the page retries them and finishes.
func TestBrowserRetries(t *testing.T) {
	srv := newServer(t)
	faults := map[string]int{
		"PUT /api/upload/chunk 1":   http.StatusServiceUnavailable,
		"PUT /api/upload/chunk 2":   http.StatusTooManyRequests,
		"PUT /api/upload/chunk 0":   http.StatusLocked,
		"POST /api/upload/complete": http.StatusBadGateway,
	}
	srv.faults = maps.Clone(faults)
	ctx := newBrowser(t)
	logs := watchConsole(ctx)
	path, data := writeFile(t, "retried.bin", fileSize, 4)

	open(t, ctx, srv.URL+"/")
	fillForm(t, ctx, "retrier", "creator", "5")
	do(t, ctx, chromedp.SetUploadFiles(chromedp.ID("file"), []string{path}))
	href := waitCompleted(t, ctx, "the upload to complete")
	checkDownload(t, srv, href, data)
	arrived, _ := srv.counts()
	if want := map[int]int{0: 2, 1: 2, 2: 2}; !maps.Equal(arrived, want) {
		t.Errorf("chunk PUTs by index %v, want %v: each failed once and was sent again", arrived, want)
	}
	if len(srv.faults) != 0 {
		t.Errorf("faults never injected: %v", srv.faults)
	}
	if errs := logs.errors(http.StatusServiceUnavailable, http.StatusTooManyRequests, http.StatusLocked, http.StatusBadGateway); len(errs) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(errs, "\n"))
	}
}

// jwtSecret is the HS256 secret of the auth-on test server's identity provider.
var jwtSecret = []byte("web-tests-hs256-secret-of-at-least-32-bytes")

// authHeaders records the Authorization header of every chunk PUT: "user"
// for a JWT, "upload" for an upload token, "" for none.
type authHeaders struct {
	mu    sync.Mutex
	kinds map[string]int
}

func (a *authHeaders) count(kind string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.kinds[kind]
}

// newAuthServer is newServer with auth on: JWTs signed with jwtSecret,
// upload tokens and share links. It records how chunk PUTs authenticate.
func newAuthServer(t *testing.T) (*server, *authHeaders) {
	t.Helper()
	api, svc := apitest.NewLocal(t, apitest.LocalOptions{Secret: jwtSecret, Page: web.Handler()})
	headers := &authHeaders{kinds: map[string]int{}}
	recorder := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && r.URL.Path == "/api/upload/chunk" {
			kind := ""
			switch h := r.Header.Get("Authorization"); {
			case strings.HasPrefix(h, "Bearer "+auth.UploadTokenPrefix):
				kind = "upload"
			case strings.HasPrefix(h, "Bearer "):
				kind = "user"
			}
			headers.mu.Lock()
			headers.kinds[kind]++
			headers.mu.Unlock()
		}
		api.ServeHTTP(w, r)
	})
	return startGated(t, recorder, svc), headers
}

// mintToken returns an HS256 token for sub with role, valid for an hour.
func mintToken(t *testing.T, sub, role string) string {
	return apitest.MintToken(jwtSecret, apitest.Claims{Sub: sub, Role: role})
}

// storedToken returns the token in sessionStorage, and whether any
// localStorage entry (key or value) contains tok.
func storedToken(t *testing.T, ctx context.Context, tok string) (session string, inLocal bool) {
	t.Helper()
	session, err := chromedp.Run(ctx, chromedp.Evaluate[string](`sessionStorage.getItem("memenow.token") || ""`))
	if err != nil {
		t.Fatal(err)
	}
	local, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify(Object.entries(localStorage))`))
	if err != nil {
		t.Fatal(err)
	}
	return session, strings.Contains(local, tok)
}

// waitSavedFile waits for a finished file in dir (the browser's download
// folder) and returns its bytes.
func waitSavedFile(t *testing.T, dir string) []byte {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if strings.HasSuffix(e.Name(), ".crdownload") {
				continue
			}
			if b, err := os.ReadFile(filepath.Join(dir, e.Name())); err == nil {
				return b
			}
		}
	}
	t.Fatalf("no download finished in %s", dir)
	return nil
}

// TestBrowserSignInFromURL opens the page with #token=…, checks who it
// says is signed in and where the token is kept, uploads a private file,
// and downloads it back through the page's link.
func TestBrowserSignInFromURL(t *testing.T) {
	srv, headers := newAuthServer(t)
	ctx := newBrowser(t)
	logs := watchConsole(ctx)
	tok := mintToken(t, "alice", "creator")
	path, data := writeFile(t, "secret plan.bin", fileSize, 5)

	open(t, ctx, srv.URL+"/#token="+tok)
	who := waitFor(t, ctx, "the sign-in", `document.body.dataset.signedIn === "true" && document.getElementById("who").textContent`)
	if who != "Signed in as alice (creator)" {
		t.Errorf("the page says %q, want %q", who, "Signed in as alice (creator)")
	}
	if shown, err := chromedp.Run(ctx, chromedp.Evaluate[string](`[["token field", "#token"], ["sign-out button", "#sign-out"]]
		.map(([name, sel]) => name + ": " + (document.querySelector(sel).offsetParent !== null)).join(", ")`)); err != nil || shown != "token field: false, sign-out button: true" {
		t.Errorf("signed in, the page shows %q (%v); want the sign-out button and no token field", shown, err)
	}
	href, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href`))
	if err != nil || strings.Contains(href, tok[len(tok)-16:]) || strings.Contains(href, "#") {
		t.Errorf("address bar %q (%v): the token must be removed from it", href, err)
	}
	if session, inLocal := storedToken(t, ctx, tok); session != tok || inLocal {
		t.Errorf("sessionStorage token %v, token in localStorage %v; want it in sessionStorage only", session == tok, inLocal)
	}
	if v, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => { const u = document.getElementById("user-id");
		return u.value + " " + u.readOnly + " " + document.getElementById("user-role").value; })()`)); err != nil || v != "alice true creator" {
		t.Errorf("owner fields %q (%v), want alice, read-only, creator", v, err)
	}

	do(t, ctx, chromedp.Evaluate[chromedp.Void](`document.getElementById("chunk-mib").value = "5"`),
		chromedp.SetUploadFiles(chromedp.ID("file"), []string{path}))
	link := waitCompleted(t, ctx, "the upload to complete")
	key, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#list .row .key")))
	if err != nil || !strings.HasPrefix(key, "creator/alice/") {
		t.Errorf("key %q (%v), want it under creator/alice/", key, err)
	}
	if n := headers.count("upload"); n != 3 || headers.count("") != 0 {
		t.Errorf("chunk PUTs by credential %v, want all 3 with the upload's token", headers.kinds)
	}
	// The file is private: a plain GET without the token does not find it.
	resp, err := http.Get(srv.URL + link)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET %s without a token: %d, want 404", link, resp.StatusCode)
	}
	// The page's link downloads it with the token.
	dir := t.TempDir()
	if _, err := chromedp.Call(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: dir,
	}); err != nil {
		t.Fatal(err)
	}
	do(t, ctx, chromedp.Click(chromedp.CSS("#list .row .link")))
	if got := waitSavedFile(t, dir); !bytes.Equal(got, data) {
		t.Errorf("the page's download gave %d bytes, identical %v; want the %d uploaded", len(got), bytes.Equal(got, data), len(data))
	}

	// A reload keeps the tab signed in, still without the token in localStorage.
	do(t, ctx, chromedp.Reload())
	waitFor(t, ctx, "the sign-in after a reload", `document.body.dataset.signedIn === "true"`)
	if session, inLocal := storedToken(t, ctx, tok); session != tok || inLocal {
		t.Errorf("after reload: sessionStorage token %v, token in localStorage %v", session == tok, inLocal)
	}
	screenshot(t, ctx, "memenow-web-signed-in-360.png", 360)
	if overflow, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth`)); err != nil || overflow {
		t.Errorf("page wider than a 360 px viewport (overflow %v, %v)", overflow, err)
	}
	if errs := logs.errors(); len(errs) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(errs, "\n"))
	}
}

// TestBrowserNeedsToken opens an auth-on server's page without a token,
// checks that it asks for one and that an upload stops for want of it,
// then signs in by pasting the token and sees the upload finish; a refused
// token is reported and forgotten.
func TestBrowserNeedsToken(t *testing.T) {
	srv, _ := newAuthServer(t)
	ctx := newBrowser(t)
	logs := watchConsole(ctx)
	path, data := writeFile(t, "later.txt", 1000, 6)

	open(t, ctx, srv.URL+"/")
	who := waitFor(t, ctx, "the token prompt", `document.body.dataset.auth === "on" && document.getElementById("who").textContent`)
	if !strings.Contains(who, "requires a token") {
		t.Errorf("the page says %q, want it to ask for a token", who)
	}
	if visible, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`!document.getElementById("signin").hidden && !document.getElementById("token-row").hidden`)); err != nil || !visible {
		t.Errorf("token field shown %v (%v), want it shown", visible, err)
	}
	do(t, ctx, chromedp.SetUploadFiles(chromedp.ID("file"), []string{path}))
	msg := waitFor(t, ctx, "the error", `(() => { const e = document.querySelector("#list .row[data-state=error] .error");
		return e && !e.hidden ? e.textContent : ""; })()`)
	if !strings.Contains(msg, "requires a token") {
		t.Errorf("row error %q, want it to say a token is needed", msg)
	}
	screenshot(t, ctx, "memenow-web-token-needed-360.png", 360)

	tok := mintToken(t, "bob", "member")
	do(t, ctx, chromedp.SendKeys(chromedp.ID("token"), tok), chromedp.Click(chromedp.ID("sign-in")))
	waitFor(t, ctx, "the sign-in", `document.body.dataset.signedIn === "true"`)
	href := waitCompleted(t, ctx, "the stopped upload to go on and complete")
	if v, err := chromedp.Run(ctx, chromedp.Value(chromedp.ID("token"))); err != nil || v != "" {
		t.Errorf("the token field still holds %d characters (%v)", len(v), err)
	}
	if session, inLocal := storedToken(t, ctx, tok); session != tok || inLocal {
		t.Errorf("sessionStorage token %v, token in localStorage %v; want it in sessionStorage only", session == tok, inLocal)
	}
	req, _ := http.NewRequest(http.MethodGet, srv.URL+href, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Equal(got, data) {
		t.Errorf("GET %s with bob's token: %d, %d bytes; want 200 and the uploaded bytes", href, resp.StatusCode, len(got))
	}

	// Sign out, then a token the server refuses.
	do(t, ctx, chromedp.Click(chromedp.ID("sign-out")))
	waitFor(t, ctx, "the sign-out", `document.body.dataset.signedIn === "false" && document.getElementById("who").textContent.includes("requires a token")`)
	if session, _ := storedToken(t, ctx, tok); session != "" {
		t.Error("the token is still in sessionStorage after signing out")
	}
	do(t, ctx, chromedp.Navigate(srv.URL+"/#token=not-a-valid-token"))
	who = waitFor(t, ctx, "the refusal", `document.getElementById("who").dataset.state === "refused" && document.getElementById("who").textContent`)
	if !strings.Contains(who, "not accepted") {
		t.Errorf("the page says %q, want it to say the token was not accepted", who)
	}
	if session, _ := storedToken(t, ctx, "not-a-valid-token"); session != "" {
		t.Errorf("a refused token is kept in sessionStorage: %q", session)
	}
	if errs := logs.errors(http.StatusUnauthorized); len(errs) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(errs, "\n"))
	}
}

// TestBrowserAuthOffShowsNoSignIn checks that with auth off the page shows
// no token field and sends no Authorization header.
func TestBrowserAuthOffShowsNoSignIn(t *testing.T) {
	srv := newServer(t)
	ctx := newBrowser(t)
	open(t, ctx, srv.URL+"/")
	waitFor(t, ctx, "the /api/me answer", `document.body.dataset.auth === "off"`)
	hidden, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("signin").hidden && document.getElementById("public-row").hidden && !document.getElementById("user-id").readOnly`))
	if err != nil || !hidden {
		t.Errorf("sign-in shown or owner fields locked with auth off (%v)", err)
	}
}
