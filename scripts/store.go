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
// cache folder (~/.cache on Linux), next to Go's own build cache, or the
// temporary folder where there is none (no HOME) or it cannot be written.
// It is trimmed of what no run used for storeUnusedFor. Delete it at any
// time: the next verify builds again what it needs.
func testBinaryStore() (string, error) {
	var dirs []string
	if cache, err := os.UserCacheDir(); err == nil {
		dirs = append(dirs, filepath.Join(cache, "graceful-shutdown-lab", "test-binaries"))
	}
	dirs = append(dirs, filepath.Join(os.TempDir(), fmt.Sprintf("graceful-shutdown-lab-%d", os.Getuid()), "test-binaries"))
	var err error
	for _, dir := range dirs {
		if err = os.MkdirAll(dir, 0o755); err == nil {
			return dir, gotest.TrimKept(dir, storeUnusedFor)
		}
	}
	return "", fmt.Errorf("no folder for verify's test binaries: %w", err)
}
