package e2e

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/internal/testtool"
	"github.com/lapsebox/lapsebox/ptp/sim"
)

var soakFlag = flag.Duration("soak", 0, "TestSoak: how long the appliance works before its memory is judged (make soak: 1h); 0 skips it")

// soakGrowthLimit is how much a service's resident memory may grow from
// the sixth of the soak (minute 10 of an hour) to its end.
const soakGrowthLimit = 1 << 20

// soakConfig takes a picture every 5 s and sends it to cloudd; retention
// deletes what cloudd has once it is 2 minutes old, so that an hour of
// 2 MB pictures fits /perm.
func soakConfig(token string) string {
	return fmt.Sprintf(`{
  "site": {"name": "soak", "time_zone": "UTC"},
  "camera": {"mode": "capture", "keep": "jpg", "min_size": 3000},
  "schedule": {"interval": "5s", "min_gap": "2s"},
  "retention": {"max_age": "2m", "high_water": 85, "low_water": 75, "critical": 95},
  "targets": [{"name": "cloud", "kind": "cloud", "url": "http://%s", "secret": "token"}],
  "secrets": {"token": %q}
}`, cloudGuestAddr, token)
}

// TestSoak is the appliance at work for -soak (an hour in make soak): a
// 2 MB picture every 5 s, each sent to cloudd. statusd's reading of every
// service's resident memory is sampled each minute; no service may grow
// by more than 1 MiB from the sixth of the run (minute 10 of an hour) to
// its end, and the pictures must keep flowing.
func TestSoak(t *testing.T) {
	if *soakFlag == 0 {
		testtool.Optional(t, "an hour of the appliance at work; make soak runs it (go test -run '^TestSoak$' -soak=1h -timeout 0 ./e2e/)")
	}
	if *soakFlag < 6*time.Minute {
		t.Fatalf("-soak=%v: too short to judge growth from its sixth to its end; at least 6m", *soakFlag)
	}
	needVM(t)
	const token = "soak-device-token-0123456789"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cloud := startCloud(t, token, nil)
	cam, _ := startCamera(ctx, t, sim.Config{SerialNumber: "SOAK600D0001", JPEGSize: 2_000_000, JPEGWidth: 1920, JPEGHeight: 1280})
	img := buildImage(t, "pc", t.TempDir(), time.Now())
	vm, _ := bootAppliance(ctx, t, img, soakConfig(token), cloud.Addr(), cam)

	waitAppliance(t, vm, "the first picture", 2*time.Minute, func(st *applianceStatus) bool { return st.camerad.Captures >= 1 })
	start := time.Now()
	// rss[name][i] is the service's resident memory at minute i.
	rss := map[string][]int64{}
	tick := time.NewTicker(time.Minute)
	defer tick.Stop()
	last := 0 // the last minute sampled
	for minute := 0; ; minute++ {
		st, err := readAppliance(vm)
		if err != nil {
			t.Fatalf("minute %d: %v", minute, err)
		}
		var cells []string
		for _, s := range services(t, vm) {
			if s.RSSBytes <= 0 {
				continue
			}
			for len(rss[s.Name]) < minute {
				rss[s.Name] = append(rss[s.Name], 0) // not running then
			}
			rss[s.Name] = append(rss[s.Name], s.RSSBytes)
			cells = append(cells, fmt.Sprintf("%s %.1f", s.Name, float64(s.RSSBytes)/(1<<20)))
		}
		slices.Sort(cells)
		pending := 0
		if len(st.uploadd.Targets) > 0 {
			pending = st.uploadd.Targets[0].Pending
		}
		t.Logf("minute %2d: %d captures, %d missed, %d pending; MiB: %s", minute, st.camerad.Captures, st.camerad.MissedSlots, pending, strings.Join(cells, ", "))
		if time.Since(start) >= *soakFlag {
			last = minute
			break
		}
		<-tick.C
	}

	from := last / 6
	st, err := readAppliance(vm)
	if err != nil {
		t.Fatal(err)
	}
	want := int(soakFlag.Seconds() / 5 * 0.9)
	if st.camerad.Captures < want {
		t.Errorf("%d captures in %v, want at least %d (a picture every 5 s, 10 %% missed at most)", st.camerad.Captures, *soakFlag, want)
	}
	if len(st.uploadd.Targets) != 1 || st.uploadd.Targets[0].Sent < want {
		t.Errorf("uploads: %+v, want at least %d sent", st.uploadd.Targets, want)
	}
	var names []string
	for name := range rss {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		r := rss[name]
		if len(r) <= last || r[from] == 0 || r[last] == 0 {
			t.Errorf("%s did not run from minute %d to %d: %v", name, from, last, r)
			continue
		}
		growth := r[last] - r[from]
		t.Logf("%-10s minute %d %.2f MiB, minute %d %.2f MiB: %+.2f MiB", name, from, float64(r[from])/(1<<20), last, float64(r[last])/(1<<20), float64(growth)/(1<<20))
		if growth > soakGrowthLimit {
			t.Errorf("%s grew by %.2f MiB from minute %d to %d, more than %.0f MiB", name, float64(growth)/(1<<20), from, last, float64(soakGrowthLimit)/(1<<20))
		}
	}
}
