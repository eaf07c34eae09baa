// Command wsclient is a WebSocket client for trying task 11 by hand: it
// connects to the program's /ws, prints what the server sends, sends each
// line typed on its standard input, and shows how the connection ends: a
// close frame and its status code, or a connection that just died.
//
//	go run ./task11-websocket/wsclient                 # answers a close frame at once
//	go run ./task11-websocket/wsclient -answer 2s      # a busy client: answers after 2s
//	go run ./task11-websocket/wsclient -silent         # never answers a close frame
//	go run ./task11-websocket/wsclient -n 100          # 100 clients; prints a summary
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

func main() {
	url := flag.String("url", "ws://localhost:8080/ws", "the WebSocket to connect to")
	answer := flag.Duration("answer", 0, "how long to wait before answering the server's close frame")
	silent := flag.Bool("silent", false, "never answer the server's close frame")
	n := flag.Int("n", 1, "how many clients to connect; more than one prints a summary instead of every message")
	flag.Parse()

	if *n == 1 {
		os.Exit(one(*url, *answer, *silent))
	}
	os.Exit(many(*url, *n, *answer, *silent))
}

// one runs a single client that prints everything.
func one(url string, answer time.Duration, silent bool) int {
	conn, err := dial(url)
	if err != nil {
		fmt.Fprintln(os.Stderr, "wsclient:", err)
		return 1
	}
	defer conn.Close()
	fmt.Printf("connected to %s; type a line to have it echoed, Ctrl+D to leave\n", url)
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			// Only this goroutine writes data; the close answer is a
			// control frame, which gorilla lets go alongside.
			if conn.WriteMessage(websocket.TextMessage, sc.Bytes()) != nil {
				return
			}
		}
		_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye"), time.Now().Add(time.Second))
	}()
	e := run(conn, answer, silent, func(msg string) { fmt.Printf("%s  %s\n", stamp(), msg) })
	fmt.Printf("%s  %s\n", stamp(), e)
	return 0
}

// many runs n clients at once and prints how their connections ended.
func many(url string, n int, answer time.Duration, silent bool) int {
	conns := make([]*websocket.Conn, 0, n)
	for i := range n {
		conn, err := dial(url)
		if err != nil {
			fmt.Fprintf(os.Stderr, "wsclient: client %d: %v\n", i, err)
			return 1
		}
		defer conn.Close()
		conns = append(conns, conn)
	}
	fmt.Printf("%s  %d clients connected to %s; stop the server now\n", stamp(), n, url)
	endings := make([]string, n)
	var wg sync.WaitGroup
	for i, conn := range conns {
		wg.Go(func() { endings[i] = run(conn, answer, silent, func(string) {}) })
	}
	wg.Wait()
	counts := map[string]int{}
	for _, e := range endings {
		counts[e]++
	}
	lines := make([]string, 0, len(counts))
	for e, c := range counts {
		lines = append(lines, fmt.Sprintf("%6d  %s", c, e))
	}
	sort.Strings(lines)
	fmt.Printf("%s  how the %d connections ended:\n%s\n", stamp(), n, strings.Join(lines, "\n"))
	return 0
}

func dial(url string) (*websocket.Conn, error) {
	conn, resp, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil && resp != nil {
		return nil, fmt.Errorf("%w: the server answered %s", err, resp.Status)
	}
	return conn, err
}

// run reads conn until it ends, passing each message to show, answers the
// server's close frame as told, and describes how the connection ended.
func run(conn *websocket.Conn, answer time.Duration, silent bool, show func(string)) string {
	conn.SetCloseHandler(func(int, string) error { return nil }) // answered below, or not
	var ce *websocket.CloseError
	for {
		_, data, err := conn.ReadMessage()
		if err == nil {
			show(string(data))
			continue
		}
		if !errors.As(err, &ce) || ce.Code == websocket.CloseAbnormalClosure {
			return fmt.Sprintf("the connection died without a close frame: %v", err)
		}
		break
	}
	got := fmt.Sprintf("close frame %d %q", ce.Code, ce.Text)
	if silent {
		show(got + "; not answering")
	} else {
		show(got + fmt.Sprintf("; answering in %v", answer))
		time.Sleep(answer)
		_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(ce.Code, ""), time.Now().Add(time.Second))
	}
	// The server closes the TCP connection once the handshake is done, or
	// when it gives up waiting.
	_, err := conn.NetConn().Read(make([]byte, 1))
	if err == io.EOF {
		return got + ", then the server closed the connection"
	}
	return got + fmt.Sprintf(", then: %v", err)
}

func stamp() string { return time.Now().Format("15:04:05.000") }
