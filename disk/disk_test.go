package disk_test

import (
	"testing"

	"github.com/memenow/memenow-storage"
	"github.com/memenow/memenow-storage/disk"
	"github.com/memenow/memenow-storage/objectstoretest"
)

func newStore(t *testing.T) *disk.Store {
	t.Helper()
	s, err := disk.New(t.TempDir())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	objectstoretest.RunConformance(t, func(t *testing.T) storage.ObjectStore { return newStore(t) })
}
