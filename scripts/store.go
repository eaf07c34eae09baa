package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"gracefulshutdown.lab/scripts/internal/gotest"
)

// storeUnusedFor is how long verify's store keeps test binaries that no run
// uses: a full set is some four gigabytes, and each change to a task's
// files makes new ones of its proofs.
const storeUnusedFor = 24 * time.Hour

// testBinaryStore is where verify keeps the test binaries of its proofs,
// by their inputs, for every clone of the lab on this machine: the user's
// cache folder (~/.cache on Linux), next to Go's own build cache, trimmed
// of what no run used for storeUnusedFor. Delete it at any time: the next
// verify builds again what it needs.
func testBinaryStore() (string, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no cache folder for verify's test binaries: %w", err)
	}
	dir := filepath.Join(cache, "graceful-shutdown-lab", "test-binaries")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	return dir, gotest.TrimKept(dir, storeUnusedFor)
}
