package main

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/gorilla/websocket"
	"gracefulshutdown.lab/scripts/internal/timeline"
)

// websocketDemo opens a WebSocket to addr's path and holds it, reading,
// until the server closes it; the outcome is how it closed (1001 "going
// away" from a service that drains its WebSockets, 1006 from one that just
// exits). It answers the close handshake, as a browser does.
func websocketDemo(addr, path string) timeline.RequestResult {
	r := timeline.RequestResult{Label: "WS " + path, Sent: time.Now()}
	u := url.URL{Scheme: "ws", Host: addr, Path: path}
	dialer := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	conn, resp, err := dialer.Dial(u.String(), nil)
	if err != nil {
		r.Outcome, r.Failed, r.Done = "refused: "+errorTail(err), true, time.Now()
		if resp != nil {
			r.Outcome = fmt.Sprintf("refused: %s", resp.Status)
		}
		return r
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(demoExitBound))
	for {
		if _, _, err = conn.ReadMessage(); err != nil {
			break
		}
	}
	r.Done = time.Now()
	var ce *websocket.CloseError
	switch {
	case errors.As(err, &ce) && ce.Code != websocket.CloseAbnormalClosure:
		r.Outcome = fmt.Sprintf("close %d %s", ce.Code, ce.Text)
		r.Failed = ce.Code != websocket.CloseGoingAway && ce.Code != websocket.CloseNormalClosure
	default:
		r.Outcome, r.Failed = "cut: no close frame ("+errorTail(err)+")", true
	}
	return r
}
