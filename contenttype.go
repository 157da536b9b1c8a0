package storage

import (
	"path"
	"strings"
)

// typesByExtension maps common file extensions (lower case, with the dot)
// to their MIME types. It is fixed, unlike mime.TypeByExtension, which also
// reads the host's mime.types, so that a key's category does not depend on
// the machine that served the init.
var typesByExtension = map[string]string{
	// video
	".mp4": "video/mp4", ".m4v": "video/x-m4v", ".mov": "video/quicktime", ".avi": "video/x-msvideo",
	".mkv": "video/x-matroska", ".webm": "video/webm", ".wmv": "video/x-ms-wmv", ".flv": "video/x-flv",
	".mpeg": "video/mpeg", ".mpg": "video/mpeg", ".3gp": "video/3gpp", ".ts": "video/mp2t",
	// audio
	".mp3": "audio/mpeg", ".wav": "audio/wav", ".aac": "audio/aac", ".m4a": "audio/mp4",
	".flac": "audio/flac", ".ogg": "audio/ogg", ".oga": "audio/ogg", ".opus": "audio/opus",
	".wma": "audio/x-ms-wma", ".aiff": "audio/aiff", ".mid": "audio/midi", ".midi": "audio/midi",
	// image
	".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".gif": "image/gif",
	".webp": "image/webp", ".avif": "image/avif", ".heic": "image/heic", ".heif": "image/heif",
	".bmp": "image/bmp", ".tif": "image/tiff", ".tiff": "image/tiff", ".svg": "image/svg+xml",
	".ico": "image/vnd.microsoft.icon",
	// document
	".txt": "text/plain; charset=utf-8", ".md": "text/markdown; charset=utf-8", ".csv": "text/csv; charset=utf-8",
	".html": "text/html; charset=utf-8", ".htm": "text/html; charset=utf-8", ".rtf": "application/rtf",
	".pdf": "application/pdf", ".json": "application/json", ".epub": "application/epub+zip",
	".doc": "application/msword", ".xls": "application/vnd.ms-excel", ".ppt": "application/vnd.ms-powerpoint",
	".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
	".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
	".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
	".odt":  "application/vnd.oasis.opendocument.text", ".ods": "application/vnd.oasis.opendocument.spreadsheet",
	".odp": "application/vnd.oasis.opendocument.presentation",
	// other
	".zip": "application/zip", ".gz": "application/gzip", ".tar": "application/x-tar",
	".7z": "application/x-7z-compressed", ".rar": "application/vnd.rar",
}

// ContentTypeByName returns the MIME type of a file name's extension, or
// DefaultContentType when the extension is unknown or missing. Init uses it
// when the client names no content type.
func ContentTypeByName(name string) string {
	if t, ok := typesByExtension[strings.ToLower(path.Ext(name))]; ok {
		return t
	}
	return DefaultContentType
}
