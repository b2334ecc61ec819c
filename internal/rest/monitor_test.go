package rest

import (
	"errors"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// slackOf returns the timer slack of thread tid.
func slackOf(t *testing.T, tid string) time.Duration {
	t.Helper()
	b, err := os.ReadFile("/proc/" + tid + "/timerslack_ns")
	if err != nil {
		t.Fatal(err)
	}
	ns, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		t.Fatalf("/proc/%s/timerslack_ns: %v", tid, err)
	}
	return time.Duration(ns)
}

// monitor returns the ID of the test process's monitor thread.
func monitor(t *testing.T) string {
	t.Helper()
	tid, err := monitorThread()
	if err != nil {
		t.Fatal(err)
	}
	return tid
}

func TestSetMonitorSlack(t *testing.T) {
	if os.Geteuid() != 0 {
		// Without CAP_SYS_NICE the kernel refuses (even to show another
		// thread's slack), and the error says so.
		err := SetMonitorSlack(MonitorSlack)
		if !errors.Is(err, fs.ErrPermission) || !strings.Contains(err.Error(), "timer slack to 10ms") {
			t.Fatalf("SetMonitorSlack as user %d: %v, want a permission error naming the slack", os.Geteuid(), err)
		}
		return
	}
	tid := monitor(t)
	before := slackOf(t, tid)
	main := slackOf(t, strconv.Itoa(os.Getpid()))
	if err := SetMonitorSlack(MonitorSlack); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { SetMonitorSlack(0) })
	if got := slackOf(t, tid); got != MonitorSlack {
		t.Fatalf("monitor thread %s: slack %v after SetMonitorSlack(%v), was %v", tid, got, MonitorSlack, before)
	}
	if got := slackOf(t, strconv.Itoa(os.Getpid())); got != main {
		t.Errorf("the main thread's slack went from %v to %v: only the monitor's may change", main, got)
	}
	if err := SetMonitorSlack(0); err != nil {
		t.Fatal(err)
	}
	if got := slackOf(t, tid); got != before {
		t.Errorf("monitor thread %s: slack %v after SetMonitorSlack(0), want the %v it started with", tid, got, before)
	}
}
