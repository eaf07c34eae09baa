package gotest

import (
	"encoding/json"
	"errors"
	"fmt"
	"go/build"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/mod/modfile"
)

// testPackage is one package of a task that has tests to run.
type testPackage struct {
	dir        string // its folder
	importPath string
	pattern    string // how go test is told of it, relative to the task: ".", "./lifecycle"
}

// testPackages returns the module path of the task in dir, and the
// packages that patterns (none meaning "./...") name under dir and that
// have test files, root first, as a build with the overlay at overlayPath
// sees them: its deleted files gone, its added ones present, and build
// constraints applied as under -race.
func testPackages(dir string, patterns []string, overlayPath string) (string, []testPackage, error) {
	module, err := modulePath(filepath.Join(dir, "go.mod"))
	if err != nil {
		return "", nil, err
	}
	ov, err := readOverlay(overlayPath)
	if err != nil {
		return "", nil, err
	}
	var rels []string
	if len(patterns) == 0 {
		patterns = []string{"./..."}
	}
	for _, p := range patterns {
		if rel, ok := strings.CutSuffix(p, "/..."); ok {
			found, err := packageDirs(dir, rel)
			if err != nil {
				return "", nil, err
			}
			rels = append(rels, found...)
			continue
		}
		rels = append(rels, filepath.Clean(p))
	}
	ctxt := ov.buildContext()
	var pkgs []testPackage
	for _, rel := range rels {
		abs := filepath.Join(dir, rel)
		bp, err := ctxt.ImportDir(abs, 0)
		var noGo *build.NoGoError
		if err != nil && !errors.As(err, &noGo) {
			return "", nil, fmt.Errorf("reading the package in %s: %w", abs, err)
		}
		if len(bp.TestGoFiles)+len(bp.XTestGoFiles) == 0 {
			continue
		}
		p := testPackage{dir: abs, importPath: module, pattern: "."}
		if rel != "." {
			p.importPath = path.Join(module, filepath.ToSlash(rel))
			p.pattern = "./" + filepath.ToSlash(rel)
		}
		pkgs = append(pkgs, p)
	}
	return module, pkgs, nil
}

// packageDirs is every folder under dir/rel that "./rel/..." matches: not
// testdata, not a folder whose name starts with . or _, not another module.
func packageDirs(dir, rel string) ([]string, error) {
	var rels []string
	top := filepath.Join(dir, rel)
	err := filepath.WalkDir(top, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		name := d.Name()
		if p != top && (name == "testdata" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
			return filepath.SkipDir
		}
		if _, err := os.Stat(filepath.Join(p, "go.mod")); err == nil && p != dir {
			return filepath.SkipDir
		}
		r, err := filepath.Rel(dir, p)
		rels = append(rels, r)
		return err
	})
	return rels, err
}

// modulePath reads the module path of a go.mod.
func modulePath(gomod string) (string, error) {
	b, err := os.ReadFile(gomod)
	if err != nil {
		return "", err
	}
	if path := modfile.ModulePath(b); path != "" {
		return path, nil
	}
	return "", fmt.Errorf("%s has no module line", gomod)
}

// overlayFiles is a go build -overlay file's Replace map: a path's stand-in,
// or "" for a file the build must not see.
type overlayFiles map[string]string

func readOverlay(p string) (overlayFiles, error) {
	if p == "" {
		return overlayFiles{}, nil
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	var ov struct{ Replace overlayFiles }
	if err := json.Unmarshal(b, &ov); err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return ov.Replace, nil
}

// buildContext is go/build's view of the files with the overlay applied,
// with the race detector's build tag.
func (ov overlayFiles) buildContext() *build.Context {
	ctxt := build.Default
	ctxt.BuildTags = append(slices.Clone(ctxt.BuildTags), "race")
	ctxt.ReadDir = func(dir string) ([]fs.FileInfo, error) {
		entries, err := os.ReadDir(dir)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		var infos []fs.FileInfo
		seen := map[string]bool{}
		for _, e := range entries {
			name := filepath.Join(dir, e.Name())
			seen[name] = true
			if stand, ok := ov[name]; ok && stand == "" {
				continue
			}
			info, err := e.Info()
			if err != nil {
				return nil, err
			}
			infos = append(infos, info)
		}
		for name, stand := range ov {
			if stand != "" && !seen[name] && filepath.Dir(name) == dir {
				infos = append(infos, addedFile(filepath.Base(name)))
			}
		}
		return infos, nil
	}
	ctxt.OpenFile = func(name string) (io.ReadCloser, error) {
		if stand, ok := ov[name]; ok && stand != "" {
			name = stand
		}
		return os.Open(name)
	}
	return &ctxt
}

// addedFile is the directory entry of a file that only the overlay has.
type addedFile string

func (f addedFile) Name() string       { return string(f) }
func (f addedFile) Size() int64        { return 0 }
func (f addedFile) Mode() fs.FileMode  { return 0o644 }
func (f addedFile) ModTime() time.Time { return time.Time{} }
func (f addedFile) IsDir() bool        { return false }
func (f addedFile) Sys() any           { return nil }
