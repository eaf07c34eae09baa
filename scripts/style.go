package main

import (
	"os"
	"strings"
)

// style colours text for a terminal, and leaves it plain everywhere else:
// in a pipe, in CI, and wherever NO_COLOR is set (https://no-color.org).
type style struct{ on bool }

// styleFor is the style for writing to f.
func styleFor(f *os.File) style {
	return style{on: isTerminal(f) && os.Getenv("NO_COLOR") == "" && os.Getenv("TERM") != "dumb"}
}

func isTerminal(f *os.File) bool {
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}

func (s style) wrap(code, text string) string {
	if !s.on || text == "" {
		return text
	}
	return "\x1b[" + code + "m" + text + "\x1b[0m"
}

func (s style) dim(t string) string    { return s.wrap("2", t) }
func (s style) bold(t string) string   { return s.wrap("1", t) }
func (s style) red(t string) string    { return s.wrap("31", t) }
func (s style) yellow(t string) string { return s.wrap("33", t) }
func (s style) green(t string) string  { return s.wrap("32", t) }

// level colours a log level the way people read them: errors red,
// warnings yellow, the rest plain.
func (s style) level(l string) string {
	switch strings.TrimSpace(l) {
	case "ERROR":
		return s.red(l)
	case "WARN":
		return s.yellow(l)
	case "DEBUG":
		return s.dim(l)
	}
	return l
}
