package main

import (
	"bufio"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// speakAfter is how long a build may run before the learner is told about
// it: an up-to-date tool takes a fraction of it, so a warm start says
// nothing.
const speakAfter = time.Second

// build brings bin up to date with the tool's sources. go build leaves a
// binary alone when its build ID says it is current, so on a warm machine
// this is one quick look; otherwise it compiles what the build cache lacks,
// and p hears of each module fetched and package compiled.
func build(ctx context.Context, root, bin string, p *progress) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-race", "-v", "-o", bin, toolPackage)
	cmd.Dir = root
	out, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("building the lab tool: %v", err)
	}
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	speak := time.NewTimer(speakAfter)
	defer speak.Stop()
	var problems []string
	for lines != nil {
		select {
		case <-speak.C:
			p.begin(ctx, root)
		case line, ok := <-lines:
			if !ok {
				lines = nil
				continue
			}
			switch {
			case strings.HasPrefix(line, "go: downloading "):
				p.begin(ctx, root)
				p.downloaded(strings.TrimPrefix(line, "go: downloading "))
			case isImportPath(line):
				// -v names each package as it is compiled.
				p.begin(ctx, root)
				p.compiled(line)
			default:
				problems = append(problems, line)
			}
		}
	}
	err = cmd.Wait()
	p.end(err)
	if ctx.Err() != nil {
		return fmt.Errorf("stopped while building the lab tool")
	}
	if err != nil {
		// The tool's own sources do not compile, or a module could not be
		// fetched: what go build said is the whole story.
		return fmt.Errorf("could not build the lab tool (go build %s: %v):\n%s", toolPackage, err, strings.Join(problems, "\n"))
	}
	return nil
}

// isImportPath tells go build -v's package lines from its messages.
func isImportPath(line string) bool {
	return line != "" && !strings.ContainsAny(line, " \t:")
}
