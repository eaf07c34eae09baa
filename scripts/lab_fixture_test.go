package main

import (
	"os"
	"path/filepath"
	"testing"

	"gracefulshutdown.lab/scripts/internal/labfixture"
	"gracefulshutdown.lab/scripts/internal/workspace"
)

// tinyProgram is a task program small enough for the tool's own tests, yet
// real: it listens, logs its events as JSON, drains on SIGTERM and exits.
const tinyProgram = `package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func answer() int { return 42 }

func main() {
	addr := flag.String("addr", ":8080", "")
	flag.String("log-format", "text", "")
	flag.Parse()
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Error("server failed", "err", err)
		os.Exit(1)
	}
	log.Info("listening", "addr", ln.Addr().String())
	srv := &http.Server{ReadHeaderTimeout: time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		log.Info("request started", "path", r.URL.Path)
		time.Sleep(300 * time.Millisecond)
		fmt.Fprintln(w, "hello", answer())
	})}
	go srv.Serve(ln)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	<-ctx.Done()
	stop()
	log.Info("shutdown started")
	_ = srv.Shutdown(context.Background())
	log.Info("exited")
}
`

// tinyLab is a one-task lab whose program is tinyProgram, as a learner's
// clone of it would be.
func tinyLab(t *testing.T) *workspace.Workspace {
	t.Helper()
	return labfixture.Lab(t, map[string]string{
		"go.work":                        "go 1.26.0\n\nuse ./task01-ctrlc\n",
		"task01-ctrlc/go.mod":            "module tiny\n\ngo 1.26.0\n",
		"task01-ctrlc/task.toml":         "number = 1\ntitle = \"Tiny\"\nlevel = \"easy\"\nfiles = [\"main.go\"]\n\n[demo]\nrequests = [\"/\"]\nsignal_after = \"100ms\"\n",
		"task01-ctrlc/main.go":           tinyProgram,
		"task01-ctrlc/main_test.go":      "package main\n\nimport \"testing\"\n\nfunc TestAnswer(t *testing.T) {\n\tif answer() != 42 {\n\t\tt.Fatal(\"want 42\")\n\t}\n}\n",
		"solutions/task01-ctrlc/main.go": tinyProgram + "\n// The reference says a little more.\n",
		".gitignore":                     ".lab-backups/\n",
	})
}

// edit replaces a file of the tiny lab's task.
func edit(t *testing.T, ws *workspace.Workspace, rel, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(ws.Tasks[0].Path, rel), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
