//go:build bench

// The capstone's benchmarks, each beside a baseline measured in the same
// run. They are behind the build tag "bench", so that the lab's own test
// runs never link vegeta nor spend minutes here:
//
//	go test -tags bench -run '^$' -bench . -benchtime 1x -count 5 .
//
// The baselines are small programs written here, not other tasks' code:
// the same test binary runs them as a child process when the environment
// names one (see init), as it runs the capstone otherwise.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	vegeta "github.com/tsenart/vegeta/v12/lib"

	"gracefulshutdown.lab/labtest"
)

// baselineEnv names the baseline program a child process runs instead of
// the capstone.
const baselineEnv = "TASK20_BASELINE"

// init runs a baseline program in a child process that asks for one, and
// exits with it: before TestMain, so before labtest would run the capstone.
func init() {
	name := os.Getenv(baselineEnv)
	if name == "" {
		return
	}
	addr, delay := "127.0.0.1:0", 20*time.Millisecond
	for i := 0; i+1 < len(os.Args); i++ {
		switch os.Args[i] {
		case "-addr":
			addr = os.Args[i+1]
		case "-delay":
			delay, _ = time.ParseDuration(os.Args[i+1])
		}
	}
	os.Exit(runBaseline(name, addr, delay))
}

// runBaseline is the baseline program name:
//   - "task1": task 1's starter, the naive server: no signal handling, so
//     SIGTERM kills it mid-request;
//   - "task2": task 2's reference: Shutdown at the signal, with a deadline,
//     and no readiness drain, so its listener closes at the signal;
//   - "websocket": task 11's starter: WebSockets that the server never
//     closes, so they die with the process.
func runBaseline(name, addr string, delay time.Duration) int {
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	var ctx context.Context = context.Background()
	if name != "task1" {
		var stop context.CancelFunc
		ctx, stop = signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
		defer stop()
	}
	up := websocket.Upgrader{}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		time.Sleep(delay)
		fmt.Fprintln(w, "hello")
	})
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for {
			kind, data, err := c.ReadMessage()
			if err != nil || c.WriteMessage(kind, data) != nil {
				return
			}
		}
	})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		logger.Error("server failed", "err", err)
		return 1
	}
	logger.Info("listening", "server", "api", "addr", ln.Addr().String())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	<-ctx.Done() // task1: never; the signal kills the process
	logger.Info("shutdown started")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		_ = srv.Close()
		return 1
	}
	logger.Info("exited", "code", 0)
	return 0
}

// leaving is a program under test, started as a child process: the
// capstone, or a baseline.
type leaving struct {
	*labtest.Program
	api, probe string // its public address, and where its readiness is asked
}

// startLeaving starts the program: the capstone if baseline is "", with
// the flags the benchmarks need on top of args.
func startLeaving(b *testing.B, baseline string, args ...string) leaving {
	b.Helper()
	if baseline != "" {
		p := labtest.StartEnv(b, []string{baselineEnv + "=" + baseline}, append([]string{"-addr", "127.0.0.1:0"}, args...)...)
		api := p.Listening()
		return leaving{p, api, api}
	}
	p := labtest.StartEnv(b, nil, append([]string{"-addr", "127.0.0.1:0", "-admin-addr", "127.0.0.1:0", "-log-format", "json",
		"-lock-key", "bench-" + fmt.Sprint(time.Now().UnixNano())}, args...)...)
	var api, admin string
	for _, server := range []string{"admin", "api"} {
		ev := p.WaitForMatch(`"listening" of `+server, labtest.StartBound, func(ev labtest.Event) bool {
			return ev.Msg() == "listening" && ev.Str("server") == server
		})
		if server == "api" {
			api = ev.Str("addr")
		} else {
			admin = ev.Str("addr")
		}
	}
	return leaving{p, api, admin}
}

