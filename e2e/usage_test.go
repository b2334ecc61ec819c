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
// (voluntary context switches a second, all threads) over window, which
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
		rate := "—"
		if s0, ok := start[s.Path]; ok && s0.Pid == s.Pid {
			if s.ContextSwitches < s0.ContextSwitches {
				t.Errorf("%s: context switches went from %d to %d", s.Name, s0.ContextSwitches, s.ContextSwitches)
			}
			n := s.ContextSwitches - s0.ContextSwitches
			rate = fmt.Sprintf("%.2f", float64(n)/window.Seconds())
			if s2, ok := after[s.Path]; ok && s2.Pid == s.Pid && s.Name == "statusd" {
				// Part of the second reading's cost was counted before
				// statusd read its own counters: its rate lies between.
				n -= min(n, s2.ContextSwitches-s.ContextSwitches)
				rate = fmt.Sprintf("%.2f–%s", float64(n)/window.Seconds(), rate)
			}
		}
		rows = append(rows, fmt.Sprintf("  %-12s %6.1f MiB %6.1f MiB %8s", s.Name, float64(s.RSSBytes)/(1<<20), float64(s.RSSAnonBytes)/(1<<20), rate))
	}
	slices.Sort(rows)
	t.Logf("at rest, over %v (anonymous: heap and stacks, the rest of resident being the binaries' pages; statusd's rate without and with the cost of serving a reading):\n  %-12s %10s %10s %8s\n%s\n  %-12s %6.1f MiB %6.1f MiB",
		window, "service", "resident", "anonymous", "wakeups/s", strings.Join(rows, "\n"), "sum", float64(total)/(1<<20), float64(anon)/(1<<20))
	return total
}
