//go:build kcat

package main

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestKcatReadsFlushedMessages is TestMessagesPostedJustBeforeSignalAllArrive
// checked by a second, independent Kafka implementation: kcat, a C client
// on librdkafka, reads the topic back after the program has flushed it and
// exited. It needs kcat on the PATH (Debian's package kcat), so it is built
// only with the kcat tag:
//
//	go test -tags kcat -run Kcat ./
func TestKcatReadsFlushedMessages(t *testing.T) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatalf("kcat is not installed (apt-get install kcat): %v", err)
	}
	tc := startCluster(t)
	p, addr := start(t, tc)

	posted := bodies("kcat", 100)
	postAll(t, p, addr, posted)
	p.Signal(syscall.SIGTERM)
	if code := p.ExitWithin(drainDelay+flushTimeout+5*time.Second, "with the brokers up, the flush should take a moment"); code != 0 {
		t.Fatalf("exit code %d after the flush; want 0.\n%s", code, p.Transcript())
	}

	// -C consume, -e exit at the end of every partition, -o beginning from
	// the first message, -q no informational lines, -f one value a line.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, kcat, "-C", "-b", tc.addr, "-t", topic, "-e", "-o", "beginning", "-q", "-f", "%s\n")
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, stderr)
	}
	got := strings.Fields(string(out))
	missing, extra := missingAndExtra(got, posted)
	if len(missing) > 0 || len(extra) > 0 {
		t.Fatalf("kcat read %d message(s) from the topic: %d of the posted ones missing (%s), %d extra (%s); want exactly the %d posted.\n%s",
			len(got), len(missing), firstFew(missing), len(extra), firstFew(extra), len(posted), p.Transcript())
	}
	// The test's own consumer (franz-go) agrees.
	if n := len(tc.messages(t)); n != len(posted) {
		t.Fatalf("franz-go's consumer read %d message(s); kcat read %d; want %d.", n, len(got), len(posted))
	}
}

// firstFew quotes the first few of values, for a failure message.
func firstFew(values []string) string {
	const few = 5
	if len(values) <= few {
		return fmt.Sprintf("%q", values)
	}
	return fmt.Sprintf("%q and %d more", values[:few], len(values)-few)
}
