// Package proctest measures a running process from outside, for the idle
// benchmarks of the services: its wake-ups and its resident memory, read
// in /proc.
package proctest

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Switches sums the voluntary and involuntary context switches of every
// thread of pid: each is a wake-up. It fails tb if there is no such
// process.
func Switches(tb testing.TB, pid int) int {
	tb.Helper()
	n, err := switches(pid)
	if err != nil {
		tb.Fatal(err)
	}
	return n
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

func switches(pid int) (int, error) {
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
	if err != nil || len(tasks) == 0 {
		return 0, fmt.Errorf("no threads for pid %d", pid)
	}
	n := 0
	for _, t := range tasks {
		data, err := os.ReadFile(t)
		if err != nil {
			continue // a thread that ended
		}
		for _, line := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.HasSuffix(k, "ctxt_switches") {
				c, _ := strconv.Atoi(strings.TrimSpace(v))
				n += c
			}
		}
	}
	return n, nil
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

// IdleGo builds, in dir, a Go program that only sleeps: the reference
// an idle service is measured against (the Go runtime's own floor).
func IdleGo(dir string) (string, error) {
	src := filepath.Join(dir, "idle", "main.go")
	if err := os.MkdirAll(filepath.Dir(src), 0o755); err != nil {
		return "", err
	}
	if err := os.WriteFile(src, []byte("package main\n\nimport \"time\"\n\nfunc main() { time.Sleep(24 * time.Hour) }\n"), 0o644); err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "idlego")
	if out, err := execGo("build", "-o", bin, src); err != nil {
		return "", fmt.Errorf("building the reference: %v\n%s", err, out)
	}
	return bin, nil
}
