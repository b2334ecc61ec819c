package qemu

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/internal/testtool"
)

// qemuIO runs QEMU's own block-layer client against the cache.
func qemuIO(ctx context.Context, t *testing.T, c *WriteCache, cmds ...string) *exec.Cmd {
	t.Helper()
	bin := testtool.Program(t, "qemu-io")
	args := []string{"-f", "raw", "-t", "writeback"} // qemu-io flushes after every write by default
	for _, cmd := range cmds {
		args = append(args, "-c", cmd)
	}
	args = append(args, "nbd+unix:///?socket="+c.sock)
	return exec.CommandContext(ctx, bin, args...)
}

func newCache(t *testing.T, cfg WriteCacheConfig) (*WriteCache, string) {
	t.Helper()
	dir := t.TempDir()
	img := filepath.Join(dir, "disk.img")
	if err := os.WriteFile(img, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := NewWriteCache(img, filepath.Join(dir, "nbd.sock"), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, img
}

func checkBytes(t *testing.T, img string, off, n int, want byte) {
	t.Helper()
	b, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	if got := b[off : off+n]; !bytes.Equal(got, bytes.Repeat([]byte{want}, n)) {
		t.Errorf("image bytes %d..%d: want all %#x, got %#x…", off, off+n, want, got[:8])
	}
}

// TestWriteCacheReadsItsWrites: the guest reads what it wrote before any
// flush, unaligned writes included, and an orderly close writes it back.
func TestWriteCacheReadsItsWrites(t *testing.T) {
	c, img := newCache(t, WriteCacheConfig{})
	out, err := qemuIO(context.Background(), t, c,
		"write -P 0xaa 0 64k", "write -P 0xbb 4608 512", "read -P 0xaa 0 4608", "read -P 0xbb 4608 512", "read -P 0xaa 5120 1k",
	).CombinedOutput()
	if err != nil || strings.Contains(string(out), "failed") {
		t.Fatalf("qemu-io: %v\n%s", err, out)
	}
	if st := c.Stats(); st.Writes < 2 || st.Reads < 3 {
		t.Errorf("stats %+v: the requests did not reach the cache", st)
	}
	c.Close()
	checkBytes(t, img, 0, 4608, 0xaa)
	checkBytes(t, img, 4608, 512, 0xbb)
	checkBytes(t, img, 5120, 64<<10-5120, 0xaa)
}

// TestWriteCacheCut: a cut keeps what was flushed and loses what was not
// (or keeps it, when pages survive), and the disk is dead afterwards.
func TestWriteCacheCut(t *testing.T) {
	for _, tc := range []struct {
		name    string
		survive float64
		want    byte
	}{
		{"unflushed lost", 0, 0},
		{"unflushed written back", 1, 0xbb},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, img := newCache(t, WriteCacheConfig{Survive: tc.survive})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			cmd := qemuIO(ctx, t, c, "write -P 0xaa 0 64k", "flush", "write -P 0xbb 64k 64k", "sleep 60000")
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Wait()
			for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
				if st := c.Stats(); st.Flushes >= 1 && st.Writes >= 2 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("qemu-io did not write and flush: %+v", c.Stats())
				}
			}
			rep, err := c.Cut()
			if err != nil {
				t.Fatal(err)
			}
			cancel()
			if rep.Kept+rep.Lost != 16 {
				t.Errorf("cut %+v: want the 16 unflushed pages", rep)
			}
			if _, err := c.read(0, 512); err == nil {
				t.Error("the disk answered a read after the cut")
			}
			if err := c.write(0, make([]byte, 512)); err == nil {
				t.Error("the disk took a write after the cut")
			}
			checkBytes(t, img, 0, 64<<10, 0xaa)
			checkBytes(t, img, 64<<10, 64<<10, tc.want)
		})
	}
}

