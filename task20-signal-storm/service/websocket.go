package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// goingAway is the close frame every WebSocket gets when the server shuts
// down: status 1001, which RFC 6455 names "going away", for a server that
// is leaving. A client that sees it knows to reconnect, and where the
// service sits behind a load balancer, to reach an instance that stays.
var goingAway = websocket.FormatCloseMessage(websocket.CloseGoingAway, "going away")

const (
	// writeTimeout bounds each message the server writes (an echo, a
	// push): a client that has not taken a message in that long has gone.
	writeTimeout = 10 * time.Second
	// closeFrameTimeout bounds the close frame sent to a connection that
	// is upgraded just as the drain starts.
	closeFrameTimeout = time.Second
	// maxMessage is the largest message a client may send.
	maxMessage = 64 << 10
)

// webSockets serves /ws and keeps the registry of live connections. The
// registry is how the shutdown finds them: once upgraded, a connection is
// hijacked, and the http.Server has forgotten it. Shutdown neither closes
// nor waits for it.
type webSockets struct {
	pushInterval time.Duration
	drainTimeout time.Duration
	ready        *readiness
	logger       *slog.Logger
	upgrader     websocket.Upgrader

	// The registry. Handlers add and remove connections on their own
	// goroutines while the drain reads it on another: a mutex guards it.
	mu       sync.Mutex
	conns    map[*websocket.Conn]struct{}
	draining bool          // the drain has started: no connection joins any more
	empty    chan struct{} // closed once draining and no connection is left

	start    sync.Once      // the drain starts once, from goAway or wait
	count    int            // connections when the drain started
	deadline time.Time      // when the ones that have not answered are force-closed
	frames   sync.WaitGroup // the close frames being written
}

func newWebSockets(pushInterval, drainTimeout time.Duration, ready *readiness, logger *slog.Logger) *webSockets {
	return &webSockets{
		pushInterval: pushInterval,
		drainTimeout: drainTimeout,
		ready:        ready,
		logger:       logger,
		conns:        make(map[*websocket.Conn]struct{}),
		empty:        make(chan struct{}),
	}
}

// ServeHTTP upgrades the request to a WebSocket and serves it until it ends.
func (ws *webSockets) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Once readiness is off, a new WebSocket would be told to go away as
	// soon as the drain delay ends. Refused now, its client retries through
	// the load balancer, which by then sends it to an instance that stays.
	if !ws.ready.isReady() {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	conn, err := ws.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // Upgrade has answered the client with an HTTP error
	}
	if !ws.add(conn) {
		// The drain started while this connection was being upgraded: it
		// missed the close frames, and the drain cannot wait for it. It
		// gets a close frame of its own and is closed at once.
		_ = conn.WriteControl(websocket.CloseMessage, goingAway, time.Now().Add(closeFrameTimeout))
		_ = conn.Close()
		return
	}
	defer ws.remove(conn)
	ws.serve(conn)
}

// add registers conn, unless the drain has started.
func (ws *webSockets) add(conn *websocket.Conn) bool {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if ws.draining {
		return false
	}
	ws.conns[conn] = struct{}{}
	return true
}

// remove forgets conn, whose handler is done with it. The last one to go
// during the drain tells the drain, by closing empty: nobody polls. Each
// connection is removed once and none joins while draining, so the count
// reaches zero once, and empty is closed once.
func (ws *webSockets) remove(conn *websocket.Conn) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	delete(ws.conns, conn)
	if ws.draining && len(ws.conns) == 0 {
		close(ws.empty)
	}
}

