package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// TODO(task11): this file serves /ws, but once a connection is upgraded,
// nothing in the program knows it exists: it was hijacked, and the
// http.Server has forgotten it. At shutdown Server.Shutdown returns without
// it, the process exits, and the client sees its connection die (close code
// 1006, "abnormal closure"). Make the shutdown close every WebSocket
// properly (see README.md):
//
//  1. a registry of the live connections, safe for concurrent use: each
//     handler adds its connection and removes it when it ends;
//  2. the start of the drain: refuse new connections, and send every live
//     one a close frame, status 1001 "going away", all at the same time,
//     each from a goroutine of its own with a write deadline (the drain's
//     own), so that a client that has stopped reading holds up no frame
//     but its own;
//  3. the rest of the drain: wait until every client has answered (let the
//     registry say when it is empty; do not poll it), and force-close the
//     ones left when -ws-drain-timeout has passed, or the context given to
//     the drain ends, whichever comes first;
//  4. the events "websockets draining", "websockets closed" and
//     "websockets force-closed", each with a count.
//
// server.go then wires the drain into the server's phase (its TODO).

const (
	// writeTimeout bounds each message the server writes (an echo, a
	// push): a client that has not taken a message in that long has gone.
	writeTimeout = 10 * time.Second
	// maxMessage is the largest message a client may send.
	maxMessage = 64 << 10
)

// webSockets serves /ws.
type webSockets struct {
	pushInterval time.Duration
	logger       *slog.Logger
	upgrader     websocket.Upgrader
}

// newWebSockets returns the /ws handler. drainTimeout is -ws-drain-timeout;
// ready is the readiness that /readyz reports.
func newWebSockets(pushInterval, drainTimeout time.Duration, ready *readiness, logger *slog.Logger) *webSockets {
	return &webSockets{
		pushInterval: pushInterval,
		logger:       logger,
	}
}

// ServeHTTP upgrades the request to a WebSocket and serves it until it ends.
//
// TODO(task11): once readiness is off (ready.isReady()), refuse the upgrade
// with 503 Service Unavailable: the client retries through the load
// balancer, to an instance that stays. And register each connection for as
// long as it is served; one upgraded just as the drain starts is refused by
// the registry, and gets a close frame of its own.
func (ws *webSockets) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	conn, err := ws.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // Upgrade has answered the client with an HTTP error
	}
	ws.serve(conn)
}

// serve echoes every message the client sends and pushes one every
// pushInterval, until the connection ends: the client sends a close frame
// (its own, or its answer to the server's), or the connection breaks.
func (ws *webSockets) serve(conn *websocket.Conn) {
	conn.SetReadLimit(maxMessage)

	// gorilla/websocket allows one writer at a time: the echo and the
	// pushes take turns with this lock. (Read the package documentation on
	// concurrency before you add a writer: one method is an exception.)
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
		// After a close frame, gorilla refuses every data message with
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
// or a write fails (ErrCloseSent once a close frame has gone out).
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
