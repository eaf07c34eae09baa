// The process's signals, and the one shutdown they ask for. In task 20
// this file is yours; the rest of the folder is the capstone, given.
package main

import (
	"context"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"gracefulshutdown.lab/task20-signal-storm/service"
)

// main wires the service to the process: its command line, its output,
// its signals and its exit code. Any number of SIGINTs and SIGTERMs, in any
// mix, at any moment, make one shutdown: the first starts it, and the
// others change nothing. The process exits with that shutdown's code, once
// it is over.
func main() {
	// Asked for before anything starts, and never given back. Once a
	// program has asked for SIGINT and SIGTERM they no longer kill it, and
	// that has to hold until os.Exit: stop (like signal.Stop or
	// signal.Reset) would restore the default, and the next signal would
	// kill the process in the middle of its shutdown, exit code 128+15.
	// After the first signal has cancelled ctx, package signal keeps
	// sending the later ones to the context's channel, whose buffer of one
	// is full: they are dropped, which is all a later signal should do.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	_ = stop // never called: see above

	// A signal during start-up cancels ctx, and start-up gives up.
	svc, code := service.Start(ctx, os.Args[1:], os.Stdout, os.Stderr)
	if svc == nil {
		os.Exit(code)
	}

	var sd shutdownOnce
	// The first signal asks for the shutdown, which runs on this goroutine.
	go func() {
		<-ctx.Done()
		sd.do(svc, nil)
	}()
	// Serve returns when a part fails on its own, or, like
	// http.Server.ListenAndServe, as soon as the shutdown has closed the
	// API's listener: long before the shutdown is over. So main asks for
	// the shutdown too, and its call waits for the one under way.
	os.Exit(sd.do(svc, svc.Serve()))
}

// shutdownOnce runs the service's shutdown once, however many ask for it
// and from however many goroutines: each signal, a part that failed, main.
type shutdownOnce struct {
	once sync.Once
	code int // the shutdown's exit code, set before once.Do returns
}

// do runs the shutdown, unless it has run or is running, and returns its
// exit code once it is over: sync.Once holds every other call, the
// concurrent ones included, until the one that runs it has returned. So
// every caller waits for the shutdown's end, which is what the caller that
// exits the process needs. failure is why the service stops: nil when it
// was asked to, or the failure of a part, which makes the exit code 1.
func (s *shutdownOnce) do(svc *service.Service, failure error) int {
	s.once.Do(func() { s.code = svc.Shutdown(failure) })
	return s.code
}
