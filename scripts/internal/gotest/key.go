package gotest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"

	"golang.org/x/mod/modfile"
)

// buildKey names a kept build by its inputs, so that the same inputs, in
// this task folder or in another clone of the workspace, find the same
// binaries, and any change finds none. The key is deliberately wider than
// what go would look at, and it is all there is: the go command is not
// asked again. It hashes every file of the task's module and of the
// workspace modules it requires (see localModules), whatever the file; the
// workspace's go.work and go.work.sum; the files the overlay
// swaps in; the packages and the build flags; and `go env`, which names the
// toolchain's version and every setting that changes a build. Paths go in
// relative to the workspace, so that another clone matches. Modules from
// the module cache cannot change under their go.sum lines, which the key
// includes.
func (g Invocation) buildKey(pkgs []testPackage) (string, error) {
	env, err := goEnv(g.Dir)
	if err != nil {
		return "", err
	}
	root := g.Dir
	if env.work != "" {
		root = filepath.Dir(env.work)
	}
	rel := func(path string) string {
		if r, err := filepath.Rel(root, path); err == nil {
			return filepath.ToSlash(r)
		}
		return path
	}
	h := sha256.New()
	// The overlay by what it swaps in, below, not by where it is.
	flags := g
	flags.Overlay = ""
	fmt.Fprintf(h, "flags %q\nenv %s\n", flags.buildFlags(), env.json)
	for _, p := range pkgs {
		fmt.Fprintf(h, "package %s %s\n", p.importPath, rel(p.dir))
	}
	dirs, err := localModules(g.Dir, env.work)
	if err != nil {
		return "", err
	}
	for _, dir := range dirs {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return err
			}
			return hashFile(h, rel(path), path)
		})
		if err != nil {
			return "", err
		}
	}
	if env.work != "" {
		for _, f := range []string{env.work, env.work + ".sum"} {
			if err := hashFile(h, rel(f), f); err != nil && !os.IsNotExist(err) {
				return "", err
			}
		}
	}
	ov, err := readOverlay(g.Overlay)
	if err != nil {
		return "", err
	}
	for _, path := range slices.Sorted(maps.Keys(ov)) {
		fmt.Fprintf(h, "overlay %s\n", rel(path))
		if stand := ov[path]; stand != "" {
			if err := hashFile(h, rel(path), stand); err != nil {
				return "", err
			}
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// isKey reports whether name is a key that buildKey makes.
func isKey(name string) bool {
	_, err := hex.DecodeString(name)
	return err == nil && len(name) == 2*sha256.Size
}

// hashFile hashes the file at path, under the name name.
func hashFile(h hash.Hash, name, path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	fmt.Fprintf(h, "file %s %d\n", name, len(b))
	h.Write(b)
	return nil
}

// environment is `go env -json` in a folder, without what differs from one
// clone, or one go command, to the next; and the go.work it names.
type environment struct {
	json []byte
	work string
}

var envs sync.Map // folder → environment

// goEnv is the environment of dir, asked once per folder and process.
func goEnv(dir string) (environment, error) {
	if e, ok := envs.Load(dir); ok {
		return e.(environment), nil
	}
	cmd := exec.Command("go", "env", "-json")
	cmd.Dir = dir
	cmd.Env = Env()
	out, err := cmd.Output()
	if err != nil {
		return environment{}, fmt.Errorf("go env in %s: %w", dir, err)
	}
	var vars map[string]string
	if err := json.Unmarshal(out, &vars); err != nil {
		return environment{}, fmt.Errorf("go env in %s: %w", dir, err)
	}
	e := environment{work: vars["GOWORK"]}
	if e.work == "off" {
		e.work = ""
	}
	// The go.mod and go.work of this clone (their contents are in the
	// key), and the C compiler's flags, which name a temporary folder of
	// each go command. CGO_CFLAGS and the rest, which a person sets, stay.
	for _, v := range []string{"GOMOD", "GOWORK", "GOGCCFLAGS"} {
		delete(vars, v)
	}
	if e.json, err = json.Marshal(vars); err != nil { // in the order of its keys
		return environment{}, err
	}
	envs.Store(dir, e)
	return e, nil
}

// localModules is dir and the folders of the workspace modules that its
// module requires: those its go.mod replaces with a local folder, and those
// that go.work uses. Their files are what a task's build reads from the
// disk, besides the module cache.
func localModules(dir, work string) ([]string, error) {
	gomod := filepath.Join(dir, "go.mod")
	b, err := os.ReadFile(gomod)
	if err != nil {
		return nil, err
	}
	mf, err := modfile.ParseLax(gomod, b, nil)
	if err != nil {
		return nil, err
	}
	local := map[string]string{} // module path → folder
	if work != "" {
		wb, err := os.ReadFile(work)
		if err != nil {
			return nil, err
		}
		wf, err := modfile.ParseWork(work, wb, nil)
		if err != nil {
			return nil, err
		}
		for _, u := range wf.Use {
			used := u.Path
			if !filepath.IsAbs(used) {
				used = filepath.Join(filepath.Dir(work), used)
			}
			if path, err := modulePath(filepath.Join(used, "go.mod")); err == nil {
				local[path] = filepath.Clean(used)
			}
		}
	}
	for _, r := range mf.Replace {
		if modfile.IsDirectoryPath(r.New.Path) {
			target := r.New.Path
			if !filepath.IsAbs(target) {
				target = filepath.Join(dir, target)
			}
			local[r.Old.Path] = filepath.Clean(target)
		}
	}
	dirs := []string{dir}
	for _, req := range mf.Require {
		if d, ok := local[req.Mod.Path]; ok && !slices.Contains(dirs, d) {
			dirs = append(dirs, d)
		}
	}
	return dirs, nil
}
