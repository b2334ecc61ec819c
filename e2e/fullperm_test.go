package e2e

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/appliance/statusfile"
	"github.com/lapsebox/lapsebox/image"
	"github.com/lapsebox/lapsebox/image/disk"
	"github.com/lapsebox/lapsebox/image/qemu"
	"github.com/lapsebox/lapsebox/image/update"
	"github.com/lapsebox/lapsebox/ptp/sim"
)

// The full-/perm test: the smallest disk image (a /perm of about 100 MB),
// a picture of fullPermPicture bytes every fullPermInterval.
const (
	fullPermPicture = 3_000_000
	// fullPermInterval leaves the uploads headroom: 3 MB every 5 s
	// (600 KB/s through QEMU's user network under TCG) fell behind on a
	// loaded two-core CI machine, and retention then rightly dropped
	// queued photos.
	fullPermInterval = 6 * time.Second
	// fullPermTimes is how many times /perm's size the camera shoots
	// while cloudd receives everything: one and a half times takes
	// /perm past its high-water mark and through retention passes again
	// and again.
	fullPermTimes = 1.5
)

// fastConfig takes a picture every interval and sends it to cloudd, with
// the default retention marks.
func fastConfig(token string, interval time.Duration) string {
	return fmt.Sprintf(`{
  "site": {"name": "e2e", "time_zone": "UTC"},
  "camera": {"mode": "capture", "keep": "jpg", "min_size": 3000},
  "schedule": {"interval": %q, "min_gap": "1s"},
  "targets": [{"name": "cloud", "kind": "cloud", "url": "http://%s", "secret": "token"}],
  "retention": {"max_age": "0", "high_water": 85, "low_water": 75, "critical": 95},
  "secrets": {"token": %q}
}`, interval.String(), cloudGuestAddr, token)
}

// countPictures counts the pictures (files but sidecars) under dir.
func countPictures(dir string) int {
	n := 0
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.HasSuffix(p, ".json") {
			n++
		}
		return nil
	})
	return n
}

func actions(st *applianceStatus) []string {
	var a []string
	for _, r := range st.camerad.RecoveryActions {
		a = append(a, r.Action)
	}
	return a
}

// storageMisses returns the reasons of missed slots put down to the store.
func storageMisses(st *statusfile.Camera) []string {
	var out []string
	for _, m := range st.RecentMissed {
		if strings.Contains(m.Reason, "storing") || strings.Contains(m.Reason, "storage") || strings.Contains(m.Reason, "space") {
			out = append(out, m.Reason)
		}
	}
	return out
}

