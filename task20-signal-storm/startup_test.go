package main

import (
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"gracefulshutdown.lab/labtest"
)

// startUpDBTimeout is -db-timeout in the start-up test: twice exitBound, so
// that a start-up that waits it out is told from one that gives up at the
// signal. The grace period is raised to fit it.
const startUpDBTimeout = 2 * exitBound

// silentDatabase is a Postgres that never answers: it accepts connections
// and reads nothing back, so the program's start-up waits for it, at its
// database's ping, until -db-timeout or the signal. reached is closed when
// the program's first connection comes: start-up is then waiting.
type silentDatabase struct {
	url     string
	reached chan struct{}
}

func newSilentDatabase(t *testing.T) *silentDatabase {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	db := &silentDatabase{
		url:     "postgres://lab@" + ln.Addr().String() + "/lab?sslmode=disable",
		reached: make(chan struct{}),
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup
	)
	wg.Go(func() {
		var once sync.Once
		for {
			c, err := ln.Accept()
			if err != nil {
				return // the listener is closed: the test is over
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			once.Do(func() { close(db.reached) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
		for _, c := range conns {
			c.Close()
		}
	})
	return db
}

// TestSignalDuringStartUpEndsIt: a storm of SIGTERMs while start-up waits
// for a database that does not answer. The signals are caught from the
// first line of main, and start-up's context is the signal's: the
// database's ping gives up at once ("database unavailable"), what had
// started (the admin server) shuts down once, and the process exits 1
// (start-up did not finish), long before -db-timeout.
func TestSignalDuringStartUpEndsIt(t *testing.T) {
	t.Parallel()
	db := newSilentDatabase(t)
	s := launch(t, []string{"DATABASE_URL=" + db.url}, "-db-timeout", startUpDBTimeout.String(), "-grace-period", "60s")
	select {
	case <-db.reached:
	case <-s.Done():
		t.Fatalf("the program exited before it connected to the database.\n%s", s.Transcript())
	case <-time.After(labtest.StartBound):
		t.Fatalf("the program did not connect to the database within %v.\n%s", labtest.StartBound, s.Transcript())
	}
	signalled := time.Now()
	s.signalStorm(storm, false)
	select {
	case <-s.Done():
	case <-time.After(exitBound - time.Since(signalled)):
		t.Fatalf("start-up was still waiting for the database %v after the first SIGTERM; want it to give up at the signal "+
			"(\"database unavailable\"), then one shutdown and exit code 1, long before -db-timeout %v.\n"+
			"service.Start waits out each of its time-outs unless its context ends: give it the context of "+
			"signal.NotifyContext, not context.Background(), so that a signal during start-up cancels start-up.\n%s",
			exitBound, startUpDBTimeout, s.Transcript())
	}
	what := fmt.Sprintf("%d SIGTERMs while start-up waited for the database", storm)
	expectOneShutdown(t, s, what, ending{
		code:   1,
		why:    `a start-up that the signal ended ("database unavailable")`,
		phases: []string{"admin server"},
	})
	if !s.Log().Has("database unavailable") {
		t.Fatalf("%s: no \"database unavailable\"; want start-up to have given up waiting for the database.\n%s", what, s.Transcript())
	}
}
