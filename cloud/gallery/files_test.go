package gallery

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// Whatever name openIn is given, what it opens is a regular file of the
// tree under dir reached without a link: never a file outside, never
// one through a planted link, never a directory.
func FuzzOpenIn(f *testing.F) {
	base := f.TempDir()
	dir := filepath.Join(base, "cam")
	inside := map[uint64]bool{}
	write := func(p string) {
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			f.Fatal(err)
		}
	}
	for _, n := range []string{"a.jpg", "2026/11/26/b.jpg", "2026/c d.jpg"} {
		p := filepath.Join(dir, filepath.FromSlash(n))
		write(p)
		fi, _ := os.Stat(p)
		inside[fi.Sys().(*syscall.Stat_t).Ino] = true
	}
	write(filepath.Join(base, "other", "secret.jpg"))
	write(filepath.Join(base, "secret.jpg"))
	os.Symlink(filepath.Join(base, "other"), filepath.Join(dir, "linkdir"))
	os.Symlink(filepath.Join(base, "secret.jpg"), filepath.Join(dir, "link.jpg"))
	os.Symlink("a.jpg", filepath.Join(dir, "samedir.jpg"))
	for _, seed := range []string{"a.jpg", "2026/11/26/b.jpg", "2026/c d.jpg", "../secret.jpg", "../other/secret.jpg",
		"linkdir/secret.jpg", "link.jpg", "samedir.jpg", "2026", "/etc/passwd", "2026/../a.jpg", "./a.jpg", "2026//c d.jpg", ".tmp", ""} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, name string) {
		fh, fi, err := openIn(dir, name)
		if err != nil {
			return
		}
		defer fh.Close()
		if !fi.Mode().IsRegular() || !inside[fi.Sys().(*syscall.Stat_t).Ino] {
			t.Errorf("openIn(%q) opened %v, not one of the tree's own files", name, fi.Mode())
		}
		if name != "a.jpg" && name != "2026/11/26/b.jpg" && name != "2026/c d.jpg" {
			t.Errorf("openIn(%q) opened a file under another name", name)
		}
	})
}
