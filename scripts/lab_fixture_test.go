package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

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

// tinyLab makes a git repository holding a one-task lab with its manifest
// committed, as a learner's clone would be, and returns it opened.
func tinyLab(t *testing.T) *workspace.Workspace {
	t.Helper()
	root := t.TempDir()
	files := map[string]string{
		"go.work":                        "go 1.26.0\n\nuse ./task01-ctrlc\n",
		"task01-ctrlc/go.mod":            "module tiny\n\ngo 1.26.0\n",
		"task01-ctrlc/task.toml":         "number = 1\ntitle = \"Tiny\"\nlevel = \"easy\"\nfiles = [\"main.go\"]\n\n[demo]\nrequests = [\"/\"]\nsignal_after = \"100ms\"\n",
		"task01-ctrlc/main.go":           tinyProgram,
		"task01-ctrlc/main_test.go":      "package main\n\nimport \"testing\"\n\nfunc TestAnswer(t *testing.T) {\n\tif answer() != 42 {\n\t\tt.Fatal(\"want 42\")\n\t}\n}\n",
		"solutions/task01-ctrlc/main.go": tinyProgram + "\n// The reference says a little more.\n",
		".gitignore":                     ".lab-backups/\n",
	}
	for rel, content := range files {
		path := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ws, err := workspace.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	m, err := ws.BuildManifest()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "scripts"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := ws.WriteManifest(m); err != nil {
		t.Fatal(err)
	}
	git(t, root, "init", "-q")
	git(t, root, "add", ".")
	git(t, root, "-c", "user.name=lab", "-c", "user.email=lab@example.com", "commit", "-q", "-m", "the lab")
	return ws
}

func git(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
}

// edit replaces a file of the tiny lab's task.
func edit(t *testing.T, ws *workspace.Workspace, rel, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(ws.Tasks[0].Path, rel), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
