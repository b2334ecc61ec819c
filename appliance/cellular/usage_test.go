package cellular

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

type counters struct {
	t        *testing.T
	sys, bid string
}

func (c counters) set(iface string, rx, tx uint64) {
	dir := filepath.Join(c.sys, "class", "net", iface, "statistics")
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "rx_bytes"), []byte(fmt.Sprintf("%d\n", rx)), 0o644)
	os.WriteFile(filepath.Join(dir, "tx_bytes"), []byte(fmt.Sprintf("%d\n", tx)), 0o644)
}

func (c counters) boot(id string) { os.WriteFile(c.bid, []byte(id+"\n"), 0o644) }

func TestUsageCounts(t *testing.T) {
	dir := t.TempDir()
	c := counters{t: t, sys: filepath.Join(dir, "sys"), bid: filepath.Join(dir, "boot_id")}
	c.boot("boot-1")
	paris, _ := time.LoadLocation("Europe/Paris")
	newUsage := func() *Usage {
		return &Usage{Path: filepath.Join(dir, "perm", "data-use.json"), Sysfs: c.sys, BootID: c.bid,
			CapBytes: 10_000, BillingDay: 5, Location: paris, Essential: []string{"web"}}
	}
	u := newUsage()
	now := time.Date(2026, 7, 10, 12, 0, 0, 0, paris)
	step := func(rx, tx uint64, want uint64) {
		t.Helper()
		c.set("usb0", rx, tx)
		now = now.Add(time.Minute)
		d, err := u.Update("usb0", now)
		if err != nil {
			t.Fatal(err)
		}
		if d.UsedBytes != want {
			t.Fatalf("used %d, want %d (%+v)", d.UsedBytes, want, d)
		}
	}
	step(5_000, 1_000, 0) // counters seen first: modemd did not see them grow
	step(6_000, 1_500, 1_500)
	step(7_000, 2_000, 3_000)
	// modemd restarts: the count comes back from /perm.
	u.Save()
	u = newUsage()
	step(8_000, 2_000, 4_000)
	// The interface is re-created: its counters restart.
	step(500, 500, 5_000)
	// The appliance reboots: new boot ID, counters from zero.
	c.boot("boot-2")
	step(3_000, 1_000, 9_000)
	c.set("usb0", 4_000, 1_500)
	now = now.Add(time.Minute)
	d, _ := u.Update("usb0", now)
	if !d.OverCap || !d.EssentialOnly || d.UsedBytes != 10_500 || d.Period != "2026-07-05" || d.EssentialTargets[0] != "web" {
		t.Errorf("past the cap: %+v", d)
	}
	// Crossing the cap is saved at once, for uploadd.
	onDisk := newUsage()
	if d, _ := onDisk.Update("", now); !d.OverCap {
		t.Errorf("the cap state was not saved: %+v", d)
	}
	// The next billing period starts on the 5th, in the site's zone.
	now = time.Date(2026, 8, 5, 0, 0, 1, 0, paris)
	d, _ = u.Update("usb0", now)
	if d.Period != "2026-08-05" || d.UsedBytes != 0 || d.OverCap {
		t.Errorf("new period: %+v", d)
	}
	if p := u.period(time.Date(2026, 8, 4, 23, 59, 0, 0, paris)); p != "2026-07-05" {
		t.Errorf("period on the 4th: %s", p)
	}
}
