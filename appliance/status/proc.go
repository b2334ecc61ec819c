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

	"github.com/lapsebox/lapsebox/internal/rusage"
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

// usage is what a running process costs the board.
type usage struct {
	// rss is its resident memory in bytes; anon the part of it that is
	// the process's own (heap, stacks), not pages of its binary.
	rss, anon int64
	// switches counts the context switches of all its threads since
	// they started, voluntary and not: each is a wakeup (or a
	// preemption), the count an idle service should barely move.
	switches uint64
	// monitorSwitches is the part of switches that is the process's
	// second thread's: in a Go program, the runtime's monitor (see
	// rusage.MonitorThread).
	monitorSwitches uint64
}

// readUsage reads process pid's resident memory (VmRSS in its status)
// and the context switches of each of its threads (task/*/status).
func readUsage(procDir string, pid int) (usage, error) {
	var u usage
	dir := filepath.Join(procDir, strconv.Itoa(pid))
	b, err := os.ReadFile(filepath.Join(dir, "status"))
	if err != nil {
		return u, fmt.Errorf("reading process status: %w", err)
	}
	f, err := parseProcStatus(b)
	if err != nil {
		return u, fmt.Errorf("parsing %s/status: %w", dir, err)
	}
	u.rss = f["VmRSS"] * 1024 // in kB, always
	u.anon = f["RssAnon"] * 1024
	tasks, err := os.ReadDir(filepath.Join(dir, "task"))
	if err != nil {
		return u, fmt.Errorf("listing the process's threads: %w", err)
	}
	names := make([]string, len(tasks))
	for i, t := range tasks {
		names[i] = t.Name()
	}
	monitor := rusage.MonitorThread(pid, names)
	for _, t := range tasks {
		b, err := os.ReadFile(filepath.Join(dir, "task", t.Name(), "status"))
		if err != nil {
			continue // the thread ended since the listing
		}
		f, err := parseProcStatus(b)
		if err != nil {
			return u, fmt.Errorf("parsing %s/task/%s/status: %w", dir, t.Name(), err)
		}
		n := uint64(f["voluntary_ctxt_switches"] + f["nonvoluntary_ctxt_switches"])
		u.switches += n
		if t.Name() == monitor {
			u.monitorSwitches = n
		}
	}
	return u, nil
}

// parseProcStatus returns the numeric fields of a /proc/<pid>/status
// that readUsage uses ("VmRSS:\t  9876 kB" gives VmRSS 9876). A kernel
// thread has no VmRSS: 0.
func parseProcStatus(b []byte) (map[string]int64, error) {
	out := map[string]int64{}
	for line := range strings.Lines(string(b)) {
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch name {
		case "VmRSS", "RssAnon", "voluntary_ctxt_switches", "nonvoluntary_ctxt_switches":
		default:
			continue
		}
		fields := strings.Fields(value)
		if len(fields) == 0 {
			return nil, fmt.Errorf("%s without a value", name)
		}
		n, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("%s: %q is not a count", name, fields[0])
		}
		out[name] = n
	}
	return out, nil
}
