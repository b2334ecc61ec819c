package updater

import "os"

// MovePartition replaces, until the returned function is called, how the
// kernel is told where partition 1 lies.
func MovePartition(f func(disk *os.File, start int64) error) (restore func()) {
	old := movePartition
	movePartition = f
	return func() { movePartition = old }
}
