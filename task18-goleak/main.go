// Command task18-goleak is a small HTTP service that answers GET / with a
// quote from a downstream quote service, and shuts down gracefully on
// Ctrl+C or SIGTERM. The service itself is package service; main only
// wires it to the process: its signals, its arguments, its output and its
// exit code. See README.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"gracefulshutdown.lab/task18-goleak/service"
)

func main() {
	// The signal no longer kills the process: it cancels ctx, and Run turns
	// that into an orderly shutdown.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := service.Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
