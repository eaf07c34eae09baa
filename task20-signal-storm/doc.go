// Command task20-signal-storm is the capstone of the Graceful Shutdown Lab:
// one service with every earlier task's part in its place, and one budget
// for its whole shutdown. Its public API serves a slow hello from the
// database, capped per request (tasks 7, 9), messages for Kafka (13), a
// long poll (14) and WebSockets (11); its admin listener serves metrics,
// probes, the preStop hook and pprof (15, 17). A worker runs jobs (4, 6), a
// Redis lock keeps it the only instance (12), and its shutdown is measured
// in Prometheus metrics and traced with OpenTelemetry (15, 16, 19).
//
// Each part joins a lifecycle.Lifecycle as a phase the moment it has
// started (task 8), and the phases run last in, first out, each on its own
// deadline, all within -grace-period from the moment readiness goes off;
// service.Start checks at start-up that the worst case fits. The service
// is package service; this package is main, in signals.go, which turns the
// process's signals into one shutdown. See README.md.
package main
