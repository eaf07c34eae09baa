// The process's signals, and the shutdown they ask for. In task 20 this
// file is yours; the rest of the folder is the capstone, given.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"gracefulshutdown.lab/task20-signal-storm/service"
)

// main wires the service to the process: its command line, its output,
// its signals and its exit code.
//
// TODO(task20): one SIGTERM works. A hundred in a row, or a mix of SIGINT
// and SIGTERM, must make exactly one shutdown too: the first signal starts
// it, every later one changes nothing (it neither kills the process nor
// starts anything), and the process exits with that one shutdown's code
// once it is over. Whoever asks for the shutdown (a signal, a part that
// failed, main itself) waits for its end. See README.md.
func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)

	// A signal during start-up cancels ctx, and start-up gives up.
	svc, code := service.Start(ctx, os.Args[1:], os.Stdout, os.Stderr)
	if svc == nil {
		os.Exit(code)
	}

	// Serve returns when a part fails on its own, or as soon as the
	// shutdown has closed the API's listener.
	failed := make(chan error, 1)
	go func() { failed <- svc.Serve() }()
	var failure error
	select {
	case <-ctx.Done():
		// The signal has done its job: stop receiving signal notifications
		// as soon as possible, as the os/signal package's example does.
		stop()
	case failure = <-failed:
	}
	os.Exit(svc.Shutdown(failure))
}
