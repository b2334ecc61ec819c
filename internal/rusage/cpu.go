package rusage

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"
)

// CPU returns the CPU time (user and system) the running process used
// so far, 0 if unknown.
func CPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// clockTick is Linux's USER_HZ, the unit of /proc's times: 100 on every
// architecture Linux runs us on.
const clockTick = 10 * time.Millisecond

// ProcessCPU returns the CPU time (user and system) process pid used so
// far, from /proc/<pid>/stat, to the clock tick: for a server a
// benchmark runs as another process.
func ProcessCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	return parseStatCPU(b)
}

// parseStatCPU reads utime and stime, the 14th and 15th fields of
// /proc/<pid>/stat; the command name (the 2nd, in parentheses) may hold
// spaces and parentheses, so fields count from its last ')'.
func parseStatCPU(b []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("rusage: /proc stat %q: no command name", trim(b))
	}
	f := bytes.Fields(b[i+1:]) // f[0] is the 3rd field, the state
	if len(f) < 13 {
		return 0, fmt.Errorf("rusage: /proc stat %q: %d fields", trim(b), len(f)+2)
	}
	var total time.Duration
	for _, s := range f[11:13] {
		n, err := strconv.ParseUint(string(s), 10, 63)
		if err != nil {
			return 0, fmt.Errorf("rusage: /proc stat %q: %w", trim(b), err)
		}
		total += time.Duration(n) * clockTick
	}
	return total, nil
}

func trim(b []byte) string {
	if len(b) > 80 {
		return string(b[:80]) + "…"
	}
	return string(b)
}