// TestWriteCacheFull: past its size the cache writes pages back by
// itself, as a disk does; a cut then loses only the rest.
func TestWriteCacheFull(t *testing.T) {
	c, img := newCache(t, WriteCacheConfig{Pages: 4})
	if err := c.write(0, bytes.Repeat([]byte{0xcc}, 10*pageSize)); err != nil {
		t.Fatal(err)
	}
	if c.Dirty() != 4 || c.Stats().WrittenBack != 6 {
		t.Fatalf("dirty %d, stats %+v: want 4 cached and 6 written back", c.Dirty(), c.Stats())
	}
	rep, err := c.Cut()
	if err != nil || rep.Lost != 4 {
		t.Fatalf("cut: %+v, %v", rep, err)
	}
	b, _ := os.ReadFile(img)
	if n := bytes.Count(b[:10*pageSize], []byte{0xcc}); n != 6*pageSize {
		t.Errorf("%d bytes reached the image, want the 6 pages written back", n)
	}
}

// TestWriteCacheCutDuringFlush: pages a slow flush has not yet written
// out are as unflushed as any, and the flush fails.
func TestWriteCacheCutDuringFlush(t *testing.T) {
	c, img := newCache(t, WriteCacheConfig{FlushTime: 200 * time.Millisecond})
	unflushed := c.Unflushed()
	select {
	case <-unflushed:
		t.Fatal("an empty cache reports unflushed pages")
	default:
	}
	if err := c.write(0, bytes.Repeat([]byte{0xdd}, 2*pageSize)); err != nil {
		t.Fatal(err)
	}
	<-unflushed
	flushed := make(chan error)
	go func() { flushed <- c.flush() }()
	for c.Stats().Flushes == 0 {
		time.Sleep(time.Millisecond)
	}
	rep, err := c.Cut()
	if err != nil || rep.Lost != 2 {
		t.Fatalf("cut during the flush: %+v, %v; want both pages lost", rep, err)
	}
	if err := <-flushed; err == nil {
		t.Error("a flush cut short by the power reported success")
	}
	checkBytes(t, img, 0, 2*pageSize, 0)
}

// TestWriteCacheCutWhen: an armed cut counts only unflushed pages in its
// range, starts over at a flush, and cuts inside the write that reaches
// the count: that write fails, and so does everything after it.
func TestWriteCacheCutWhen(t *testing.T) {
	c, img := newCache(t, WriteCacheConfig{Survive: 0})
	if err := c.write(0, bytes.Repeat([]byte{0x11}, pageSize)); err != nil {
		t.Fatal(err)
	}
	// Pages 4..7; the write below starts mid-page 3 and so touches page 4.
	fired := c.CutWhen(4*pageSize, 4*pageSize, 3)
	steps := []struct {
		off, n int
	}{
		{0, 3 * pageSize},                  // outside
		{3*pageSize + 512, pageSize},       // page 4: 1
		{8 * pageSize, 4 * pageSize},       // outside
		{4*pageSize + 100, pageSize - 100}, // page 4 again: still 1
		{5 * pageSize, pageSize},           // 2
	}
	for _, s := range steps {
		if err := c.write(int64(s.off), bytes.Repeat([]byte{0x22}, s.n)); err != nil {
			t.Fatalf("write %d+%d: %v", s.off, s.n, err)
		}
	}
	if err := c.flush(); err != nil {
		t.Fatal(err)
	}
	for _, off := range []int{6, 7} {
		if err := c.write(int64(off*pageSize), bytes.Repeat([]byte{0x33}, pageSize)); err != nil {
			t.Fatalf("after the flush, page %d: %v", off, err)
		}
	}
	select {
	case r := <-fired:
		t.Fatalf("cut with 2 unflushed pages in range: %+v", r)
	default:
	}
	if err := c.write(4*pageSize, bytes.Repeat([]byte{0x44}, pageSize)); err == nil {
		t.Fatal("the write that set off the cut succeeded")
	}
	select {
	case r := <-fired:
		if r.Err != nil || r.Lost != 3 || r.Kept != 0 {
			t.Errorf("cut: %+v; want the 3 unflushed pages lost", r)
		}
	default:
		t.Fatal("no cut at 3 unflushed pages in range")
	}
	if _, err := c.read(0, pageSize); err == nil {
		t.Error("the disk answered a read after the cut")
	}
	checkBytes(t, img, 4*pageSize, pageSize, 0x22)
	checkBytes(t, img, 6*pageSize, 2*pageSize, 0)
}
