package e2e

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/appliance/status"
	"github.com/lapsebox/lapsebox/image/qemu"
)

// services returns gokrazy's services as statusd shows them.
func services(t *testing.T, vm *qemu.VM) []status.Service {
	t.Helper()
	resp, err := statusdGet(vm, "/api/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var snap status.Snapshot
	if err := json.NewDecoder(resp.Body).Decode(&snap); err != nil {
		t.Fatalf("statusd /api/status: %v", err)
	}
	if snap.ServicesError != "" {
		t.Fatalf("statusd cannot list the services: %s", snap.ServicesError)
	}
	return snap.Services
}

// reportIdleUsage measures every service's resident memory and wake-ups
// (context switches a second, all threads, and all but the Go runtime's
// monitor thread, which polls while the service is awake) over window, which
// the caller makes a time of rest. statusd serves the readings, and some
// of the second one's cost counts as statusd's rest: a third reading
// right after it measures a whole reading's cost, and statusd's rate is
// given with and without it. It logs a
// table and returns the resident memory summed; a running service whose
// usage statusd cannot read fails the test.
func reportIdleUsage(t *testing.T, vm *qemu.VM, window time.Duration) int64 {
	t.Helper()
	a := services(t, vm)
	time.Sleep(window)
	b := services(t, vm)
	c := services(t, vm)

	byPath := func(list []status.Service) map[string]status.Service {
		m := map[string]status.Service{}
		for _, s := range list {
			m[s.Path] = s
		}
		return m
	}
	start, after := byPath(a), byPath(c)
	var rows []string
	var total, anon int64
	for _, s := range b {
		if s.State != status.StateRunning {
			continue
		}
		if s.RSSBytes <= 0 || s.ContextSwitches == 0 {
			t.Errorf("statusd shows no usage for %s (PID %d): %+v", s.Name, s.Pid, s)
			continue
		}
		total += s.RSSBytes
		anon += s.RSSAnonBytes
		rate, own := "—", "—"
		if s0, ok := start[s.Path]; ok && s0.Pid == s.Pid {
			if s.ContextSwitches < s0.ContextSwitches || s.MonitorSwitches < s0.MonitorSwitches {
				t.Errorf("%s: context switches went from %d (monitor %d) to %d (%d)", s.Name, s0.ContextSwitches, s0.MonitorSwitches, s.ContextSwitches, s.MonitorSwitches)
			}
			n, o := switchesBetween(s0, s)
			perSecond := func(n uint64) string { return fmt.Sprintf("%.2f", float64(n)/window.Seconds()) }
			rate, own = perSecond(n), perSecond(o)
			if s2, ok := after[s.Path]; ok && s2.Pid == s.Pid && s.Name == "statusd" {
				// Part of the second reading's cost was counted before
				// statusd read its own counters: its rate lies between.
				rn, ro := switchesBetween(s, s2)
				rate = perSecond(n-min(n, rn)) + "–" + rate
				own = perSecond(o-min(o, ro)) + "–" + own
			}
		}
		rows = append(rows, fmt.Sprintf("  %-12s %6.1f MiB %6.1f MiB %11s %11s", s.Name, float64(s.RSSBytes)/(1<<20), float64(s.RSSAnonBytes)/(1<<20), rate, own))
	}
	slices.Sort(rows)
	t.Logf("at rest, over %v (anonymous: heap and stacks, the rest of resident being the binaries' pages; wake-ups a second of all threads, and of all but the Go runtime's monitor; statusd's rates without and with the cost of serving a reading):\n  %-12s %10s %10s %11s %11s\n%s\n  %-12s %6.1f MiB %6.1f MiB",
		window, "service", "resident", "anonymous", "wakeups/s", "w/o monitor", strings.Join(rows, "\n"), "sum", float64(total)/(1<<20), float64(anon)/(1<<20))
	return total
}

// switchesBetween returns the context switches of a service's threads
// between two readings, all and those not of the Go runtime's monitor.
func switchesBetween(from, to status.Service) (all, own uint64) {
	all = to.ContextSwitches - from.ContextSwitches
	return all, all - min(all, to.MonitorSwitches-from.MonitorSwitches)
}
