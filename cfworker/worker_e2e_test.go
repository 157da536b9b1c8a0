package cfworker_test

import (
	"os"
	"testing"

	"github.com/memenow/memenow-storage/apitest"
	"github.com/memenow/memenow-storage/cfworker"
)

// workerURL returns the base URL of a Worker started by
// `.ci/worker.sh start DIR`, skipping the test when there is none (or
// failing it when MEMENOW_REQUIRE_WORKER=1).
func workerURL(t *testing.T) string {
	t.Helper()
	url := os.Getenv("MEMENOW_TEST_WORKER_URL")
	if url == "" {
		if os.Getenv("MEMENOW_REQUIRE_WORKER") == "1" {
			t.Fatal("MEMENOW_REQUIRE_WORKER=1 but MEMENOW_TEST_WORKER_URL is not set; run `.ci/worker.sh start DIR` and source its output")
		}
		t.Skip("no Worker: set MEMENOW_TEST_WORKER_URL (`.ci/worker.sh start DIR` prints it) to run the API suite on local workerd")
	}
	return url
}

// TestWorkerAPI runs the whole end-to-end API suite against the Worker on
// local workerd (real local R2, D1 and KV).
func TestWorkerAPI(t *testing.T) {
	apitest.Run(t, apitest.Target{BaseURL: workerURL(t), MaxFileSize: cfworker.DefaultSettings().MaxFileSize})
}
