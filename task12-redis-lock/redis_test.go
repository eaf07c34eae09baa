package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"net"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// This file holds what the tests need around the program: the Redis it
// runs against, read by a client of the test's own, and a proxy that can
// cut the program off from that Redis.

// testRedis is the Redis that a test runs the program against: the one
// REDIS_ADDR names, shared with every other test and test binary using it,
// or else a miniredis of the test's own, served over TCP on a loopback
// port. Either way the program talks to it as to any Redis, and the test
// reads the lock with go-redis.
type testRedis struct {
	addr   string
	client *redis.Client
}

func newTestRedis(t *testing.T) *testRedis {
	t.Helper()
	addr := os.Getenv("REDIS_ADDR")
	if addr == "" {
		srv := miniredis.NewMiniRedis()
		// Expire keys as the clock runs, as Redis does.
		srv.ClockTTL(true)
		if err := srv.StartAddr("127.0.0.1:0"); err != nil {
			t.Fatalf("cannot start the test's miniredis: %v", err)
		}
		t.Cleanup(srv.Close)
		addr = srv.Addr()
	}
	client := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = client.Close() })
	return &testRedis{addr: addr, client: client}
}

// lockKey is a key of the test's own, so that tests running at the same
// time on a shared Redis never meet: one test's lock is another key. The
// test's end deletes it, whatever became of it.
func (r *testRedis) lockKey(t *testing.T) string {
	key := "task12-test:" + t.Name() + ":" + rand.Text()[:8]
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = r.client.Del(ctx, key).Err()
	})
	return key
}

// get returns the key's value, or "" if there is no such key, and its time
// to live (negative if it has none, or no key).
func (r *testRedis) get(t *testing.T, key string) (string, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	value, err := r.client.Get(ctx, key).Result()
	if errors.Is(err, redis.Nil) {
		return "", -2
	}
	if err != nil {
		t.Fatalf("the test cannot read key %q from Redis at %s: %v", key, r.addr, err)
	}
	ttl, err := r.client.PTTL(ctx, key).Result()
	if err != nil {
		t.Fatalf("the test cannot read the TTL of key %q from Redis at %s: %v", key, r.addr, err)
	}
	return value, ttl
}

// token returns the key's value, or "" if there is no such key.
func (r *testRedis) token(t *testing.T, key string) string {
	t.Helper()
	value, _ := r.get(t, key)
	return value
}

// set makes the test the holder of key, with value and a time to live.
func (r *testRedis) set(t *testing.T, key, value string, ttl time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.client.Set(ctx, key, value, ttl).Err(); err != nil {
		t.Fatalf("the test cannot set key %q in Redis at %s: %v", key, r.addr, err)
	}
}

// del deletes key, as its expiry would.
func (r *testRedis) del(t *testing.T, key string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.client.Del(ctx, key).Err(); err != nil {
		t.Fatalf("the test cannot delete key %q in Redis at %s: %v", key, r.addr, err)
	}
}

// closedPort is an address where nothing listens: connecting to it is
// refused at once.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("cannot find a free port: %v", err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// proxy passes TCP connections through to a Redis until the test cuts it.
// From then on it passes nothing either way, but it keeps every connection
// open and accepts new ones, as a network does that drops every packet (a
// partition, a Redis host powered off): no error comes back, and only a
// deadline ends a call. Until the test lets it through again, if it does:
// then it passes bytes again, as a network does once it heals. That works
// the same on a shared real Redis, which a test must not stop, as on the
// test's own miniredis.
//
// It also records every command the program sends, passed on or not, so
// that a test can tell how the program talks to Redis (see sentCommand).
type proxy struct {
	ln     net.Listener
	target string

	mu     sync.Mutex
	cut    bool
	closed bool
	conns  []net.Conn
	sent   []sentCommand
	wg     sync.WaitGroup
}

// newProxy starts a proxy to target; the test's end closes it.
func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("cannot start the proxy: %v", err)
	}
	p := &proxy{ln: ln, target: target}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

// addr is where the program should find Redis.
func (p *proxy) addr() string { return p.ln.Addr().String() }

// cutOff stops passing anything, at once and for good.
func (p *proxy) cutOff() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
}

// letThrough passes bytes again, on the connections open and on new ones:
// the outage is over.
func (p *proxy) letThrough() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = false
}

// commands is every command the program has sent so far, in order.
func (p *proxy) commands() []sentCommand {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.sent)
}

func (p *proxy) record(c sentCommand) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sent = append(p.sent, c)
}

func (p *proxy) isCut() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cut
}

// track keeps c to be closed with the proxy; it reports false, having
// closed c, if the proxy is closed already.
func (p *proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		c.Close()
		return false
	}
	p.conns = append(p.conns, c)
	return true
}

func (p *proxy) accept() {
	defer p.wg.Done()
	for conn := 1; ; conn++ {
		client, err := p.ln.Accept()
		if err != nil {
			return // closed
		}
		if !p.track(client) {
			return
		}
		var upstream net.Conn
		if !p.isCut() {
			if upstream, err = net.DialTimeout("tcp", p.target, 5*time.Second); err != nil {
				client.Close()
				continue
			}
			if !p.track(upstream) {
				return
			}
		}
		p.wg.Add(2)
		go p.passCommands(conn, client, upstream)
		go p.pass(upstream, client)
	}
}

// pass copies from src to dst until either closes, then closes both,
// dropping everything once the proxy is cut. A nil src or dst is a
// connection never made.
func (p *proxy) pass(src, dst net.Conn) {
	defer p.wg.Done()
	if src == nil {
		return
	}
	defer src.Close()
	if dst != nil {
		defer dst.Close()
	}
	buf := make([]byte, 32*1024)
	for {
		n, err := src.Read(buf)
		if n > 0 && dst != nil && !p.isCut() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// passCommands is pass for what the program sends: it reads it command by
// command, records each one, and passes it on unless the proxy is cut.
func (p *proxy) passCommands(conn int, src, dst net.Conn) {
	defer p.wg.Done()
	defer src.Close()
	if dst != nil {
		defer dst.Close()
	}
	in := bufio.NewReader(src)
	for {
		raw, args, err := readCommand(in)
		if err != nil {
			return
		}
		p.record(sentCommand{conn: conn, args: args})
		if dst != nil && !p.isCut() {
			if _, werr := dst.Write(raw); werr != nil {
				return
			}
		}
	}
}

// close ends every connection and goroutine of the proxy.
func (p *proxy) close() {
	p.ln.Close()
	p.mu.Lock()
	p.closed = true
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}
