package release_test

import (
	"bytes"
	"os"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/image/delta"
	"github.com/lapsebox/lapsebox/image/release"
)

// BenchmarkKernelChange measures what a device fetches when a release
// brings a new kernel: the blocks of the new vmlinuz (chunk.go) that the
// old one lacks, which is how boot files travel, and for comparison a
// patch (image/delta) from the old vmlinuz to the new. The kernels are
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
		pct := func(n int64) float64 { return 100 * float64(n) / float64(len(newK)) }
		b.Logf("new kernel %d KiB (old %d KiB): blocks the old one lacks %d KiB (%.1f %%; %d KiB gzipped on the way); patch %.1f KiB (%.1f %%, made in %.1fs)",
			len(newK)>>10, len(oldK)>>10, fetch>>10, pct(fetch), wire>>10, float64(len(patch))/1024, pct(int64(len(patch))), took.Seconds())
		b.ReportMetric(pct(fetch), "blocks-%")
		b.ReportMetric(pct(int64(len(patch))), "patch-%")
	}
}