// balancer stands for a load balancer in front of two instances: the one
// that is leaving (the program under test) and one that stays. It probes
// the leaving one's /readyz every probeEvery, and sends each new connection
// to it while its last probe said ready, to the staying one otherwise. A
// connection, once made, is kept for as long as the client keeps it, as a
// balancer's connections to its backends are: a client that is told
// "Connection: close" reconnects, through the balancer.
type balancer struct {
	leaving, staying string
	ready            atomic.Bool
}

const probeEvery = 100 * time.Millisecond

func (lb *balancer) probe(ctx context.Context, url string) {
	c := &http.Client{Timeout: probeEvery, Transport: &http.Transport{DisableKeepAlives: true}}
	t := time.NewTicker(probeEvery)
	defer t.Stop()
	for {
		resp, err := c.Get(url)
		ok := err == nil && resp.StatusCode == http.StatusOK
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		lb.ready.Store(ok)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (lb *balancer) dial(ctx context.Context, network, _ string) (net.Conn, error) {
	to := lb.staying
	if lb.ready.Load() {
		to = lb.leaving
	}
	var d net.Dialer
	return d.DialContext(ctx, network, to)
}

// stayingInstance is the instance that stays: it answers hello at once.
func stayingInstance(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "hello") }), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	b.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

// Load's shape: a steady rate from a fixed pool of keep-alive clients,
// before, through and after the signal.
const (
	loadRate     = 200 // requests a second
	loadWorkers  = 20
	loadFor      = 3 * time.Second
	signalAfter  = time.Second
	benchDrain   = time.Second // the capstone's -drain-delay: ten probe periods
	requestDelay = 20 * time.Millisecond
)

// BenchmarkZeroLossUnderLoad sends loadRate requests a second through the
// balancer for loadFor, and SIGTERMs the leaving instance signalAfter in,
// then counts the requests sent, succeeded (2xx) and failed: for the
// capstone (readiness drain, Connection: close, then the drain), for task
// 2's reference (a graceful Shutdown, but at the signal) and for task 1's
// starter (no signal handling at all).
func BenchmarkZeroLossUnderLoad(b *testing.B) {
	for _, c := range []struct{ name, baseline string }{
		{"capstone", ""}, {"task2-reference", "task2"}, {"task1-starter", "task1"},
	} {
		b.Run(c.name, func(b *testing.B) {
			var sent, ok, failed []float64
			for b.Loop() {
				s, o, f := loadOnce(b, c.baseline)
				sent, ok, failed = append(sent, s), append(ok, o), append(failed, f)
			}
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(median(sent), "sent")
			b.ReportMetric(median(ok), "succeeded")
			b.ReportMetric(median(failed), "failed")
		})
	}
}

func loadOnce(b *testing.B, baseline string) (sent, ok, failed float64) {
	staying := stayingInstance(b)
	p := startLeaving(b, baseline, "-delay", requestDelay.String(), "-drain-delay", benchDrain.String(),
		"-prestop-delay", "0s", "-metrics-linger", "0s", "-job-interval", "1h")
	lb := &balancer{leaving: p.api, staying: staying}
	ctx, stopProbe := context.WithCancel(context.Background())
	probed := make(chan struct{})
	go func() { defer close(probed); lb.probe(ctx, "http://"+p.probe+"/readyz") }()
	defer func() { stopProbe(); <-probed }()
	for !lb.ready.Load() {
		time.Sleep(10 * time.Millisecond) // the first probe
	}

	tr := &http.Transport{DialContext: lb.dial, MaxIdleConnsPerHost: loadWorkers}
	defer tr.CloseIdleConnections()
	attacker := vegeta.NewAttacker(vegeta.Client(&http.Client{Transport: tr, Timeout: 10 * time.Second}),
		vegeta.Workers(loadWorkers), vegeta.MaxWorkers(loadWorkers))
	target := vegeta.NewStaticTargeter(vegeta.Target{Method: http.MethodGet, URL: "http://service.test/"})
	results := attacker.Attack(target, vegeta.ConstantPacer{Freq: loadRate, Per: time.Second}, loadFor, "load")
	errs := map[string]int{}
	counted := make(chan struct{})
	go func() {
		defer close(counted)
		for res := range results {
			sent++
			if res.Code >= 200 && res.Code < 300 {
				ok++
			} else {
				failed++
				errs[shortErr(res)]++
			}
		}
	}()
	time.Sleep(signalAfter) // the load runs this long before the signal: the scenario
	p.Signal(syscall.SIGTERM)
	<-counted
	p.ExitWithin(30*time.Second, "the shutdown should be over")
	if testing.Verbose() && len(errs) > 0 {
		b.Logf("%s: failures: %v", name(baseline), errs)
	}
	return sent, ok, failed
}

