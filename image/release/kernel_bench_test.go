package release_test

import (
	"bytes"
	"os"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/image/delta"
	"github.com/lapsebox/lapsebox/image/fat"
	"github.com/lapsebox/lapsebox/image/release"
)

// BenchmarkKernelChange measures what a device fetches when a release
// brings a new kernel: the blocks of the new vmlinuz (chunk.go) that the
// old one lacks, which is how boot files travel, and for comparison a
// patch (image/delta) from the old vmlinuz to the new, and one between
// two boot file systems holding them, as a device fetches. The kernels are
// two builds of one distribution's kernel some point releases apart, named
// by LAPSEBOX_KERNEL_OLD and LAPSEBOX_KERNEL_NEW: the module proxy serves
// one build of each of gokrazy's kernels only. scripts/kernel-change
// fetches Debian's and runs it:
//
//	scripts/kernel-change amd64
//	scripts/kernel-change arm64
func BenchmarkKernelChange(b *testing.B) {
	oldPath, newPath := os.Getenv("LAPSEBOX_KERNEL_OLD"), os.Getenv("LAPSEBOX_KERNEL_NEW")
	if oldPath == "" || newPath == "" {
		b.Fatal("LAPSEBOX_KERNEL_OLD and LAPSEBOX_KERNEL_NEW name the two kernels; scripts/kernel-change sets them")
	}
	oldK, err := os.ReadFile(oldPath)
	if err != nil {
		b.Fatal(err)
	}
	newK, err := os.ReadFile(newPath)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		idx, err := release.NewIndex(release.Source{R: bytes.NewReader(oldK), Size: int64(len(oldK))})
		if err != nil {
			b.Fatal(err)
		}
		newP, err := release.NewPart(bytes.NewReader(newK), int64(len(newK)))
		if err != nil {
			b.Fatal(err)
		}
		fetch := idx.Need(newP)
		var lacking bytes.Buffer // what travels, gzipped on the way
		off := int64(0)
		for i, h := range newP.Blocks {
			if _, ok := idx[h]; !ok {
				lacking.Write(newK[off : off+int64(newP.Sizes[i])])
			}
			off += int64(newP.Sizes[i])
		}
		wire, err := release.GzipSize(&lacking)
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		patch, err := delta.Diff(oldK, newK)
		if err != nil {
			b.Fatal(err)
		}
		took := time.Since(start)
		fsPatch, err := delta.Diff(bootFS(b, oldK), bootFS(b, newK))
		if err != nil {
			b.Fatal(err)
		}
		pct := func(n int64) float64 { return 100 * float64(n) / float64(len(newK)) }
		b.Logf("new kernel %d KiB (old %d KiB): blocks the old one lacks %d KiB (%.1f %%; %d KiB gzipped on the way); patch %.1f KiB (%.1f %%, made in %.1fs); patch of the boot file system %.1f KiB (%.1f %%)",
			len(newK)>>10, len(oldK)>>10, fetch>>10, pct(fetch), wire>>10, float64(len(patch))/1024, pct(int64(len(patch))), took.Seconds(),
			float64(len(fsPatch))/1024, pct(int64(len(fsPatch))))
		b.ReportMetric(pct(fetch), "blocks-%")
		b.ReportMetric(pct(int64(len(patch))), "patch-%")
		b.ReportMetric(pct(int64(len(fsPatch))), "fs-patch-%")
	}
}

// bootFS lays a kernel out in a boot file system as the image does,
// with a command line after it.
func bootFS(b *testing.B, kernel []byte) []byte {
	w := fat.NewWriter(fat.Options{Label: "GOKRAZY"})
	for _, f := range []struct{ name, data string }{{"vmlinuz", string(kernel)},
		{"cmdline.txt", "console=tty1 root=PARTUUID=60c24cc1-f3f9-427a-8199-3a9f63470001/PARTNROFF=1 init=/gokrazy/init rootwait\n"}} {
		if err := w.AddFile(f.name, []byte(f.data)); err != nil {
			b.Fatal(err)
		}
	}
	var fs bytes.Buffer
	if _, err := w.WriteTo(&fs); err != nil {
		b.Fatal(err)
	}
	return fs.Bytes()
}
