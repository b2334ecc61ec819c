package release_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
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
// fetch to install each of the others, with fixed 64 KiB blocks: after a
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
		part   *release.Part
		chunks map[string]int // content-defined chunks: hash to size
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
		data := make([]byte, m.Root.Size)
		if _, err := f.ReadAt(data, m.Root.Offset); err != nil {
			b.Fatal(err)
		}
		return root{&p, cdcChunks(data)}
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
			var fetch, cdc int64
			for i, h := range p.Blocks {
				if !have[h] {
					fetch += min(int64(release.BlockSize), p.Size-int64(i)*release.BlockSize)
				}
			}
			for h, n := range c.r.chunks {
				if _, ok := v1.chunks[h]; !ok {
					cdc += int64(n)
				}
			}
			pct := 100 * float64(fetch) / float64(p.Size)
			cdcPct := 100 * float64(cdc) / float64(p.Size)
			b.Logf("%-8s change: fixed 64 KiB blocks fetch %6d KiB of a %d KiB root (%.1f %%); content-defined chunks would fetch %6d KiB (%.1f %%)",
				c.name, fetch>>10, p.Size>>10, pct, cdc>>10, cdcPct)
			b.ReportMetric(pct, c.name+"-fixed-%")
			b.ReportMetric(cdcPct, c.name+"-cdc-%")
		}
	}
}

// cdcChunks splits data into content-defined chunks (a gear rolling hash,
// 2 KiB to 64 KiB, about 16 KiB on average) and returns each distinct
// chunk's hash with its size. It measures what the release format would
// gain from such chunks over fixed blocks: an unchanged file whose bytes
// moved in the squashfs is found again, as a fixed block is not.
func cdcChunks(data []byte) map[string]int {
	const (
		minSize = 2 << 10
		maxSize = 64 << 10
		mask    = 1<<14 - 1
	)
	rng := rand.New(rand.NewPCG(1, 2))
	var gear [256]uint64
	for i := range gear {
		gear[i] = rng.Uint64()
	}
	out := map[string]int{}
	for len(data) > 0 {
		n := len(data)
		if n > maxSize {
			n = maxSize
		}
		var h uint64
		for i := minSize; i < n; i++ {
			h = h<<1 + gear[data[i]]
			if h&mask == 0 {
				n = i + 1
				break
			}
		}
		if n > len(data) {
			n = len(data)
		}
		sum := sha256.Sum256(data[:n])
		out[hex.EncodeToString(sum[:])] = n
		data = data[n:]
	}
	return out
}
