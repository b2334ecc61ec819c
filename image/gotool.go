package image

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
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
	ldflags := "-ldflags=-s -w"
	if cgo {
		cgoEnabled = "1"
		cenv, err := g.cgoEnv(ctx, goarch)
		if err != nil {
			return &BuildError{Packages: pkgs, Err: err}
		}
		env = append(env, cenv...)
		// Fully static, like every other binary on the device: gokrazy
		// has no dynamic loader or shared libraries.
		ldflags += " -linkmode external -extldflags -static"
	}
	env = append(env, "CGO_ENABLED="+cgoEnabled)
	out := dir + string(filepath.Separator)
	if len(pkgs) == 1 && !strings.HasSuffix(dir, string(filepath.Separator)) {
		out = dir // a file name
	}
	// -buildvcs=false: a binary carries no commit, so a release after a
	// commit that did not touch it brings the same bytes (the image's
	// version is in release.BuildPath instead).
	args := []string{"build", "-trimpath", "-buildvcs=false", "-tags=gokrazy,netgo,osusergo", ldflags, "-o", out}
	var stderr bytes.Buffer
	cmd := g.command(ctx, env, append(args, pkgs...)...)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return &BuildError{Packages: failedPackages(stderr.String(), pkgs), Output: strings.TrimSpace(stderr.String()), Err: err}
	}
	return nil
}

// crossCompilers are Debian's C compilers for each GOARCH, with their
// packages, for services built with cgo.
var crossCompilers = map[string]struct{ cc, pkg string }{
	"amd64": {"x86_64-linux-gnu-gcc", "gcc"},
	"arm64": {"aarch64-linux-gnu-gcc", "gcc-aarch64-linux-gnu libc6-dev-arm64-cross"},
}

// LibusbDir is where `make libusb` (scripts/build-libusb) installs the
// static libusb for goarch, relative to the module root.
func LibusbDir(goarch string) string { return filepath.Join("build", "libusb", goarch) }

// cgoEnv returns the environment of a cgo build for goarch: the C
// compiler, and pkg-config pointed at the static libusb built without udev
// (Debian's needs libudev and cannot link statically), which it builds
// with `make libusb` when it is missing.
func (g goTool) cgoEnv(ctx context.Context, goarch string) ([]string, error) {
	c, ok := crossCompilers[goarch]
	if !ok {
		return nil, fmt.Errorf("cgo: no C compiler known for GOARCH %s", goarch)
	}
	cc := c.cc
	if _, err := exec.LookPath(cc); err != nil {
		if goarch != runtime.GOARCH {
			return nil, fmt.Errorf("cgo for %s needs the C cross compiler %s: apt-get install %s (or run scripts/install-deps)", goarch, cc, c.pkg)
		}
		cc = "gcc"
		if _, err := exec.LookPath(cc); err != nil {
			return nil, fmt.Errorf("cgo needs a C compiler (%s or gcc): apt-get install gcc", c.cc)
		}
	}
	if _, err := exec.LookPath("pkg-config"); err != nil {
		return nil, fmt.Errorf("cgo needs pkg-config to find libusb: apt-get install pkg-config")
	}
	dir := filepath.Join(g.moduleRoot, LibusbDir(goarch))
	pc := filepath.Join(dir, "lib", "pkgconfig")
	if _, err := os.Stat(filepath.Join(pc, "libusb-1.0.pc")); err != nil {
		if _, err := exec.LookPath("make"); err != nil {
			return nil, fmt.Errorf("no static libusb for %s in %s, and no make to build it: apt-get install make", goarch, dir)
		}
		cmd := exec.CommandContext(ctx, "make", "--no-print-directory", "-C", g.moduleRoot, "libusb", "LIBUSB_ARCHS="+goarch)
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("building the static libusb for %s (make libusb LIBUSB_ARCHS=%s): %v\n%s", goarch, goarch, err, strings.TrimSpace(string(out)))
		}
		if _, err := os.Stat(filepath.Join(pc, "libusb-1.0.pc")); err != nil {
			return nil, fmt.Errorf("make libusb LIBUSB_ARCHS=%s left no %s", goarch, filepath.Join(pc, "libusb-1.0.pc"))
		}
	}
	// PKG_CONFIG_LIBDIR too: the host's own libusb-1.0.pc must not win.
	return []string{"CC=" + cc, "PKG_CONFIG_PATH=" + pc, "PKG_CONFIG_LIBDIR=" + pc}, nil
}

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
