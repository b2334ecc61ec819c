package image

import (
	"context"
	"debug/elf"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lapsebox/lapsebox/internal/testtool"
)

// fakeModule makes a module root whose `make libusb` runs recipe.
func fakeModule(t *testing.T, recipe string) string {
	t.Helper()
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "Makefile"), []byte("libusb:\n\t"+recipe+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return root
}

func TestCgoEnvErrors(t *testing.T) {
	testtool.Programs(t, "make", "gcc", "pkg-config")
	ctx := context.Background()

	t.Run("no cross compiler", func(t *testing.T) {
		defer func(old map[string]struct{ cc, pkg string }) { crossCompilers = old }(crossCompilers)
		crossCompilers = map[string]struct{ cc, pkg string }{"arm64": {"no-such-aarch64-gcc", "gcc-aarch64-linux-gnu"}}
		_, err := goTool{moduleRoot: fakeModule(t, "true")}.cgoEnv(ctx, "arm64")
		if err == nil || !strings.Contains(err.Error(), "no-such-aarch64-gcc") || !strings.Contains(err.Error(), "apt-get install gcc-aarch64-linux-gnu") {
			t.Errorf("error %v: want it to name the compiler and its package", err)
		}
	})

	t.Run("libusb build fails", func(t *testing.T) {
		root := fakeModule(t, "@echo no libusb source for $(LIBUSB_ARCHS) >&2; exit 1")
		_, err := goTool{moduleRoot: root}.cgoEnv(ctx, "amd64")
		if err == nil || !strings.Contains(err.Error(), "static libusb for amd64") || !strings.Contains(err.Error(), "no libusb source for amd64") {
			t.Errorf("error %v: want it to say what failed, with make's output", err)
		}
	})

	t.Run("libusb built but missing", func(t *testing.T) {
		_, err := goTool{moduleRoot: fakeModule(t, "true")}.cgoEnv(ctx, "amd64")
		if err == nil || !strings.Contains(err.Error(), "libusb-1.0.pc") {
			t.Errorf("error %v: want it to name the missing file", err)
		}
	})

	t.Run("cached", func(t *testing.T) {
		root := fakeModule(t, "@echo must not rebuild >&2; exit 1")
		pc := filepath.Join(root, LibusbDir("amd64"), "lib", "pkgconfig")
		os.MkdirAll(pc, 0o755)
		os.WriteFile(filepath.Join(pc, "libusb-1.0.pc"), nil, 0o644)
		env, err := goTool{moduleRoot: root}.cgoEnv(ctx, "amd64")
		if err != nil {
			t.Fatal(err)
		}
		joined := strings.Join(env, " ")
		if !strings.Contains(joined, "PKG_CONFIG_PATH="+pc) || !strings.Contains(joined, "PKG_CONFIG_LIBDIR="+pc) || !strings.Contains(joined, "CC=") {
			t.Errorf("env %q", env)
		}
	})
}

// TestCgoStatic builds camerad (gousb, cgo) for both architectures the
// way an image does and checks that the binaries are fully static: the
// device has no dynamic loader. The first run builds libusb (make libusb).
func TestCgoStatic(t *testing.T) {
	needTools(t, "make", "gcc", "pkg-config", "aarch64-linux-gnu-gcc")
	root, err := ModuleRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	g := goTool{moduleRoot: root}
	for _, arch := range []string{"amd64", "arm64"} {
		bin := filepath.Join(t.TempDir(), "camerad")
		if err := g.build(context.Background(), arch, true, bin, "./cmd/camerad"); err != nil {
			t.Fatalf("%s: %v", arch, err)
		}
		f, err := elf.Open(bin)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[arch]
		if f.Machine != want {
			t.Errorf("%s: machine %v", arch, f.Machine)
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Errorf("%s: camerad has a dynamic loader (PT_INTERP): not static", arch)
			}
		}
		if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
			t.Errorf("%s: camerad needs shared libraries %v", arch, libs)
		}
		f.Close()
	}
}
