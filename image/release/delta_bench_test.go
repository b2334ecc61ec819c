package release_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/image"
	"github.com/lapsebox/lapsebox/image/release"
	"github.com/lapsebox/lapsebox/internal/testtool"
)

// BenchmarkDelta builds the PC image three times from this checkout, as
// releases would be, and measures what a device running the first must
// fetch to install each of the others, in the release format's
// content-defined blocks (chunk.go): after a
// change of one service's code (statusd), and after a change of the
// image's configuration only (a service's environment). Each is compared
// with the compressed root itself, which a push sends whole.
//
//	go test -run '^$' -bench Delta -benchtime 1x -timeout 30m ./image/release/
func BenchmarkDelta(b *testing.B) {
	testtool.Program(b, "mksquashfs")
	testtool.Program(b, "mkfs.ext4")
	modRoot, err := image.ModuleRoot(".")
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	// A copy of the checkout, so that a service's code can change; its
	// static libusb is this checkout's.
	src := filepath.Join(dir, "src")
	if out, err := exec.Command("sh", "-c", fmt.Sprintf(
		"mkdir -p %[2]s/build && cd %[1]s && git ls-files -z | xargs -0 cp --parents -t %[2]s && ln -s %[1]s/build/libusb %[2]s/build/libusb",
		modRoot, src)).CombinedOutput(); err != nil {
		b.Fatalf("copying the checkout: %v\n%s", err, out)
	}
	board, err := image.LookupBoard("pc")
	if err != nil {
		b.Fatal(err)
	}
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	type root struct {
		part *release.Part
	}
	build := func(name string, ts time.Time, d *image.Description) root {
		b.Helper()
		out := filepath.Join(dir, name+".img")
		m, err := image.Build(context.Background(), image.Options{Board: board, Description: d, Output: out,
			ModuleRoot: src, ConfigDir: filepath.Join(dir, "config"), Timestamp: ts})
		if err != nil {
			b.Fatal(err)
		}
		f, err := os.Open(out)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		p, err := release.NewPart(io.NewSectionReader(f, m.Root.Offset, m.Root.Size), m.Root.Size)
		if err != nil {
			b.Fatal(err)
		}
		return root{&p}
	}
	desc := func() *image.Description {
		d, err := image.LoadDescription("")
		if err != nil {
			b.Fatal(err)
		}
		return d
	}
	for b.Loop() {
		v1 := build("v1", t0, desc())

		d := desc()
		for i := range d.Services {
			if d.Services[i].Binary() == "uploadd" {
				d.Services[i].Env = append(d.Services[i].Env, "LAPSEBOX_BENCH=1")
			}
		}
		cfg := build("config", t0.Add(time.Hour), d)

		change := "package main\n\nimport \"os\"\n\nfunc init() {\n\tif os.Getenv(\"LAPSEBOX_BENCH_CHANGE\") != \"\" {\n\t\tos.Stdout.WriteString(\"statusd: changed\\n\")\n\t}\n}\n"
		if err := os.WriteFile(filepath.Join(src, "cmd", "statusd", "benchchange.go"), []byte(change), 0o644); err != nil {
			b.Fatal(err)
		}
		svc := build("service", t0.Add(2*time.Hour), desc())
		os.Remove(filepath.Join(src, "cmd", "statusd", "benchchange.go"))

		have := map[string]bool{}
		for _, h := range v1.part.Blocks {
			have[h] = true
		}
		for _, c := range []struct {
			name string
			r    root
		}{{"service", svc}, {"config", cfg}} {
			p := c.r.part
			var fetch int64
			for i, h := range p.Blocks {
				if !have[h] {
					fetch += int64(p.Sizes[i])
				}
			}
			pct := 100 * float64(fetch) / float64(p.Size)
			b.Logf("%-8s change: content-defined blocks fetch %6d KiB of a %d KiB root (%.1f %%)",
				c.name, fetch>>10, p.Size>>10, pct)
			b.ReportMetric(pct, c.name+"-fetched-%")
		}
	}
}
