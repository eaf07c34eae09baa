package service

// What the scenarios of leak_test.go run on: a fake quote service, and the
// service itself, running in this process. You do not need to change this
// file: your work is in leak_test.go.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"gracefulshutdown.lab/labtest"
)

// quoteTimeout is -downstream-timeout where the fake quote service answers
// at once: long, so that a leak that the time-out would end in the end
// (the body of a client with a Timeout) is still there when goleak looks.
const quoteTimeout = 10 * time.Second

// The fake quote service's topics, and the quote it gives about any other.
const (
	topicMissing = "missing" // 404 Not Found, with a body
	topicHang    = "hang"    // no answer until the caller gives up, or the test ends
	topicSlow    = "slow"    // answers once the test calls answerSlowCalls
	fakeQuote    = "Leave nothing behind."
)

// fakeQuoteService is the quote service a test's Run calls: a real HTTP
// server on a loopback port, in this process.
type fakeQuoteService struct {
	*httptest.Server
	calls       chan string   // the topic of each call, as it arrives
	callerGone  chan string   // the topic of each call whose caller went away before its answer
	answerSlow  chan struct{} // closed by answerSlowCalls
	answerOnce  sync.Once
	connections atomic.Int32 // connections the service opened to it
}

// newFakeQuoteService starts a fake quote service, and closes it when the
// test is over (after every deferred call of the test has run).
func newFakeQuoteService(t *testing.T) *fakeQuoteService {
	t.Helper()
	qs := &fakeQuoteService{calls: make(chan string, 16), callerGone: make(chan string, 16), answerSlow: make(chan struct{})}
	testOver := make(chan struct{})
	qs.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		topic := r.URL.Query().Get("topic")
		notify(qs.calls, topic)
		switch topic {
		case topicMissing:
			http.Error(w, "no quote about that", http.StatusNotFound)
			return
		case topicHang, topicSlow:
			answer := qs.answerSlow
			if topic == topicHang {
				answer = nil // never
			}
			select {
			case <-r.Context().Done(): // the caller gave up
				notify(qs.callerGone, topic)
				return
			case <-answer:
			case <-testOver:
				return
			}
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"quote": fakeQuote})
	}))
	qs.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			qs.connections.Add(1)
		}
	}
	qs.Start()
	t.Cleanup(func() {
		close(testOver)
		qs.Close()
	})
	return qs
}

// notify sends topic on c, unless c is full: nobody waits for that many.
func notify(c chan string, topic string) {
	select {
	case c <- topic:
	default:
	}
}

// waitForCall waits until a call about topic has reached the quote service.
func (qs *fakeQuoteService) waitForCall(t *testing.T, topic string) {
	t.Helper()
	if !waitForTopic(qs.calls, topic, 10*time.Second) {
		t.Fatalf("no call about %q reached the quote service within 10s", topic)
	}
}

// waitForTopic reports whether topic comes on c within d.
func waitForTopic(c chan string, topic string, d time.Duration) bool {
	timeout := time.After(d)
	for {
		select {
		case got := <-c:
			if got == topic {
				return true
			}
		case <-timeout:
			return false
		}
	}
}

// answerSlowCalls lets the calls about topicSlow have their answer.
func (qs *fakeQuoteService) answerSlowCalls() {
	qs.answerOnce.Do(func() { close(qs.answerSlow) })
}

// runningService is Run, running in a goroutine of this process.
type runningService struct {
	url     string
	log     *labtest.EventLog
	cancel  context.CancelFunc
	done    chan struct{} // closed when Run has returned, with code set
	code    int
	stopped bool
}

// runService runs the service against the quote service at quoteURL (empty:
// its own embedded one), with short durations (extra flags override them),
// and returns once it listens.
func runService(t *testing.T, quoteURL string, extra ...string) *runningService {
	t.Helper()
	args := []string{
		"-addr", "127.0.0.1:0", "-log-format", "json",
		"-downstream-timeout", quoteTimeout.String(),
		"-stats-every", "50ms", "-drain-delay", "0s",
		"-phase-timeout", "1s", "-shutdown-timeout", "3s",
	}
	if quoteURL != "" {
		args = append(args, "-downstream", quoteURL)
	}
	args = append(args, extra...)
	ctx, cancel := context.WithCancel(context.Background())
	s := &runningService{log: labtest.NewEventLog(), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		s.code = Run(ctx, args, io.Discard, s.log)
	}()
	ev, err := s.log.WaitFor("listening", 10*time.Second, s.done)
	if err != nil {
		cancel()
		t.Fatalf("%v\n%s", err, s.log.Text())
	}
	s.url = "http://" + ev.Str("addr")
	return s
}

// stop cancels Run's context, as main does at SIGTERM, and checks that Run
// returns 0 soon. A test defers it, so it reports with Errorf; calling it
// again does nothing.
func (s *runningService) stop(t *testing.T) {
	t.Helper()
	if s.stopped {
		return
	}
	s.stopped = true
	s.cancel()
	select {
	case <-s.done:
		if s.code != 0 {
			t.Errorf("Run returned %d; want 0.\n%s", s.code, s.log.Text())
		}
	case <-time.After(10 * time.Second):
		t.Errorf("Run had not returned 10s after its context was cancelled.\n%s", s.log.Text())
	}
}

// get sends GET path to the service.
func (s *runningService) get(path string) labtest.Response {
	return <-s.send(context.Background(), path)
}

// send sends GET path to the service under ctx, and delivers the response
// on the channel it returns.
func (s *runningService) send(ctx context.Context, path string) <-chan labtest.Response {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url+path, nil)
	if err != nil {
		panic(err)
	}
	return labtest.Do(req, quoteTimeout+5*time.Second)
}

// waitForNew waits until the service logs msg, other than the events it
// had logged in before.
func (s *runningService) waitForNew(t *testing.T, msg string, before []labtest.Event, within time.Duration) {
	t.Helper()
	old := map[string]bool{}
	for _, ev := range before {
		old[fmt.Sprintf("%p", ev)] = true
	}
	if _, err := s.log.WaitForMatch(fmt.Sprintf("%q again", msg), func(ev labtest.Event) bool {
		return ev.Msg() == msg && !old[fmt.Sprintf("%p", ev)]
	}, within, s.done); err != nil {
		t.Fatalf("%v.\n%s", err, s.log.Text())
	}
}

// sendSIGUSR1 sends SIGUSR1 to this process, as an operator's kill -USR1
// would: every channel that signal.Notify registered for it gets it.
func sendSIGUSR1(t *testing.T) {
	t.Helper()
	if err := syscall.Kill(os.Getpid(), syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
}

// indexOf is the position in the log of the first event with message msg
// (and, unless phase is empty, that phase), or -1.
func (s *runningService) indexOf(msg, phase string) int {
	for i, ev := range s.log.Events() {
		if ev.Msg() == msg && (phase == "" || ev.Str("phase") == phase) {
			return i
		}
	}
	return -1
}
