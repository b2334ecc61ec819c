package image

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// goTool runs the go command in the lapsebox module.
type goTool struct {
	moduleRoot string
}

// ModuleRoot returns the directory of the go.mod that governs dir: images
// are built from the module's own source and pinned versions.
func ModuleRoot(dir string) (string, error) {
	cmd := exec.Command("go", "env", "GOMOD")
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w (is Go installed?)", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("%s is not inside the lapsebox module: run the build from its checkout", dir)
	}
	return filepath.Dir(gomod), nil
}

func (g goTool) command(ctx context.Context, env []string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = g.moduleRoot
	cmd.Env = append(os.Environ(), env...)
	return cmd
}

// moduleDir downloads (if needed) and returns the directory of module, at
// the version go.mod requires or at the exact version given as module@v.
func (g goTool) moduleDir(ctx context.Context, module string) (string, error) {
	var stderr bytes.Buffer
	cmd := g.command(ctx, nil, "mod", "download", "-json", module)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var info struct{ Dir, Error string }
	if jerr := json.Unmarshal(out, &info); jerr == nil && info.Error != "" {
		return "", fmt.Errorf("downloading module %s: %s", module, info.Error)
	}
	if err != nil {
		return "", fmt.Errorf("downloading module %s: %v: %s", module, err, strings.TrimSpace(stderr.String()))
	}
	if info.Dir == "" {
		return "", fmt.Errorf("downloading module %s: go mod download gave no directory", module)
	}
	return info.Dir, nil
}

// build compiles packages for goarch into dir, one binary each, named by
// the package's last element. A failure names the packages that did not
// build and carries the compiler's output.
func (g goTool) build(ctx context.Context, goarch string, cgo bool, dir string, pkgs ...string) error {
	if len(pkgs) == 0 {
		return nil
	}
	cgoEnabled := "0"
	env := []string{"GOOS=linux", "GOARCH=" + goarch}
	if cgo {
		cgoEnabled = "1"
		if cc, ok := crossCompilers[goarch]; ok {
			env = append(env, "CC="+cc)
		}
	}
	env = append(env, "CGO_ENABLED="+cgoEnabled)
	out := dir + string(filepath.Separator)
	if len(pkgs) == 1 && !strings.HasSuffix(dir, string(filepath.Separator)) {
		out = dir // a file name
	}
	args := []string{"build", "-trimpath", "-tags=gokrazy,netgo,osusergo", "-ldflags=-s -w", "-o", out}
	var stderr bytes.Buffer
	cmd := g.command(ctx, env, append(args, pkgs...)...)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return &BuildError{Packages: failedPackages(stderr.String(), pkgs), Output: strings.TrimSpace(stderr.String()), Err: err}
	}
	return nil
}

// crossCompilers are Debian's C cross compilers, for services built with cgo.
var crossCompilers = map[string]string{"arm64": "aarch64-linux-gnu-gcc"}

// BuildError reports services or programs that failed to compile.
type BuildError struct {
	Packages []string // the packages the compiler complained about
	Output   string
	Err      error
}

func (e *BuildError) Error() string {
	return fmt.Sprintf("building %s: %v\n%s", strings.Join(e.Packages, ", "), e.Err, e.Output)
}

func (e *BuildError) Unwrap() error { return e.Err }

// failedPackages picks the packages named in `# pkg` headers of go build's
// output, or all of them when the output names none (e.g. a missing package).
func failedPackages(output string, pkgs []string) []string {
	var failed []string
	for _, line := range strings.Split(output, "\n") {
		if p, ok := strings.CutPrefix(line, "# "); ok {
			failed = append(failed, p)
		}
	}
	if failed == nil {
		for _, p := range pkgs {
			if strings.Contains(output, p) {
				failed = append(failed, p)
			}
		}
	}
	if failed == nil {
		failed = pkgs
	}
	return failed
}
