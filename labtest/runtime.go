package labtest

import (
	"reflect"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
)

// What in-process tests need to know of the Go runtime they run in.

// PackagePath is how stack traces name the package of function fn: in a
// test binary not "main" but the module's path, such as
// gracefulshutdown.lab/task04-ticker for PackagePath(run).
func PackagePath(fn any) string {
	name := runtime.FuncForPC(reflect.ValueOf(fn).Pointer()).Name()
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		return name[:i]
	}
	return name
}

// GoroutineID is the number of the calling goroutine, as the first line of
// its stack trace gives it ("goroutine 18 [running]:").
func GoroutineID() uint64 {
	var buf [64]byte
	fields := strings.Fields(string(buf[:runtime.Stack(buf[:], false)]))
	if len(fields) < 2 {
		return 0
	}
	id, _ := strconv.ParseUint(fields[1], 10, 64)
	return id
}

// RaceDetectorOn reports whether this binary was built with -race.
func RaceDetectorOn() bool {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range info.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

// Goroutine is one goroutine of this process, as a stack dump shows it.
type Goroutine struct {
	ID uint64
	// State is what it is doing or waiting in, as the dump's header says
	// it, without how long: "running", "runnable", "chan send", "select",
	// "sleep", "IO wait"...
	State string
	// Stack is its whole trace, header line included.
	Stack string
}

// OtherGoroutines are every goroutine of this process but the caller's.
func OtherGoroutines() []Goroutine {
	buf := make([]byte, 1<<16)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	self := GoroutineID()
	var all []Goroutine
	for trace := range strings.SplitSeq(string(buf), "\n\n") {
		// "goroutine 18 [chan receive, 2 minutes]:" (with GOTRACEBACK=system,
		// "goroutine 18 gp=… m=… [chan receive]:")
		header, _, _ := strings.Cut(trace, "\n")
		fields := strings.Fields(header)
		_, rest, ok := strings.Cut(header, "[")
		if len(fields) < 2 || fields[0] != "goroutine" || !ok {
			continue
		}
		id, err := strconv.ParseUint(fields[1], 10, 64)
		if err != nil || id == self {
			continue
		}
		state, _, _ := strings.Cut(rest, "]")
		state, _, _ = strings.Cut(state, ",")
		all = append(all, Goroutine{ID: id, State: state, Stack: trace})
	}
	return all
}
