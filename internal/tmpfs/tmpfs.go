// Package tmpfs mounts small file systems for tests that must fill one:
// a full disk is reproduced for real (ENOSPC from write, statfs that
// says so), not imitated. Mounting needs root (or CAP_SYS_ADMIN): without
// it the test is skipped, and fails under CI=1, where the machine must be
// able to run it.
package tmpfs

import (
	"os"
	"strconv"
	"syscall"
	"testing"
)

// Mount mounts a tmpfs of size bytes (rounded up to pages) on a new
// temporary directory and unmounts it when the test ends.
func Mount(t testing.TB, size int64) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, "size="+strconv.FormatInt(size, 10)); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("mounting a %d-byte tmpfs: %v (the tests that fill a disk need root)", size, err)
		}
		t.Skipf("mounting a %d-byte tmpfs: %v (the tests that fill a disk need root)", size, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmounting %s: %v", dir, err)
		}
	})
	return dir
}