// statusPage returns statusd's HTML page.
func statusPage(t *testing.T, vm *qemu.VM) string {
	t.Helper()
	resp, err := statusdGet(vm, "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// restartService restarts one of gokrazy's services, as its web page's
// button does (the XSRF token is the cookie's, echoed in the form).
func restartService(t testing.TB, dev update.Device, path string) {
	t.Helper()
	form := url.Values{"path": {path}, "xsrftoken": {"4242"}}
	req, _ := http.NewRequest(http.MethodPost, dev.BaseURL+"/restart", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(&http.Cookie{Name: "gokrazy_xsrf", Value: "4242"})
	req.SetBasicAuth("gokrazy", dev.Password)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("restarting %s: %v", path, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("restarting %s: HTTP %d", path, resp.StatusCode)
	}
}

// TestApplianceFullPerm fills a small /perm many times over with a fast
// schedule of large pictures. While cloudd receives every picture, no
// slot is missed for want of space and no queued photo is dropped; with
// cloudd away (503) the oldest queued photos are dropped, loudly, just
// under the critical mark, and the camera keeps shooting. First, the
// camera's recovery ladder climbs to a power cycle (recorded: the VM has
// no relay) and the camera must be used again after it.
func TestApplianceFullPerm(t *testing.T) {
	needVM(t)
	const token = "e2e-device-token-fullperm-0123"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// cloudd answers 503 while away: stopping it would not do, as QEMU's
	// GuestForward then leaves the guest sending into nothing.
	var away atomic.Bool
	cloud := startCloud(t, token, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if away.Load() {
				http.Error(w, "cloudd is away", http.StatusServiceUnavailable)
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	cam, photos := startCamera(ctx, t, sim.Config{SerialNumber: "E2E600D0002", JPEGSize: fullPermPicture, JPEGWidth: 640, JPEGHeight: 480})
	img := buildImage(t, "pc", t.TempDir(), time.Now(), func(d *image.Description) { d.DiskSizeBytes = disk.MinSizeBytes })
	vm, _ := bootAppliance(ctx, t, img, fastConfig(token, fullPermInterval), cloud.Addr(), cam)
	dev := update.Device{BaseURL: "http://" + vm.Addr("gokrazy"), Password: password(t, img.manifest)}

	st := waitAppliance(t, vm, "a picture", 3*time.Minute, func(st *applianceStatus) bool { return st.camerad.Captures >= 1 })
	lc := st.camerad.LastCapture
	t.Logf("capture: %d bytes, slot to durable %.2fs (release %.2fs, transfer %.2fs, write %.2fs)",
		lc.Bytes, lc.Total.Seconds(), lc.Release.Seconds(), lc.Transfer.Seconds(), lc.Write.Seconds())

	// The ladder: the camera cannot focus, every capture fails. After the
	// power cycle, which closes the camera, it must be found again.
	cam.Sim.SetFocus(false)
	st = waitAppliance(t, vm, "a power cycle", 4*time.Minute, func(st *applianceStatus) bool {
		return slices.Contains(actions(st), "power cycle")
	})
	cam.Sim.SetFocus(true)
	before := st.camerad.Captures
	st = waitAppliance(t, vm, "pictures after the power cycle", 2*time.Minute, func(st *applianceStatus) bool {
		return st.camerad.Captures >= before+2
	})
	t.Logf("ladder: %v, then %d pictures", actions(st), st.camerad.Captures-before)
	if st.camerad.Recovery.Alert || st.camerad.Recovery.ConsecutiveFailures != 0 {
		t.Errorf("after pictures again the ladder says %+v", st.camerad.Recovery)
	}

	// /perm fills fullPermTimes over, cloudd receiving everything.
	if st.camerad.Store == nil {
		t.Fatalf("camerad does not measure the store: %+v", st.camerad)
	}
	total := st.camerad.Store.TotalBytes
	startShots, startMissed := cam.Sim.Shots(), st.camerad.MissedSlots
	var maxUsed float64
	var misses []string
	start := time.Now()
	for {
		st, err := readAppliance(vm)
		if err != nil {
			t.Fatal(err)
		}
		c := &st.camerad
		if c.Store != nil {
			maxUsed = max(maxUsed, float64(c.Store.UsedBytes)/float64(c.Store.TotalBytes))
		}
		for _, m := range storageMisses(c) {
			if !slices.Contains(misses, m) {
				misses = append(misses, m)
			}
		}
		if c.Retention != nil && c.Retention.DroppedQueued > 0 {
			t.Fatalf("queued photos dropped while cloudd receives everything: %+v, last pass %+v", c.Retention, c.Prune)
		}
		shot := uint64(cam.Sim.Shots()-startShots) * fullPermPicture
		if float64(shot) >= fullPermTimes*float64(total) {
			break
		}
		if time.Since(start) > 15*time.Minute {
			t.Fatalf("after %v the camera shot %d MB of the %d MB wanted", time.Since(start).Round(time.Second), shot>>20, uint64(fullPermTimes*float64(total))>>20)
		}
		time.Sleep(time.Second)
	}
	// Drained: uploadd owes nothing and cloudd holds as many pictures as
	// camerad stored. uploadd's and camerad's status files are written
	// apart, so an empty outbox alone may predate the last capture.
	cloudDir := filepath.Join(cloud.Root, "lapsebox")
	st = waitAppliance(t, vm, "uploads drained", 3*time.Minute, func(st *applianceStatus) bool {
		return len(st.uploadd.Targets) == 1 && st.uploadd.Targets[0].Pending == 0 &&
			countPictures(cloudDir) >= st.camerad.Captures
	})
	c := &st.camerad
	t.Logf("filled: %d pictures (%d MiB, %.1f times /perm's %d MiB) in %v; %d slots missed meanwhile; /perm at most %.1f%% used; retention %+v",
		cam.Sim.Shots()-startShots, (cam.Sim.Shots()-startShots)*fullPermPicture>>20, float64(cam.Sim.Shots()-startShots)*fullPermPicture/float64(total),
		total>>20, time.Since(start).Round(time.Second), c.MissedSlots-startMissed, 100*maxUsed, *c.Retention)
	if len(misses) > 0 {
		t.Errorf("slots missed for want of space while sent photos could be deleted: %q", misses)
	}
	if maxUsed > 0.95 {
		t.Errorf("/perm reached %.1f%%, above the critical mark", 100*maxUsed)
	}
	if c.Retention == nil || c.Retention.DeletedForSpace == 0 || c.Prune == nil || c.Store.Full {
		t.Errorf("retention %+v, last pass %+v, store %+v: want sent photos deleted for space", c.Retention, c.Prune, c.Store)
	}
	if a := c.Autonomy; a == nil || !strings.HasPrefix(a.SizeSource, "median of the last") || a.PicturesPerDay != float64(24*time.Hour/fullPermInterval) {
		t.Errorf("autonomy %+v: want it from the schedule and the measured pictures", a)
	}
	page := statusPage(t, vm)
	for _, want := range []string{"sent pictures deleted for space", "high-water mark before a capture", "of pictures fit on /perm before retention deletes any"} {
		if !strings.Contains(page, want) {
			t.Errorf("statusd's page lacks %q", want)
		}
	}
	// Every picture stored reached cloudd, byte for byte; a picture the
	// camera took but could not hand over (a transfer that timed out on
	// this loaded machine) was never stored.
	camera, received := sums(t, photos), sums(t, cloudDir)
	for sum, p := range received {
		if _, ok := camera[sum]; !ok {
			t.Errorf("cloudd holds %s, which the camera did not take", p)
		}
	}
	if len(received) < c.Captures {
		t.Errorf("cloudd holds %d pictures, camerad stored %d", len(received), c.Captures)
	}
	t.Logf("cloudd holds %d pictures, camerad stored %d, the camera took %d", len(received), c.Captures, len(camera))

	// cloudd is away: queued photos pile up to the critical mark, then
	// the oldest are dropped, loudly, and the camera keeps shooting.
	away.Store(true)
	st = waitAppliance(t, vm, "queued photos dropped", 5*time.Minute, func(st *applianceStatus) bool {
		return st.camerad.Retention != nil && st.camerad.Retention.DroppedQueued > 0
	})
	dropStart := st.camerad.Captures
	st = waitAppliance(t, vm, "pictures after the first drop", 2*time.Minute, func(st *applianceStatus) bool {
		return st.camerad.Captures >= dropStart+4
	})
	c = &st.camerad
	t.Logf("cloudd away: %d queued photos dropped, last pass %+v; store %d of %d MiB", c.Retention.DroppedQueued, *c.Prune, c.Store.UsedBytes>>20, c.Store.TotalBytes>>20)
	if m := storageMisses(c); len(m) > 0 {
		t.Errorf("slots missed for want of space at the critical mark: %q", m)
	}
	// Dropped just under the critical mark: by about one picture.
	if floor := 0.95 - 2*float64(fullPermPicture)/float64(c.Store.TotalBytes); c.Prune.DroppedQueued > 0 &&
		(c.Prune.UsedFraction < floor || len(c.Prune.DroppedTargets) != 1 || c.Prune.DroppedTargets[0] != "cloud") {
		t.Errorf("last pass %+v: want queued photos of cloud dropped only down to the critical mark (at least %.3f used)", c.Prune, floor)
	}
	if u := st.uploadd.Targets[0]; u.LastError == "" || u.Pending == 0 {
		t.Errorf("uploadd %+v: want the failures to reach cloudd shown and photos pending", u)
	}
	if page := statusPage(t, vm); !strings.Contains(page, "deleted before they were sent") {
		t.Error("statusd's page does not say that queued photos were dropped")
	}

	// Restarted, camerad and uploadd show the newest picture and the last
	// delivery from the store (cloudd is still away: nothing is sent).
	lastSent, started := st.uploadd.Targets[0].LastSuccess, st.camerad.Started
	restartService(t, dev, "/user/uploadd")
	restartService(t, dev, "/user/camerad")
	// The guest's clock is not the host's: a new camerad says when it
	// started, a new uploadd has sent nothing (and cannot).
	st = waitAppliance(t, vm, "camerad and uploadd restarted", 2*time.Minute, func(st *applianceStatus) bool {
		return st.camerad.Started.After(started) && len(st.uploadd.Targets) == 1 && st.uploadd.Targets[0].Sent == 0
	})
	if c, u := st.camerad, st.uploadd.Targets[0]; c.LastCapture == nil || c.LatestPhoto() == "" || u.Sent != 0 || !u.LastSuccess.Equal(lastSent) {
		t.Errorf("after a restart: camerad's last capture %+v (%d taken), uploadd's last success %v (%d sent), want %v",
			c.LastCapture, c.Captures, u.LastSuccess, u.Sent, lastSent)
	}
	if page := statusPage(t, vm); !strings.Contains(page, `src="/latest.jpg"`) || !strings.Contains(page, "last picture") {
		t.Error("after a restart statusd's page shows no latest picture")
	}
}
