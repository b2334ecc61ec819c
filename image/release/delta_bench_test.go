package release_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/image"
	"github.com/lapsebox/lapsebox/image/delta"
	"github.com/lapsebox/lapsebox/image/release"
	"github.com/lapsebox/lapsebox/internal/testtool"
)

// BenchmarkDelta builds the PC image three times from this checkout, as
// releases would be, and measures what a device running the first must
// fetch to install each of the others: after a change of one service's
// code (statusd), and after a change of the image's configuration only
// (a service's environment). It measures both ways a device can take:
// the release format's content-defined blocks (chunk.go) that its root
// lacks (as they are, and as cloudd sends them, each gzipped), and the patch from its root
// (image/delta), which cloudd offers when smaller. Each is compared with
// the root compressed (gzip: what a device that has none of it fetches).
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
		data []byte
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
		data := make([]byte, m.Root.Size)
		if _, err := f.ReadAt(data, m.Root.Offset); err != nil {
			b.Fatal(err)
		}
		p, err := release.NewPart(bytes.NewReader(data), m.Root.Size)
		if err != nil {
			b.Fatal(err)
		}
		return root{&p, data}
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
		compressed, err := release.GzipSize(bytes.NewReader(svc.data))
		if err != nil {
			b.Fatal(err)
		}
		b.Logf("root: %d KiB, %d KiB compressed (gzip)", svc.part.Size>>10, compressed>>10)
		for _, c := range []struct {
			name string
			r    root
		}{{"service", svc}, {"config", cfg}} {
			p := c.r.part
			var fetch, wire int64 // wire: as cloudd sends them
			off := int64(0)
			for i, h := range p.Blocks {
				if n := int64(p.Sizes[i]); !have[h] {
					fetch += n
					if z := release.GzipBlock(c.r.data[off : off+n]); z != nil {
						n = int64(len(z))
					}
					wire += n
				}
				off += int64(p.Sizes[i])
			}
			start := time.Now()
			patch, err := delta.Diff(v1.data, c.r.data)
			if err != nil {
				b.Fatal(err)
			}
			took := time.Since(start)
			pct := func(n int64) float64 { return 100 * float64(n) / float64(compressed) }
			b.Logf("%-8s change: blocks the root lacks %6d KiB (%.2f %%; %d KiB, %.2f %%, gzipped on the way); patch %7.1f KiB (%.3f %%, made in %.1fs)",
				c.name, fetch>>10, pct(fetch), wire>>10, pct(wire), float64(len(patch))/1024, pct(int64(len(patch))), took.Seconds())
			b.ReportMetric(pct(fetch), c.name+"-blocks-%")
			b.ReportMetric(pct(wire), c.name+"-blocks-gzip-%")
			b.ReportMetric(pct(int64(len(patch))), c.name+"-patch-%")
		}
	}
}
