package hw

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// diskUse is the use of the file system at path, counted as df does.
func diskUse(path string) (*Disk, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return nil, fmt.Errorf("statfs %s: %w", path, err)
	}
	bs := uint64(st.Bsize)
	return &Disk{Path: path, TotalBytes: st.Blocks * bs, UsedBytes: (st.Blocks - st.Bfree) * bs}, nil
}

// clockSynchronized asks the kernel whether a daemon disciplines the
// clock.
func clockSynchronized() *bool {
	var tx unix.Timex
	state, err := unix.Adjtimex(&tx)
	if err != nil {
		return nil
	}
	ok := state != unix.TIME_ERROR && tx.Status&unix.STA_UNSYNC == 0
	return &ok
}
