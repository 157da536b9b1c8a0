// Package bulkwrite makes HTTP clients send request bodies in large writes.
//
// net/http copies a request body onto a plain TCP connection 32 KiB at a
// time. A server that streams chunks through to another server (the s3
// store), or a client that sends large bodies (the benchmark), then pays a
// system call per 32 KiB on each side; with 1 MiB writes, a loopback copy
// takes about a third less CPU. TLS connections gain nothing: their records
// are 16 KiB whatever the writes.
package bulkwrite

import (
	"context"
	"io"
	"net"
	"sync"
)

// Size is the largest write of a request body.
const Size = 1 << 20

var bufs = sync.Pool{New: func() any { b := make([]byte, Size); return &b }}

// DialFunc is the type of http.Transport's DialContext.
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// Dial returns a DialFunc that dials with dial (nil means a zero
// net.Dialer) and wraps each connection in a Conn.
func Dial(dial DialFunc) DialFunc {
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return Conn{conn}, nil
	}
}

// Conn is a connection whose ReadFrom, which net/http uses to send a request
// body, copies through a pooled buffer of Size bytes.
type Conn struct{ net.Conn }

// ReadFrom copies r to the connection until EOF or an error.
func (c Conn) ReadFrom(r io.Reader) (int64, error) {
	bufp := bufs.Get().(*[]byte)
	defer bufs.Put(bufp)
	// The struct hides the connection's own ReadFrom, which copies 32 KiB at
	// a time unless r is a file or a socket it can splice; bodies sent
	// through a Conn are neither.
	return io.CopyBuffer(struct{ io.Writer }{c.Conn}, r, *bufp)
}
