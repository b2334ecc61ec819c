// Package rusage reads the resource use of the running process, for the
// services' status files.
package rusage

import "syscall"

// MaxRSS returns the process's peak resident memory in bytes, 0 if
// unknown.
func MaxRSS() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return int64(ru.Maxrss) * 1024 // kilobytes on Linux
}
