package uploader

import (
	"fmt"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/lapsebox/lapsebox/appliance/statusfile"
	"github.com/lapsebox/lapsebox/internal/durable"
)

// DataCap reads whether the modem's monthly data cap is reached: modemd
// counts the data and, past the cap, marks the billing period "essential
// only" in the file at Path (statusfile.DataUse). Until the period ends,
// only the essential targets (a live-cam picture, supervision) are sent
// to; the rest wait in the outbox. A file from another period (modemd
// stopped counting, or its clock moved on) holds nothing back: the cap
// errs on the side of sending.
type DataCap struct {
	Path       string
	BillingDay int
	Location   *time.Location

	mu      sync.Mutex
	modTime time.Time
	use     statusfile.DataUse
}

// Holds reports whether target must wait for the next billing period at
// now, and why.
func (c *DataCap) Holds(target string, now time.Time) (bool, string) {
	if c == nil {
		return false, ""
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reload()
	u := c.use
	if !u.EssentialOnly || u.Period != statusfile.BillingPeriod(now, c.BillingDay, c.Location) ||
		slices.Contains(u.EssentialTargets, target) {
		return false, ""
	}
	return true, fmt.Sprintf("past the monthly data cap (%d of %d MB since %s): only essential targets are sent to until the next billing period",
		u.UsedBytes/1_000_000, u.CapBytes/1_000_000, u.Period)
}

// reload reads the file again when it changed; a missing or unreadable
// one counts as no cap reached.
func (c *DataCap) reload() {
	fi, err := os.Stat(c.Path)
	if err != nil {
		c.modTime, c.use = time.Time{}, statusfile.DataUse{}
		return
	}
	if fi.ModTime().Equal(c.modTime) {
		return
	}
	var u statusfile.DataUse
	if _, err := durable.ReadJSON(c.Path, &u); err != nil {
		u = statusfile.DataUse{}
	}
	c.modTime, c.use = fi.ModTime(), u
}
