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

// reportIdleUsage measures every service's resident memory and wakeups
// (context switches a second, all threads) over window, in the quiet
// between two captures: just after one, once its upload is done. Slots
// must be far enough apart for the window. It logs a table and returns
// the resident memory summed; a running service whose usage statusd
// cannot read fails the test.
func reportIdleUsage(t *testing.T, vm *qemu.VM, window time.Duration) int64 {
	t.Helper()
	st, err := readAppliance(vm)
	if err != nil {
		t.Fatal(err)
	}
	before := st.camerad.Captures
	waitAppliance(t, vm, "the next capture", 2*time.Minute, func(st *applianceStatus) bool {
		return st.camerad.Captures > before && st.camerad.State != "capturing"
	})
	time.Sleep(3 * time.Second) // its upload
	a := services(t, vm)
	time.Sleep(window)
	b := services(t, vm)

	start := map[string]status.Service{}
	for _, s := range a {
		start[s.Path] = s
	}
	var rows []string
	var total int64
	for _, s := range b {
		if s.State != status.StateRunning {
			continue
		}
		if s.RSSBytes <= 0 || s.ContextSwitches == 0 {
			t.Errorf("statusd shows no usage for %s (PID %d): %+v", s.Name, s.Pid, s)
			continue
		}
		total += s.RSSBytes
		rate := "—"
		if s0, ok := start[s.Path]; ok && s0.Pid == s.Pid {
			if s.ContextSwitches < s0.ContextSwitches {
				t.Errorf("%s: context switches went from %d to %d", s.Name, s0.ContextSwitches, s.ContextSwitches)
			}
			rate = fmt.Sprintf("%.1f", float64(s.ContextSwitches-s0.ContextSwitches)/window.Seconds())
		}
		rows = append(rows, fmt.Sprintf("  %-12s %6.1f MiB %8s", s.Name, float64(s.RSSBytes)/(1<<20), rate))
	}
	slices.Sort(rows)
	t.Logf("idle between captures, over %v (statusd served the two readings):\n  %-12s %10s %8s\n%s\n  %-12s %6.1f MiB",
		window, "service", "resident", "wakeups/s", strings.Join(rows, "\n"), "sum", float64(total)/(1<<20))
	return total
}
