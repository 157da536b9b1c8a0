package s3

import (
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"

	"github.com/memenow/memenow-storage/internal/bulkwrite"
)

// withBulkWrites returns c (the SDK's client, nil meaning its default) with
// connections that send request bodies in large writes: a part streaming
// through the server costs a third less CPU. Clients of other types are
// returned unchanged.
func withBulkWrites(c aws.HTTPClient) aws.HTTPClient {
	if c == nil {
		c = awshttp.NewBuildableClient()
	}
	bc, ok := c.(*awshttp.BuildableClient)
	if !ok {
		return c
	}
	return bc.WithTransportOptions(func(tr *http.Transport) { tr.DialContext = bulkwrite.Dial(tr.DialContext) })
}
