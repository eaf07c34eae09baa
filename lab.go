// Package lab is the root of the Graceful Shutdown Lab. It holds no code:
// its test (lab_test.go) grades the copy of the lab it stands in, task by
// task and criterion by criterion, with `go test ./...` at the root.
package lab
