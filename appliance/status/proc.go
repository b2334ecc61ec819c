package status

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// readHostname returns the kernel's host name from procDir.
func readHostname(procDir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(procDir, "sys/kernel/hostname"))
	if err != nil {
		return "", fmt.Errorf("reading host name: %w", err)
	}
	return string(bytes.TrimSpace(b)), nil
}

// readUptime returns the time since boot from procDir/uptime.
func readUptime(procDir string) (time.Duration, error) {
	fn := filepath.Join(procDir, "uptime")
	b, err := os.ReadFile(fn)
	if err != nil {
		return 0, fmt.Errorf("reading uptime: %w", err)
	}
	d, err := parseUptime(b)
	if err != nil {
		return 0, fmt.Errorf("parsing %s: %w", fn, err)
	}
	return d, nil
}

// parseUptime parses the content of /proc/uptime ("350735.47 234388.90\n"):
// seconds since boot, then idle seconds summed over all CPUs.
func parseUptime(b []byte) (time.Duration, error) {
	fields := strings.Fields(string(b))
	if len(fields) == 0 {
		return 0, errors.New("empty")
	}
	secs, err := strconv.ParseFloat(fields[0], 64)
	if err != nil {
		return 0, fmt.Errorf("uptime %q: %w", fields[0], err)
	}
	if secs < 0 || math.IsNaN(secs) || secs > math.MaxInt64/float64(time.Second) {
		return 0, fmt.Errorf("uptime %q out of range", fields[0])
	}
	return time.Duration(secs * float64(time.Second)), nil
}

// processAlive reports whether process pid exists (and is not a zombie)
// according to procDir.
func processAlive(procDir string, pid int) (bool, error) {
	fn := filepath.Join(procDir, strconv.Itoa(pid), "stat")
	b, err := os.ReadFile(fn)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading process state: %w", err)
	}
	state, err := parseStatState(b)
	if err != nil {
		return false, fmt.Errorf("parsing %s: %w", fn, err)
	}
	// Z: zombie, exited but not yet reaped; X: dead.
	return state != 'Z' && state != 'X', nil
}

// parseStatState returns the state letter of /proc/<pid>/stat: the field
// after the command name, which is in parentheses and may itself contain
// spaces and parentheses.
func parseStatState(b []byte) (byte, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("no command name")
	}
	rest := bytes.TrimLeft(b[i+1:], " ")
	if len(rest) == 0 {
		return 0, errors.New("no state after command name")
	}
	return rest[0], nil
}
