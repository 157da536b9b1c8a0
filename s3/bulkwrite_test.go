package s3

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"

	"github.com/memenow/memenow-storage/internal/bulkwrite"
)

func TestWithBulkWritesWrapsTheSDKClientsConnections(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	for name, c := range map[string]aws.HTTPClient{"nil": nil, "buildable": awshttp.NewBuildableClient()} {
		got, ok := withBulkWrites(c).(*awshttp.BuildableClient)
		if !ok {
			t.Fatalf("%s: withBulkWrites returned %T", name, withBulkWrites(c))
		}
		conn, err := got.GetTransport().DialContext(context.Background(), "tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatalf("%s: dial: %v", name, err)
		}
		if _, ok := conn.(bulkwrite.Conn); !ok {
			t.Errorf("%s: the transport dials %T, want bulkwrite.Conn", name, conn)
		}
		conn.Close()
	}
	other := &http.Client{}
	if got := withBulkWrites(other); got != other {
		t.Errorf("a client of another type should come back unchanged, got %T", got)
	}
}
