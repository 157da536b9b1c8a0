package storage

import "testing"

func TestContentTypeByName(t *testing.T) {
	tests := []struct{ name, want, category string }{
		{"clip.mp4", "video/mp4", "video"},
		{"CLIP.MOV", "video/quicktime", "video"},
		{"a.b.mkv", "video/x-matroska", "video"},
		{"song.mp3", "audio/mpeg", "audio"},
		{"photo.JPG", "image/jpeg", "image"},
		{"drawing.svg", "image/svg+xml", "image"},
		{"report.pdf", "application/pdf", "document"},
		{"notes.txt", "text/plain; charset=utf-8", "document"},
		{"sheet.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "document"},
		{"slides.odp", "application/vnd.oasis.opendocument.presentation", "document"},
		{"backup.tar.gz", "application/gzip", "other"},
		{"README", DefaultContentType, "other"},
		{"file.", DefaultContentType, "other"},
		{".mp4", "video/mp4", "video"},
		{"x.exe", DefaultContentType, "other"},
	}
	for _, tt := range tests {
		got := ContentTypeByName(tt.name)
		if got != tt.want {
			t.Errorf("ContentTypeByName(%q) = %q, want %q", tt.name, got, tt.want)
		}
		if c := Category(got); c != tt.category {
			t.Errorf("Category(ContentTypeByName(%q)) = %q, want %q", tt.name, c, tt.category)
		}
	}
}

// TestTypesByExtensionAreNormal checks that every type of the table is
// already in the form NormalizeContentType gives, as a client's would be.
func TestTypesByExtensionAreNormal(t *testing.T) {
	for ext, typ := range typesByExtension {
		if got, ok := NormalizeContentType(typ); !ok || got != typ {
			t.Errorf("%s: %q normalizes to %q (ok=%v)", ext, typ, got, ok)
		}
	}
}
