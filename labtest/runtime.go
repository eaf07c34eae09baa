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
