package main

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"gracefulshutdown.lab/labtest"
)

// benchClients is how many WebSockets the benchmark opens when the
// file-descriptor limit allows it.
const benchClients = 10_000

// BenchmarkGoingAway measures the drain at scale: the program runs as a
// real process with benchClients WebSockets open (fewer if the
// file-descriptor limit is lower, as the benchmark's name and log say),
// each a real gorilla client over TCP that answers the close frame the
// way browsers do. At SIGTERM it times, for every client, how long its
// close frame took to come, and reports the median (p50-ms), the 99th
// percentile (p99-ms) and the last one (last-ms), and how long the
// program took to exit (exit-ms), all counted from the signal.
//
// Run it without the race detector, a few times:
//
//	go test -run '^$' -bench GoingAway -benchtime 1x -count 5 .
func BenchmarkGoingAway(b *testing.B) {
	n, limit := clientsAllowed(b)
	b.Run(fmt.Sprintf("clients=%d", n), func(b *testing.B) {
		b.Logf("%d clients (the file-descriptor limit is %d; each client needs one descriptor here and one in the program)", n, limit)
		var waits, exits []time.Duration
		for b.Loop() {
			w, exit := drainOnce(b, n)
			waits = append(waits, w...)
			exits = append(exits, exit)
		}
		slices.Sort(waits)
		slices.Sort(exits)
		b.ReportMetric(0, "ns/op") // one op is a whole start-up, connect and drain: meaningless
		b.ReportMetric(ms(percentile(waits, 50)), "p50-ms")
		b.ReportMetric(ms(percentile(waits, 99)), "p99-ms")
		b.ReportMetric(ms(waits[len(waits)-1]), "last-ms")
		b.ReportMetric(ms(percentile(exits, 50)), "exit-ms")
	})
}

// clientsAllowed raises this process's soft limit on open files to the
// hard one (the program, started from here, inherits it) and returns how
// many clients fit, at most benchClients, with the limit.
func clientsAllowed(b *testing.B) (int, uint64) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		b.Fatalf("reading the file-descriptor limit: %v", err)
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			b.Fatalf("raising the file-descriptor limit to %d: %v", lim.Max, err)
		}
	}
	// Keep some descriptors for everything else: the listener, pipes, the
	// runtime's own.
	n := min(benchClients, int(lim.Cur)-256)
	if n < 1 {
		b.Fatalf("the file-descriptor limit, %d, leaves no room for clients", lim.Cur)
	}
	return n, lim.Cur
}

// drainOnce starts the program, opens n WebSockets and proves each is
// served, sends SIGTERM, and returns how long each client waited for its
// close frame and how long the program took to exit.
func drainOnce(b *testing.B, n int) ([]time.Duration, time.Duration) {
	// Timeouts far beyond the drain, so that they measure nothing: every
	// client answers, and the drain ends when the last one has.
	p := labtest.Start(b, "-addr", "127.0.0.1:0", "-log-format", "json",
		"-push-interval", "1s", "-drain-delay", "0s",
		"-ws-drain-timeout", "20s", "-phase-timeout", "25s", "-shutdown-timeout", "30s")
	addr := p.Listening()

	conns := make([]*websocket.Conn, n)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	if err := openAll(addr, conns); err != nil {
		b.Fatalf("%v\n%s", err, p.Transcript())
	}

	arrived := make([]time.Time, n)
	codes := make([]int, n)
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Go(func() {
			// gorilla's default close handler answers the close frame
			// before ReadMessage reports it.
			_ = c.SetReadDeadline(time.Now().Add(time.Minute))
			for {
				_, _, err := c.ReadMessage()
				if err == nil {
					continue // a push
				}
				arrived[i] = time.Now()
				if ce := (*websocket.CloseError)(nil); errors.As(err, &ce) {
					codes[i] = ce.Code
				}
				return
			}
		})
	}

	sent := time.Now()
	p.Signal(syscall.SIGTERM)
	wg.Wait()
	code := p.ExitWithin(time.Minute, "every client had its close frame and answered it")
	exit := time.Since(sent)
	if code != 0 {
		b.Fatalf("exit code %d after a drain in which every client answered; want 0.\n%s", code, p.Transcript())
	}

	if testing.Verbose() {
		for _, msg := range []string{"websockets draining", "websockets closed"} {
			if i := p.Log().Index(msg); i >= 0 {
				b.Logf("%s after %v", msg, labtest.EventTime(b, p.Log().Events()[i]).Sub(sent).Round(time.Millisecond))
			}
		}
	}
	waits := make([]time.Duration, n)
	for i := range n {
		if codes[i] != websocket.CloseGoingAway {
			b.Fatalf("client %d of %d ended with close code %d; want 1001.\n%s", i, n, codes[i], p.Transcript())
		}
		waits[i] = arrived[i].Sub(sent)
	}
	return waits, exit
}

// openAll fills conns with WebSockets to addr, opened a few dozen at a
// time (as many connecting at once as a busy server's accept queue takes
// in its stride), and proves each is served with an echo.
func openAll(addr string, conns []*websocket.Conn) error {
	// Small buffers: ten thousand clients in one process.
	d := websocket.Dialer{HandshakeTimeout: 30 * time.Second, ReadBufferSize: 512, WriteBufferSize: 512}
	next := make(chan int)
	errs := make(chan error, 1)
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			for i := range next {
				c, resp, err := d.Dial("ws://"+addr+"/ws", nil)
				if resp != nil && resp.Body != nil {
					resp.Body.Close()
				}
				if err == nil {
					conns[i] = c
					err = echo(c, "hello", 30*time.Second)
				}
				if err != nil {
					select {
					case errs <- fmt.Errorf("client %d of %d: %w", i, len(conns), err):
					default:
					}
				}
			}
		})
	}
	for i := range conns {
		next <- i
	}
	close(next)
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

// percentile is the p-th percentile of sorted, by the nearest rank.
func percentile(sorted []time.Duration, p int) time.Duration {
	i := (len(sorted)*p+99)/100 - 1
	return sorted[max(i, 0)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
