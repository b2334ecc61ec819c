// Package proctest measures a running process from outside, for the idle
// benchmarks of the services: its wake-ups and its resident memory, read
// in /proc.
package proctest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/internal/rusage"
)

// Switches sums the voluntary context switches of every thread of pid:
// each is a thread that slept and was woken. Involuntary ones (a thread
// preempted while it ran) are left out: they count the machine's other
// load, not the process's wake-ups. monitor is the part of all that is
// the Go runtime's monitor thread's (rusage.MonitorThread), from the same
// reading. It fails tb if there is no such process.
func Switches(tb testing.TB, pid int) (all, monitor int) {
	tb.Helper()
	all, monitor, err := switches(pid)
	if err != nil {
		tb.Fatal(err)
	}
	return all, monitor
}

// RSS returns pid's resident memory in bytes; it fails tb if there is
// no such process.
func RSS(tb testing.TB, pid int) int64 {
	tb.Helper()
	n, err := rss(pid)
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

func switches(pid int) (all, monitor int, err error) {
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
	if err != nil || len(tasks) == 0 {
		return 0, 0, fmt.Errorf("no threads for pid %d", pid)
	}
	tids := make([]string, len(tasks))
	for i, t := range tasks {
		tids[i] = filepath.Base(filepath.Dir(t))
	}
	monitorTID := rusage.MonitorThread(pid, tids)
	for i, t := range tasks {
		data, err := os.ReadFile(t)
		if err != nil {
			continue // a thread that ended
		}
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "voluntary_ctxt_switches:"); ok {
				c, _ := strconv.Atoi(strings.TrimSpace(v))
				all += c
				if tids[i] == monitorTID {
					monitor = c
				}
			}
		}
	}
	return all, monitor, nil
}

func rss(pid int) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("pid %d: no VmRSS", pid)
}

// Build builds the Go package pkg (a directory or an import path) into
// dir and returns the binary's path.
func Build(tb testing.TB, dir, pkg, name string) string {
	tb.Helper()
	bin := filepath.Join(dir, name)
	if out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
		tb.Fatalf("building %s: %v\n%s", name, err, out)
	}
	return bin
}

// Start starts cmd with its output in dir/name.log, kills it when tb
// ends, and returns a function that reads that log (for a failure's
// message).
func Start(tb testing.TB, cmd *exec.Cmd, dir, name string) (log func() string) {
	tb.Helper()
	path := filepath.Join(dir, name+".log")
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		tb.Fatalf("starting %s: %v", name, err)
	}
	tb.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		f.Close()
	})
	return func() string {
		b, _ := os.ReadFile(path)
		return string(b)
	}
}

// Idle measures the running process pid, once it has had settle to
// settle, over period: its wake-ups a minute and its resident memory,
// reported as metrics of b beside those of an idle Go program measured
// the same way in the same run (the Go runtime's own floor); the
// wake-ups also without the runtime's monitor thread's (see Switches),
// as own-wakeups/min. It returns
// the context switches counted, the process's and the reference's.
func Idle(b *testing.B, dir string, pid int, settle, period time.Duration) (n, ref int) {
	b.Helper()
	src := filepath.Join(dir, "idle", "main.go")
	os.MkdirAll(filepath.Dir(src), 0o755)
	os.WriteFile(src, []byte("package main\n\nimport \"time\"\n\nfunc main() { time.Sleep(24 * time.Hour) }\n"), 0o644)
	cmd := exec.Command(Build(b, dir, src, "idlego"))
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer cmd.Process.Kill()
	time.Sleep(settle)
	m0, s0 := Switches(b, pid)
	r0, _ := Switches(b, cmd.Process.Pid)
	time.Sleep(period)
	m1, s1 := Switches(b, pid)
	r1, _ := Switches(b, cmd.Process.Pid)
	b.ReportMetric(float64(m1-m0)/period.Minutes(), "wakeups/min")
	b.ReportMetric(float64((m1-m0)-min(m1-m0, s1-s0))/period.Minutes(), "own-wakeups/min")
	b.ReportMetric(float64(r1-r0)/period.Minutes(), "ref-wakeups/min")
	b.ReportMetric(float64(RSS(b, pid))/(1<<20), "RSS-MiB")
	b.ReportMetric(float64(RSS(b, cmd.Process.Pid))/(1<<20), "ref-RSS-MiB")
	return m1 - m0, r1 - r0
}

// RunDir returns a new directory on /dev/shm, removed when tb ends, for a
// service's status files: on the appliance they live in /run, a tmpfs,
// where the fsync of each atomic rewrite costs nothing, whereas on a disk
// it blocks and each block is a wake-up of the runtime's monitor thread.
// It fails tb if /dev/shm is not a tmpfs.
func RunDir(tb testing.TB) string {
	tb.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs("/dev/shm", &st); err != nil || st.Type != tmpfsMagic {
		tb.Fatalf("/dev/shm is not a tmpfs (statfs: %v, type %#x): the benchmark needs one to stand for the appliance's /run", err, st.Type)
	}
	dir, err := os.MkdirTemp("/dev/shm", "lapsebox-run-")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// tmpfsMagic is TMPFS_MAGIC of linux/magic.h.
const tmpfsMagic = 0x01021994
