package main

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// This file reads the commands a program sends to Redis, so that a test
// can see whether the lock is checked and changed in one step.

// sentCommand is one command as the program sent it, on connection conn
// (numbered by the proxy, from 1).
type sentCommand struct {
	conn int
	args []string
}

// String is the command as redis-cli would show it, with a long argument
// (a script) cut short.
func (c sentCommand) String() string {
	shown := make([]string, len(c.args))
	for i, a := range c.args {
		if len(a) > 40 {
			a = a[:40] + "…"
		}
		if strings.ContainsAny(a, " \t\r\n\"") {
			a = strconv.Quote(a)
		}
		shown[i] = a
	}
	return strings.Join(shown, " ")
}

// name is the command's name, in capitals.
func (c sentCommand) name() string {
	if len(c.args) == 0 {
		return ""
	}
	return strings.ToUpper(c.args[0])
}

// readCommand reads one command in the Redis protocol (RESP), as go-redis
// sends it: an array of bulk strings. It returns the command's bytes, to
// pass on unchanged, and its arguments.
func readCommand(in *bufio.Reader) (raw []byte, args []string, err error) {
	header, err := in.ReadString('\n')
	if err != nil {
		return nil, nil, err
	}
	raw = append(raw, header...)
	n, err := respLength(header, '*')
	if err != nil {
		return nil, nil, err
	}
	for range n {
		line, err := in.ReadString('\n')
		if err != nil {
			return nil, nil, err
		}
		raw = append(raw, line...)
		size, err := respLength(line, '$')
		if err != nil {
			return nil, nil, err
		}
		arg := make([]byte, size+2) // and its \r\n
		if _, err := io.ReadFull(in, arg); err != nil {
			return nil, nil, err
		}
		raw = append(raw, arg...)
		args = append(args, string(arg[:size]))
	}
	return raw, args, nil
}

// respLength reads a RESP header line such as "*3\r\n" or "$5\r\n".
func respLength(line string, kind byte) (int, error) {
	line = strings.TrimSuffix(line, "\r\n")
	if len(line) < 2 || line[0] != kind {
		return 0, fmt.Errorf("not a RESP %q header: %q", kind, line)
	}
	n, err := strconv.Atoi(line[1:])
	if err != nil || n < 0 {
		return 0, fmt.Errorf("bad RESP length %q", line)
	}
	return n, nil
}

// changesKey lists the commands that change or delete a key without
// looking at its value first. Sent on their own, after a GET, they act on
// whatever the key holds by then: a check-then-act race.
var changesKey = map[string]bool{
	"DEL": true, "UNLINK": true, "GETDEL": true, "GETEX": true, "PERSIST": true,
	"EXPIRE": true, "PEXPIRE": true, "EXPIREAT": true, "PEXPIREAT": true,
}

// unguardedChanges returns the commands that changed key outside a Lua
// script and outside a MULTI/EXEC transaction: a plain DEL, EXPIRE, or a
// SET without NX. The SET NX that takes the lock is what it should be.
func unguardedChanges(sent []sentCommand, key string) []sentCommand {
	inTransaction := map[int]bool{}
	var unguarded []sentCommand
	for _, c := range sent {
		switch name := c.name(); {
		case name == "MULTI":
			inTransaction[c.conn] = true
		case name == "EXEC" || name == "DISCARD":
			inTransaction[c.conn] = false
		case inTransaction[c.conn] || len(c.args) < 2 || c.args[1] != key:
		case changesKey[name], name == "SET" && (len(c.args) < 3 || !hasOption(c.args[3:], "NX")):
			unguarded = append(unguarded, c)
		}
	}
	return unguarded
}

// hasOption reports whether args holds option, in any case.
func hasOption(args []string, option string) bool {
	for _, a := range args {
		if strings.EqualFold(a, option) {
			return true
		}
	}
	return false
}
