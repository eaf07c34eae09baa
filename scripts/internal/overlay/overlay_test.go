package overlay

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const base = `package overlay

func main() {
	serve()
	shutdown()
}
`

const bugPatch = `--- a/main.go
+++ b/main.go
@@ -2,5 +2,4 @@
 
 func main() {
 	serve()
-	shutdown()
 }
`

func TestApplyPatchChangesTheNamedFile(t *testing.T) {
	fs, err := ApplyPatch([]byte(bugPatch), func(rel string) ([]byte, error) {
		if rel != "main.go" {
			t.Fatalf("asked for %q, want main.go (the a/ prefix stripped)", rel)
		}
		return []byte(base), nil
	}, Files{"other.go": []byte("package overlay\n")})
	if err != nil {
		t.Fatal(err)
	}
	if got := string(fs["main.go"]); strings.Contains(got, "shutdown()") || !strings.Contains(got, "serve()") {
		t.Errorf("patched main.go =\n%s\nwant the shutdown() line gone and the rest kept", got)
	}
	if _, ok := fs["other.go"]; !ok {
		t.Error("files the patch does not touch must be kept")
	}
}

func TestApplyPatchReportsAStalePatch(t *testing.T) {
	_, err := ApplyPatch([]byte(bugPatch), func(string) ([]byte, error) {
		return []byte("package overlay\n\nfunc main() {}\n"), nil
	}, nil)
	if err == nil || !strings.Contains(err.Error(), "does not apply") {
		t.Fatalf("err = %v, want a patch that does not apply to say so", err)
	}
}

func TestApplyPatchRejectsNonsense(t *testing.T) {
	if _, err := ApplyPatch([]byte("not a patch\n"), nil, nil); err == nil {
		t.Fatal("a text with no diff in it was accepted")
	}
}

func TestWriteOverlayUsesAbsolutePaths(t *testing.T) {
	dir := t.TempDir()
	taskPath := filepath.Join(dir, "task01-ctrlc")
	path, err := Write(dir, taskPath, Files{"main.go": []byte(base)})
	if err != nil {
		t.Fatal(err)
	}
	var ov Overlay
	b, _ := os.ReadFile(path)
	if err := json.Unmarshal(b, &ov); err != nil {
		t.Fatalf("overlay is not JSON: %v", err)
	}
	dst, ok := ov.Replace[filepath.Join(taskPath, "main.go")]
	if !ok || !filepath.IsAbs(dst) {
		t.Fatalf("Replace = %v, want the task's main.go mapped to an absolute path", ov.Replace)
	}
	if got, _ := os.ReadFile(dst); string(got) != base {
		t.Errorf("overlay file holds %q, want the given content", got)
	}
}

func TestWriteDeletesAFileGivenNoContent(t *testing.T) {
	dir := t.TempDir()
	taskPath := filepath.Join(dir, "task18-goleak")
	path, err := Write(dir, taskPath, Files{"leak_test.go": Deleted, "main.go": []byte(base)})
	if err != nil {
		t.Fatal(err)
	}
	var ov Overlay
	b, _ := os.ReadFile(path)
	if err := json.Unmarshal(b, &ov); err != nil {
		t.Fatal(err)
	}
	if dst, ok := ov.Replace[filepath.Join(taskPath, "leak_test.go")]; !ok || dst != "" {
		t.Errorf("Replace = %v, want leak_test.go mapped to \"\" (deleted, for go build -overlay)", ov.Replace)
	}
}