// serve echoes every message the client sends and pushes one every
// pushInterval, until the connection ends: the client sends a close frame
// (its own, or its answer to the server's), the connection breaks, or the
// drain force-closes it.
func (ws *webSockets) serve(conn *websocket.Conn) {
	conn.SetReadLimit(maxMessage)

	// gorilla/websocket allows one writer at a time: the echo and the
	// pushes take turns with this lock. The close frame does not need it:
	// WriteControl may be called at any time, from any goroutine.
	var writing sync.Mutex
	write := func(kind int, data []byte) error {
		writing.Lock()
		defer writing.Unlock()
		_ = conn.SetWriteDeadline(time.Now().Add(writeTimeout))
		return conn.WriteMessage(kind, data)
	}

	stop := make(chan struct{})
	pushed := make(chan struct{})
	go func() {
		defer close(pushed)
		ws.push(stop, write)
	}()

	for {
		kind, data, err := conn.ReadMessage()
		if err != nil {
			break
		}
		// After the close frame, gorilla refuses every data message with
		// ErrCloseSent, as RFC 6455 requires. Keep reading all the same:
		// the client may have messages in flight, and then its answer.
		if err := write(kind, data); err != nil && !errors.Is(err, websocket.ErrCloseSent) {
			break
		}
	}
	// Closing first frees a push that is stuck writing to a client that
	// does not read; then the pusher can be waited for.
	_ = conn.Close()
	close(stop)
	<-pushed
}

// push writes "push 1", "push 2", … every pushInterval until stop is closed
// or a write fails (ErrCloseSent once the close frame has gone out).
func (ws *webSockets) push(stop <-chan struct{}, write func(int, []byte) error) {
	tick := time.NewTicker(ws.pushInterval)
	defer tick.Stop()
	for n := 1; ; n++ {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		if err := write(websocket.TextMessage, fmt.Appendf(nil, "push %d", n)); err != nil {
			return
		}
	}
}

// goAway starts the drain. http.Server.Shutdown calls it (see
// RegisterOnShutdown in server.go) in a goroutine of its own, the moment
// it closes the listener, and does not wait for it; so goAway only starts
// things: it refuses new connections, sends every live one its close frame
// and returns. wait does the waiting, in the server's phase.
func (ws *webSockets) goAway() {
	ws.start.Do(func() {
		ws.mu.Lock()
		ws.draining = true
		ws.deadline = time.Now().Add(ws.drainTimeout)
		conns := slices.Collect(maps.Keys(ws.conns))
		ws.count = len(conns)
		if len(conns) == 0 {
			close(ws.empty)
		}
		ws.mu.Unlock()

		ws.logger.Info("websockets draining", "count", len(conns))
		// Every frame at once, each from a goroutine of its own, with a
		// write deadline: a client that does not read blocks the write of
		// its own frame, and no other. One after another, it would hold up
		// every frame behind it until its deadline. WriteControl is the
		// one write that gorilla lets run alongside the connection's own
		// writer. The deadline is the drain's: there is no point giving up
		// on a frame before then, as the client has until then to answer,
		// and the force-close at the deadline ends the writes still stuck.
		for _, conn := range conns {
			ws.frames.Go(func() {
				_ = conn.WriteControl(websocket.CloseMessage, goingAway, ws.deadline)
			})
		}
	})
}

// wait finishes the drain: it returns once every client has answered its
// close frame (the registry says when it is empty), or force-closes the
// ones left when the drain timeout passes or ctx ends, whichever comes
// first. It fails if it had to force-close any.
func (ws *webSockets) wait(ctx context.Context) error {
	// Shutdown starts goAway in a goroutine that may not have run yet.
	ws.goAway()

	timeout := time.NewTimer(time.Until(ws.deadline))
	defer timeout.Stop()
	var cut error
	select {
	case <-ws.empty:
	case <-timeout.C:
		cut = fmt.Errorf("no answer within -ws-drain-timeout %v", ws.drainTimeout)
	case <-ctx.Done():
		cut = ctx.Err()
	}

	ws.mu.Lock()
	stragglers := slices.Collect(maps.Keys(ws.conns))
	ws.mu.Unlock()
	ws.logger.Info("websockets closed", "count", ws.count-len(stragglers))
	if len(stragglers) > 0 {
		for _, conn := range stragglers {
			_ = conn.Close() // safe alongside the handler's reads and writes
		}
		ws.logger.Error("websockets force-closed", "count", len(stragglers))
	}
	// Closed, each handler returns at once and removes its connection; the
	// frames still being written fail at once.
	<-ws.empty
	ws.frames.Wait()
	if len(stragglers) > 0 {
		return fmt.Errorf("force-closed %d websockets: %w", len(stragglers), cut)
	}
	return nil
}