func name(baseline string) string {
	if baseline == "" {
		return "capstone"
	}
	return baseline
}

func shortErr(r *vegeta.Result) string {
	if r.Error == "" {
		return fmt.Sprint(r.Code)
	}
	for _, s := range []string{"connection refused", "connection reset", "EOF", "broken pipe", "timeout"} {
		if strings.Contains(r.Error, s) {
			return s
		}
	}
	return r.Error
}

// BenchmarkWebSocketsGoingAway opens wsClients WebSockets to the program,
// sends SIGTERM, and times, for each client, the close frame's arrival:
// the median (p50-ms), the 99th percentile (p99-ms) and the last
// (last-ms), counted from the signal, and how many got 1001 (got-1001).
// The baseline is task 11's starter, whose WebSockets die with the process.
func BenchmarkWebSocketsGoingAway(b *testing.B) {
	n := wsClientsAllowed(b)
	for _, c := range []struct{ name, baseline string }{{"capstone", ""}, {"task11-starter", "websocket"}} {
		b.Run(fmt.Sprintf("%s/clients=%d", c.name, n), func(b *testing.B) {
			var waits []time.Duration
			var got []float64
			for b.Loop() {
				w, g := wsOnce(b, c.baseline, n)
				waits, got = append(waits, w...), append(got, float64(g))
			}
			slices.Sort(waits)
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(ms(percentile(waits, 50)), "p50-ms")
			b.ReportMetric(ms(percentile(waits, 99)), "p99-ms")
			b.ReportMetric(ms(waits[len(waits)-1]), "last-ms")
			b.ReportMetric(median(got), "got-1001")
		})
	}
}

const wsClients = 10_000

func wsClientsAllowed(b *testing.B) int {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		b.Fatal(err)
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			b.Fatal(err)
		}
	}
	return min(wsClients, int(lim.Cur)-256)
}

func wsOnce(b *testing.B, baseline string, n int) ([]time.Duration, int) {
	p := startLeaving(b, baseline, "-drain-delay", "0s", "-prestop-delay", "0s", "-ws-drain-timeout", "20s",
		"-phase-timeout", "25s", "-metrics-linger", "0s", "-grace-period", "60s", "-job-interval", "1h")
	conns := make([]*websocket.Conn, n)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	d := websocket.Dialer{HandshakeTimeout: 30 * time.Second, ReadBufferSize: 512, WriteBufferSize: 512}
	next := make(chan int)
	var wg sync.WaitGroup
	var dialErr atomic.Value
	for range 64 {
		wg.Go(func() {
			for i := range next {
				c, resp, err := d.Dial("ws://"+p.api+"/ws", nil)
				if resp != nil && resp.Body != nil {
					resp.Body.Close()
				}
				if err != nil {
					dialErr.Store(err)
					continue
				}
				conns[i] = c
			}
		})
	}
	for i := range conns {
		next <- i
	}
	close(next)
	wg.Wait()
	if err, _ := dialErr.Load().(error); err != nil {
		b.Fatalf("opening %d WebSockets: %v\n%s", n, err, p.Transcript())
	}
	arrived := make([]time.Time, n)
	codes := make([]int, n)
	for i, c := range conns {
		wg.Go(func() {
			_ = c.SetReadDeadline(time.Now().Add(time.Minute))
			for {
				if _, _, err := c.ReadMessage(); err != nil {
					arrived[i] = time.Now()
					if ce := (*websocket.CloseError)(nil); errors.As(err, &ce) {
						codes[i] = ce.Code
					}
					return
				}
			}
		})
	}
	sent := time.Now()
	p.Signal(syscall.SIGTERM)
	wg.Wait()
	p.ExitWithin(time.Minute, "every client had its close frame")
	waits := make([]time.Duration, n)
	got := 0
	for i := range n {
		waits[i] = arrived[i].Sub(sent)
		if codes[i] == websocket.CloseGoingAway {
			got++
		}
	}
	return waits, got
}

