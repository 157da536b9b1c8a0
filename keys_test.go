package storage

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

func TestSanitizeFileName(t *testing.T) {
	long := strings.Repeat("a", 300) + ".mp4"
	longUTF8 := strings.Repeat("é", 200) + ".pdf" // 2 bytes a rune
	tests := []struct{ in, want string }{
		{"video.mp4", "video.mp4"},
		{"../../etc/passwd", "passwd"},
		{`..\..\windows\system32\cmd.exe`, "cmd.exe"},
		{"/absolute/path/file.txt", "file.txt"},
		{"dir/", "file"},
		{"..", "file"},
		{".", "file"},
		{"...", "file"},
		{"", "file"},
		{"   ", "file"},
		{".bashrc", "bashrc"},
		{"name.", "name"},
		{"a\x00b\nc\td.txt", "abcd.txt"},
		{"bad\xffutf8.txt", "badutf8.txt"},
		{"rtl\u202Egnp.exe", "rtlgnp.exe"},
		{"日本語 ファイル.png", "日本語 ファイル.png"},
		{"spaces inside.mov", "spaces inside.mov"},
		{long, strings.Repeat("a", 251) + ".mp4"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := SanitizeFileName(tt.in); got != tt.want {
				t.Errorf("SanitizeFileName(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
	got := SanitizeFileName(longUTF8)
	if len(got) > MaxFileNameBytes || !utf8.ValidString(got) || !strings.HasSuffix(got, ".pdf") {
		t.Errorf("SanitizeFileName(long UTF-8) = %q (%d bytes), want ≤ %d valid bytes ending .pdf", got, len(got), MaxFileNameBytes)
	}
}

// TestSanitizeFileNameNFC checks that a name typed in NFC and in NFD (as
// macOS file systems hand it out) gives the same sanitised name and key.
func TestSanitizeFileNameNFC(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"NFC café", "caf\u00e9.txt", "caf\u00e9.txt"},
		{"NFD café", "cafe\u0301.txt", "caf\u00e9.txt"},
		{"NFD Å (A + ring)", "A\u030angstr\u00f6m.pdf", "\u00c5ngstr\u00f6m.pdf"},
		{"Ångström sign U+212B", "\u212bngstr\u00f6m.pdf", "\u00c5ngstr\u00f6m.pdf"},
		{"Hangul jamo", "\u1100\u1161\u11a8.hwp", "\uac01.hwp"},
		{"marks in canonical order", "a\u0301\u0323.txt", "\u1ea1\u0301.txt"},
		{"compatibility forms are kept (NFC, not NFKC)", "\ufb01le \u2460.txt", "\ufb01le \u2460.txt"},
		{"format character between letter and accent", "e\u200d\u0301.txt", "\u00e9.txt"},
		{"NFD in a path", "dir/cafe\u0301/cafe\u0301", "caf\u00e9"},
		{"trailing dot after NFC", "cafe\u0301.", "caf\u00e9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := SanitizeFileName(tt.in)
			if got != tt.want {
				t.Errorf("SanitizeFileName(%+q) = %+q, want %+q", tt.in, got, tt.want)
			}
			if !norm.NFC.IsNormalString(got) || SanitizeFileName(got) != got {
				t.Errorf("SanitizeFileName(%+q) = %+q is not NFC or not stable", tt.in, got)
			}
		})
	}
	day := time.Date(2024, 1, 13, 0, 0, 0, 0, time.UTC)
	nfc := ObjectKey(RoleMember, "u", day, "text/plain", SanitizeFileName("caf\u00e9.txt"))
	nfd := ObjectKey(RoleMember, "u", day, "text/plain", SanitizeFileName("cafe\u0301.txt"))
	if nfc != nfd {
		t.Errorf("keys differ for NFC and NFD café: %+q and %+q", nfc, nfd)
	}
}

// TestSanitizeFileNameTruncation checks the cut at MaxFileNameBytes: no
// trailing dot or space exposed by the cut, no letter parted from its
// accent, and a stable result (the cases the fuzzer found).
func TestSanitizeFileNameTruncation(t *testing.T) {
	tests := []struct {
		name, in string
		check    func(got string) bool
	}{
		{"space exposed by the cut", strings.Repeat("é", 127) + " 00000000",
			func(got string) bool { return got == strings.Repeat("é", 127) }},
		{"dot exposed by the cut, long extension", strings.Repeat("a", 254) + ".tar.gz" + strings.Repeat("z", 20),
			func(got string) bool { return got == strings.Repeat("a", 254) }},
		{"dots and spaces before a kept extension", "a" + strings.Repeat(". ", 200) + ".mp4",
			func(got string) bool { return got == "a.mp4" }},
		{"letter with accents not cut apart", strings.Repeat("x", 250) + "q\u0307\u0323\u0301zz",
			func(got string) bool { return got == strings.Repeat("x", 250) }},
		{"4-byte runes", strings.Repeat("😀", 100) + ".png",
			func(got string) bool { return got == strings.Repeat("😀", 62)+".png" }},
		{"long run of combining marks", "a" + strings.Repeat("\u0301", 300),
			func(got string) bool { return utf8.ValidString(got) && strings.HasPrefix(got, "\u00e1") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := SanitizeFileName(tt.in)
			if len(got) > MaxFileNameBytes || !tt.check(got) {
				t.Errorf("SanitizeFileName(%d-byte %+.40q…) = %+q (%d bytes)", len(tt.in), tt.in, got, len(got))
			}
			if again := SanitizeFileName(got); again != got {
				t.Errorf("not stable: %+q → %+q", got, again)
			}
			if !norm.NFC.IsNormalString(got) {
				t.Errorf("%+q is not NFC", got)
			}
		})
	}
}

func TestAlternativeFileName(t *testing.T) {
	tests := []struct{ name, suffix, want string }{
		{"video.mp4", "2", "video-2.mp4"},
		{"archive.tar.gz", "3", "archive.tar-3.gz"},
		{"README", "2", "README-2"},
		{strings.Repeat("x", 251) + ".mp4", "12", strings.Repeat("x", 248) + "-12.mp4"},
		{strings.Repeat("x", 247) + "...mp4", "12", strings.Repeat("x", 247) + "-12.mp4"},
		{strings.Repeat("é", 120) + "e.mp4", "2", strings.Repeat("é", 120) + "e-2.mp4"},
		{strings.Repeat("é", 125) + ".mp4", "0123abcd", strings.Repeat("é", 121) + "-0123abcd.mp4"},
		// An extension over 16 bytes is part of the stem (it used to make
		// the stem's limit negative and panic).
		{"a." + strings.Repeat("x", 252), "2", "a." + strings.Repeat("x", 251) + "-2"},
	}
	for _, tt := range tests {
		got := AlternativeFileName(tt.name, tt.suffix)
		if got != tt.want {
			t.Errorf("AlternativeFileName(%q, %q) = %q, want %q", tt.name, tt.suffix, got, tt.want)
		}
		if len(got) > MaxFileNameBytes {
			t.Errorf("AlternativeFileName(%q) is %d bytes", tt.name, len(got))
		}
	}
}

func TestCategory(t *testing.T) {
	tests := map[string]string{
		"image/jpeg": "image", "IMAGE/PNG": "image", "video/mp4": "video", "audio/mpeg": "audio",
		"text/plain; charset=utf-8": "document", "application/pdf": "document", "application/msword": "document",
		"application/vnd.openxmlformats-officedocument.wordprocessingml.document": "document",
		"application/vnd.ms-excel": "document", "application/vnd.oasis.opendocument.text": "document",
		"application/zip": "other", "application/octet-stream": "other", "font/woff2": "other",
	}
	for ct, want := range tests {
		if got := Category(ct); got != want {
			t.Errorf("Category(%q) = %q, want %q", ct, got, want)
		}
	}
}

func TestObjectKey(t *testing.T) {
	day := time.Date(2024, 1, 12, 23, 30, 0, 0, time.FixedZone("x", -5*3600)) // 2024-01-13 in UTC
	got := ObjectKey(RoleCreator, "user123", day, "video/mp4", "presentation.mp4")
	if want := "creator/user123/20240113/video/presentation.mp4"; got != want {
		t.Errorf("ObjectKey = %q, want %q", got, want)
	}
}

func TestValidUserID(t *testing.T) {
	for _, id := range []string{"user123", "User_1", "a-b", strings.Repeat("x", 64)} {
		if !ValidUserID(id) {
			t.Errorf("ValidUserID(%q) = false", id)
		}
	}
	for _, id := range []string{"", "a/b", "a b", "../x", "user.1", "ü", strings.Repeat("x", 65), "a\x00"} {
		if ValidUserID(id) {
			t.Errorf("ValidUserID(%q) = true", id)
		}
	}
}

func TestNormalizeContentType(t *testing.T) {
	ok := map[string]string{
		"":                          DefaultContentType,
		"video/mp4":                 "video/mp4",
		"Text/Plain; Charset=UTF-8": "text/plain; charset=UTF-8",
	}
	for in, want := range ok {
		got, valid := NormalizeContentType(in)
		if !valid || got != want {
			t.Errorf("NormalizeContentType(%q) = %q, %v; want %q, true", in, got, valid, want)
		}
	}
	for _, in := range []string{"video", "/mp4", "video/", "a/b/c", "vi deo/mp4", "video/mp4; =x", "\x00/x"} {
		if got, valid := NormalizeContentType(in); valid {
			t.Errorf("NormalizeContentType(%q) = %q, true; want invalid", in, got)
		}
	}
}

func TestValidKey(t *testing.T) {
	for _, k := range []string{"creator/u/20240101/video/a.mp4", "a", "a/b%2e"} {
		if !ValidKey(k) {
			t.Errorf("ValidKey(%q) = false", k)
		}
	}
	for _, k := range []string{"", "/a", "a/", "a//b", "../a", "a/../b", "a/./b", `a\b`, "a\x00b", "a\nb", strings.Repeat("a", 1025)} {
		if ValidKey(k) {
			t.Errorf("ValidKey(%q) = true", k)
		}
	}
}

// FuzzSanitizeFileName checks the sanitiser's promises on any input: a
// non-empty name of valid UTF-8, at most MaxFileNameBytes, that is one path
// segment, starts with no dot, has no control characters, and is stable.
func FuzzSanitizeFileName(f *testing.F) {
	for _, seed := range []string{"video.mp4", "../../x", "..", "a\x00b", "\xff\xfe", strings.Repeat("é", 300)} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got := SanitizeFileName(in)
		if got == "" || len(got) > MaxFileNameBytes || !utf8.ValidString(got) {
			t.Fatalf("SanitizeFileName(%q) = %q: empty, too long or invalid UTF-8", in, got)
		}
		if strings.ContainsAny(got, `/\`) || strings.HasPrefix(got, ".") || got == ".." {
			t.Fatalf("SanitizeFileName(%q) = %q: not a safe single segment", in, got)
		}
		for _, r := range got {
			if r < 0x20 || r == 0x7f {
				t.Fatalf("SanitizeFileName(%q) = %q: control character", in, got)
			}
		}
		if strings.HasSuffix(got, ".") || strings.HasSuffix(got, " ") || strings.HasPrefix(got, " ") {
			t.Fatalf("SanitizeFileName(%q) = %q: leading space, or trailing dot or space", in, got)
		}
		if !norm.NFC.IsNormalString(got) {
			t.Fatalf("SanitizeFileName(%q) = %q: not NFC (NFC is %q)", in, got, norm.NFC.String(got))
		}
		if again := SanitizeFileName(got); again != got {
			t.Fatalf("SanitizeFileName not stable: %q → %q → %q", in, got, again)
		}
		if nfd := SanitizeFileName(norm.NFD.String(in)); nfd != got {
			t.Fatalf("SanitizeFileName(NFD of %q) = %q, want %q as for the input", in, nfd, got)
		}
		key := ObjectKey(RoleMember, "u", time.Unix(0, 0), "", got)
		if !ValidKey(key) {
			t.Fatalf("key %q from sanitised %q is not valid", key, got)
		}
		// The names tried when a key is taken follow the same rules.
		for _, suffix := range []string{"2", "12", "0123abcd"} {
			alt := AlternativeFileName(got, suffix)
			if len(alt) > MaxFileNameBytes || alt == got || SanitizeFileName(alt) != alt {
				t.Fatalf("AlternativeFileName(%q, %q) = %q (%d bytes): too long, unchanged or not sanitised (%q)",
					got, suffix, alt, len(alt), SanitizeFileName(alt))
			}
		}
	})
}
