package s3

import (
	"context"
	"io"
	"net"
	"net/http"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
)

// bulkWriteSize is the largest write of a request body onto a plain
// connection.
const bulkWriteSize = 1 << 20

var bulkBufs = sync.Pool{New: func() any { b := make([]byte, bulkWriteSize); return &b }}

// withBulkWrites returns c (the SDK's client, nil meaning its default) with
// connections that send request bodies in writes of up to bulkWriteSize
// bytes. net/http copies a body onto a plain connection 32 KiB at a time;
// a part streaming through the server then costs a read and a write system
// call per 32 KiB, and on a loopback S3 server half of that CPU goes away
// with 1 MiB writes. TLS connections are unaffected: their records are
// 16 KiB whatever the writes. Other clients are returned unchanged.
func withBulkWrites(c aws.HTTPClient) aws.HTTPClient {
	if c == nil {
		c = awshttp.NewBuildableClient()
	}
	bc, ok := c.(*awshttp.BuildableClient)
	if !ok {
		return c
	}
	return bc.WithTransportOptions(func(tr *http.Transport) {
		dial := tr.DialContext
		if dial == nil {
			dial = (&net.Dialer{}).DialContext
		}
		tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			conn, err := dial(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return bulkWriter{conn}, nil
		}
	})
}

// bulkWriter is a connection whose ReadFrom, which net/http uses to send a
// request body, copies through a pooled buffer of bulkWriteSize bytes.
type bulkWriter struct{ net.Conn }

// ReadFrom copies r to the connection until EOF.
func (c bulkWriter) ReadFrom(r io.Reader) (int64, error) {
	bufp := bulkBufs.Get().(*[]byte)
	defer bulkBufs.Put(bufp)
	// The struct hides the connection's own ReadFrom, which would copy 32 KiB
	// at a time (the bodies here are never files or sockets it could splice).
	return io.CopyBuffer(struct{ io.Writer }{c.Conn}, r, *bufp)
}
