package httpapi_test

import (
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// uploadFile uploads data in one chunk under fileName, declared as
// contentType (none when empty), and returns its key.
func uploadFile(t *testing.T, baseURL, fileName, contentType string, data []byte) string {
	t.Helper()
	fields := map[string]any{"file_name": fileName, "total_size": len(data), "user_id": "downloader", "user_role": "member"}
	if contentType != "" {
		fields["content_type"] = contentType
	}
	body, err := json.Marshal(fields)
	if err != nil {
		t.Fatal(err)
	}
	resp := post(t, baseURL+"/api/upload/init", string(body))
	if resp.StatusCode != 200 {
		t.Fatalf("init %q as %q: %d %v", fileName, contentType, resp.StatusCode, decode(t, resp))
	}
	id, _ := decode(t, resp)["upload_id"].(string)
	req, err := http.NewRequest("PUT", baseURL+"/api/upload/chunk", strings.NewReader(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Upload-Id", id)
	req.Header.Set("X-Chunk-Index", "0")
	chunk, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if chunk.StatusCode != 200 {
		t.Fatalf("chunk of %q: %d %v", fileName, chunk.StatusCode, decode(t, chunk))
	}
	chunk.Body.Close()
	done := post(t, baseURL+"/api/upload/complete", `{"upload_id":"`+id+`"}`)
	if done.StatusCode != 200 {
		t.Fatalf("complete %q: %d %v", fileName, done.StatusCode, decode(t, done))
	}
	key, _ := decode(t, done)["r2_key"].(string)
	return key
}

// fileURL is the download URL of a key, each segment escaped.
func fileURL(baseURL, key string) string {
	segs := strings.Split(key, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return baseURL + "/api/files/" + strings.Join(segs, "/")
}

// fetch sends method to u and returns the response with its body read.
func fetch(t *testing.T, method, u string, header map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

// securityHeaders are sent with every download, whatever its type.
var securityHeaders = map[string]string{
	"X-Content-Type-Options":       "nosniff",
	"Content-Security-Policy":      "default-src 'none'; sandbox",
	"Cross-Origin-Resource-Policy": "same-site",
	"Referrer-Policy":              "no-referrer",
}

// checkDownloadHeaders checks the security headers, the Content-Type and
// the disposition of a download, and that Content-Disposition names the
// file both ways and parses.
func checkDownloadHeaders(t *testing.T, resp *http.Response, wantType, wantDisposition, wantName string) {
	t.Helper()
	for k, want := range securityHeaders {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	if got := resp.Header.Get("Content-Type"); got != wantType {
		t.Errorf("Content-Type %q, want %q", got, wantType)
	}
	cd := resp.Header.Get("Content-Disposition")
	disposition, params, err := mime.ParseMediaType(cd)
	if err != nil || disposition != wantDisposition || params["filename"] != wantName {
		t.Errorf("Content-Disposition %q: %q with name %q (%v), want %s with name %q", cd, disposition, params["filename"], err, wantDisposition, wantName)
	}
}

// TestDownloadDisposition uploads one file of each type and checks which
// are sent inline and which as attachments, and the headers every download
// carries, on GET, HEAD, a range and with ?download=1.
func TestDownloadDisposition(t *testing.T) {
	const attachment, inline = "attachment", "inline"
	tests := []struct {
		declared, fileName string
		wantType, want     string
	}{
		{"text/html", "page.html", "text/html", attachment},
		{"text/html;charset=utf-8", "page.html", "text/html; charset=utf-8", attachment},
		{"TEXT/HTML", "page.html", "text/html", attachment},
		{"", "page.html", "text/html; charset=utf-8", attachment}, // type from the extension
		{"text/html", "notes.txt", "text/html", attachment},       // the declared type, not the name, decides
		{"image/svg+xml", "logo.svg", "image/svg+xml", attachment},
		{"image/svg+xml; charset=utf-8", "logo.svg", "image/svg+xml; charset=utf-8", attachment},
		{"application/xml", "data.xml", "application/xml", attachment},
		{"text/xml", "data.xml", "text/xml", attachment},
		{"application/xhtml+xml", "page.xhtml", "application/xhtml+xml", attachment},
		{"application/rss+xml", "feed.rss", "application/rss+xml", attachment},
		{"application/javascript", "app.js", "application/javascript", attachment},
		{"text/javascript", "app.js", "text/javascript", attachment},
		{"application/ecmascript", "app.es", "application/ecmascript", attachment},
		{"text/css", "style.css", "text/css", attachment},
		{"application/json", "data.json", "application/json", attachment},
		{"application/octet-stream", "blob.bin", "application/octet-stream", attachment},
		{"application/x-made-up", "thing.made", "application/x-made-up", attachment},
		{"multipart/x-mixed-replace; boundary=x", "stream", "multipart/x-mixed-replace; boundary=x", attachment},
		{"image/png", "photo.png", "image/png", inline},
		{"IMAGE/PNG", "photo.png", "image/png", inline},
		{"image/jpeg", "photo.jpg", "image/jpeg", inline},
		{"video/mp4", "clip.mp4", "video/mp4", inline},
		{"audio/mpeg", "song.mp3", "audio/mpeg", inline},
		{"application/pdf", "report.pdf", "application/pdf", inline},
		{"text/plain", "notes.txt", "text/plain", inline},
		{"text/plain; charset=utf-8", "notes.txt", "text/plain; charset=utf-8", inline},
	}
	srv := startServer(t, newService(t))
	data := "<script>document.title='pwned'</script>"
	for _, tt := range tests {
		t.Run(tt.declared+" "+tt.fileName, func(t *testing.T) {
			key := uploadFile(t, srv.URL, tt.fileName, tt.declared, []byte(data))
			name := key[strings.LastIndex(key, "/")+1:]
			u := fileURL(srv.URL, key)

			resp, body := fetch(t, "GET", u, nil)
			if resp.StatusCode != 200 || body != data {
				t.Fatalf("GET: %d %q", resp.StatusCode, body)
			}
			checkDownloadHeaders(t, resp, tt.wantType, tt.want, name)

			resp, body = fetch(t, "HEAD", u, nil)
			if resp.StatusCode != 200 || body != "" {
				t.Fatalf("HEAD: %d %q", resp.StatusCode, body)
			}
			checkDownloadHeaders(t, resp, tt.wantType, tt.want, name)

			resp, body = fetch(t, "GET", u, map[string]string{"Range": "bytes=0-7"})
			if resp.StatusCode != 206 || body != data[:8] {
				t.Fatalf("range: %d %q", resp.StatusCode, body)
			}
			checkDownloadHeaders(t, resp, tt.wantType, tt.want, name)

			for _, q := range []string{"?download=1", "?download=true"} {
				resp, _ = fetch(t, "GET", u+q, nil)
				if resp.StatusCode != 200 {
					t.Fatalf("GET %s: %d", q, resp.StatusCode)
				}
				checkDownloadHeaders(t, resp, tt.wantType, attachment, name)
			}
			resp, _ = fetch(t, "GET", u+"?download=0", nil)
			checkDownloadHeaders(t, resp, tt.wantType, tt.want, name)
		})
	}
}

// fallbackName reads the quoted filename parameter as sent.
var fallbackName = regexp.MustCompile(`; filename="([^"]*)"; `)

// TestDownloadFileName checks how file names reach Content-Disposition:
// the exact (sanitised, NFC) name in filename*, a printable-ASCII fallback
// without quotes, backslashes or percent signs in filename, and never a
// line break or other control character in the header.
func TestDownloadFileName(t *testing.T) {
	tests := []struct {
		in, name, fallback, encoded string
	}{
		{"plain.txt", "plain.txt", "plain.txt", "plain.txt"},
		{"my holiday photo.png", "my holiday photo.png", "my holiday photo.png", "my%20holiday%20photo.png"},
		{`say "hi".txt`, `say "hi".txt`, "say _hi_.txt", "say%20%22hi%22.txt"},
		{`dir\back\slash.txt`, "slash.txt", "slash.txt", "slash.txt"}, // a backslash is a path separator
		{"caf\u00e9 \u65e5\u672c.txt", "caf\u00e9 \u65e5\u672c.txt", "caf_ __.txt", "caf%C3%A9%20%E6%97%A5%E6%9C%AC.txt"},
		{"cafe\u0301 nfd.txt", "caf\u00e9 nfd.txt", "caf_ nfd.txt", "caf%C3%A9%20nfd.txt"},
		{"emoji \U0001F600.txt", "emoji \U0001F600.txt", "emoji _.txt", "emoji%20%F0%9F%98%80.txt"},
		{"a;b=c,d.txt", "a;b=c,d.txt", "a;b=c,d.txt", "a%3Bb%3Dc%2Cd.txt"},
		{"100% sure.txt", "100% sure.txt", "100_ sure.txt", "100%25%20sure.txt"},
		{"it's (1) [x] {y} <z>.txt", "it's (1) [x] {y} <z>.txt", "it's (1) [x] {y} <z>.txt",
			"it%27s%20%281%29%20%5Bx%5D%20%7By%7D%20%3Cz%3E.txt"},
		{"line\r\nbreak\x00\t.txt", "linebreak.txt", "linebreak.txt", "linebreak.txt"},
		{"tab\u2028sep\u202e.txt", "tabsep.txt", "tabsep.txt", "tabsep.txt"},
		{"attr!#$&+-.^_`|~.txt", "attr!#$&+-.^_`|~.txt", "attr!#$&+-.^_`|~.txt", "attr!#$&+-.^_`|~.txt"},
	}
	srv := startServer(t, newService(t))
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			key := uploadFile(t, srv.URL, tt.in, "text/plain", []byte("x"))
			resp, _ := fetch(t, "GET", fileURL(srv.URL, key)+"?download=1", nil)
			if resp.StatusCode != 200 {
				t.Fatalf("GET: %d", resp.StatusCode)
			}
			cd := resp.Header.Get("Content-Disposition")
			want := `attachment; filename="` + tt.fallback + `"; filename*=UTF-8''` + tt.encoded
			if cd != want {
				t.Errorf("Content-Disposition\n got %q\nwant %q", cd, want)
			}
			checkDispositionSafe(t, cd, tt.name)
		})
	}
	// A taken name gets an alternative, and the download offers that one.
	uploadFile(t, srv.URL, "twice.txt", "text/plain", []byte("1"))
	key := uploadFile(t, srv.URL, "twice.txt", "text/plain", []byte("2"))
	resp, _ := fetch(t, "GET", fileURL(srv.URL, key), nil)
	checkDownloadHeaders(t, resp, "text/plain", "inline", "twice-2.txt")
}

// checkDispositionSafe checks the promises about a Content-Disposition
// value whatever the name: printable ASCII only, a fallback without '"',
// '\' or '%', and a filename* that decodes to name.
func checkDispositionSafe(t *testing.T, cd, name string) {
	t.Helper()
	for i := 0; i < len(cd); i++ {
		if c := cd[i]; c < 0x20 || c >= 0x7f {
			t.Fatalf("Content-Disposition %q has byte %#x at %d", cd, c, i)
		}
	}
	m := fallbackName.FindStringSubmatch(cd)
	if m == nil || strings.ContainsAny(m[1], `"\%`) {
		t.Fatalf("Content-Disposition %q: fallback name missing or unsafe", cd)
	}
	if _, params, err := mime.ParseMediaType(cd); err != nil || params["filename"] != name {
		t.Fatalf("Content-Disposition %q decodes to %q (%v), want %q", cd, params["filename"], err, name)
	}
}
