package fat

import (
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/lapsebox/lapsebox/internal/testtool"
)

// BenchmarkWriteTo builds a 75 MiB Raspberry Pi boot partition (~400
// files, a 46 MB vmlinuz), the largest image lapsebox writes. The mtools
// sub-benchmark does the same with mkfs.vfat and mcopy for comparison.
func BenchmarkWriteTo(b *testing.B) {
	tfs := rpiFiles(b, 0)
	opts := Options{Label: "GOKRAZY", VolumeID: 1, ModTime: testTime, MinBytes: 75 << 20}

	build := func(b *testing.B, out io.Writer) {
		w := NewWriter(opts)
		for _, f := range tfs {
			if err := w.AddFile(f.path, f.data); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := w.WriteTo(out); err != nil {
			b.Fatal(err)
		}
	}
	// Layout and encoding alone.
	b.Run("fat-discard", func(b *testing.B) {
		b.SetBytes(opts.MinBytes)
		b.ReportAllocs()
		for b.Loop() {
			build(b, io.Discard)
		}
	})
	// Into a file, as the image builder does; comparable with mtools.
	b.Run("fat-file", func(b *testing.B) {
		path := filepath.Join(b.TempDir(), "boot.img")
		b.SetBytes(opts.MinBytes)
		for b.Loop() {
			f, err := os.Create(path)
			if err != nil {
				b.Fatal(err)
			}
			build(b, f)
			if err := f.Close(); err != nil {
				b.Fatal(err)
			}
		}
	})

	b.Run("mtools", func(b *testing.B) {
		testtool.Programs(b, "mkfs.vfat", "mcopy")
		src := b.TempDir()
		for _, f := range tfs {
			p := filepath.Join(src, f.path)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				b.Fatal(err)
			}
			if err := os.WriteFile(p, f.data, 0o644); err != nil {
				b.Fatal(err)
			}
		}
		entries, err := os.ReadDir(src)
		if err != nil {
			b.Fatal(err)
		}
		args := []string{"-s", "-i", filepath.Join(b.TempDir(), "boot.img")}
		for _, e := range entries {
			args = append(args, filepath.Join(src, e.Name()))
		}
		args = append(args, "::/")
		img := args[2]
		b.SetBytes(opts.MinBytes)
		for b.Loop() {
			os.Remove(img)
			if out, err := command(b, "mkfs.vfat", "-C", "-F", "16", "-f", "1", "-s", "4", "-r", "512", "-n", "GOKRAZY", img, "76800").CombinedOutput(); err != nil {
				b.Fatalf("mkfs.vfat: %v\n%s", err, out)
			}
			if out, err := command(b, "mcopy", args...).CombinedOutput(); err != nil {
				b.Fatalf("mcopy: %v\n%s", err, out)
			}
		}
	})
}