// BenchmarkDrainLag measures, over each round's runs, the time from the
// last in-flight response (the client has it) to the process's exit, for
// the capstone and for the plain pattern (task 2's reference: Shutdown,
// which polls for idle connections at intervals that grow to 500 ms). The
// request takes lagRequest, so that Shutdown's interval has grown by the
// time it ends. It reports the median (p50-ms) and the 99th percentile
// (p99-ms, with lagRuns runs: the slowest but one).
func BenchmarkDrainLag(b *testing.B) {
	for _, c := range []struct{ name, baseline string }{{"capstone", ""}, {"plain-shutdown", "task2"}} {
		b.Run(c.name, func(b *testing.B) {
			var lags []time.Duration
			for b.Loop() {
				for range lagRuns {
					lags = append(lags, lagOnce(b, c.baseline))
				}
			}
			slices.Sort(lags)
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(ms(percentile(lags, 50)), "p50-ms")
			b.ReportMetric(ms(percentile(lags, 99)), "p99-ms")
		})
	}
}

const (
	lagRuns    = 20
	lagRequest = 1200 * time.Millisecond
)

func lagOnce(b *testing.B, baseline string) time.Duration {
	p := startLeaving(b, baseline, "-delay", lagRequest.String(), "-drain-delay", "0s", "-prestop-delay", "0s",
		"-metrics-linger", "0s", "-job-interval", "1h")
	resp := labtest.Get("http://"+p.api+"/", 10*time.Second)
	// The request's handler is running: "request started" for the
	// capstone; the baselines do not log it, so give them a moment.
	if baseline == "" {
		p.WaitFor("request started", labtest.StartBound)
	} else {
		time.Sleep(100 * time.Millisecond) // the request reaching the handler, not a synchronisation
	}
	p.Signal(syscall.SIGTERM)
	r := <-resp
	answered := time.Now()
	if r.Err != nil || r.Status != 200 {
		b.Fatalf("the request in flight got %v; want 200.\n%s", r, p.Transcript())
	}
	<-p.Done()
	lag := time.Since(answered)
	if code, _ := p.Exited(); code != 0 {
		b.Fatalf("exit code %d; want 0.\n%s", code, p.Transcript())
	}
	if testing.Verbose() && baseline == "" && lag > 50*time.Millisecond {
		b.Logf("capstone lag %v: %s", lag.Round(time.Millisecond), whereLagGoes(b, p.Program, answered))
	}
	return lag
}

// whereLagGoes splits a lag by the program's own events: from the answer
// to the end of the api server phase, then each later phase that took a
// millisecond or more, then "exited", then the process's end.
func whereLagGoes(b *testing.B, p *labtest.Program, answered time.Time) string {
	var out []string
	last := answered
	for _, ev := range p.Log().Events() {
		at := labtest.EventTime(b, ev)
		if at.Before(answered) {
			continue
		}
		if d := at.Sub(last); d >= time.Millisecond {
			label := ev.Msg()
			if ph := ev.Str("phase"); ph != "" {
				label += " " + ph
			}
			out = append(out, fmt.Sprintf("%v until %s", d.Round(100*time.Microsecond), label))
		}
		last = at
	}
	out = append(out, fmt.Sprintf("%v from \"exited\" to the process's end", time.Since(last).Round(100*time.Microsecond)))
	return strings.Join(out, ", ")
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// percentile is the p-th percentile of sorted, by the nearest rank.
func percentile(sorted []time.Duration, p int) time.Duration {
	i := (len(sorted)*p+99)/100 - 1
	return sorted[max(i, 0)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
