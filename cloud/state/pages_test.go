package state_test

import (
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/cloud/state"
	"github.com/lapsebox/lapsebox/cloud/state/statetest"
)

func TestLinks(t *testing.T) {
	statetest.Run(t, func(t *testing.T, dsn string) {
		db := statetest.Open(t, dsn)
		addDevice(t, db, "cam")
		addDevice(t, db, "other")
		sum := sha256.Sum256([]byte("token-1"))
		if _, err := db.AddLink(ctx, state.Link{Device: "nosuch", TokenSHA256: sum, Created: t0}); !errors.Is(err, state.ErrNotFound) {
			t.Errorf("a link to an unknown device: %v", err)
		}
		id, err := db.AddLink(ctx, state.Link{Device: "cam", TokenSHA256: sum, Note: "customer", Created: t0})
		if err != nil {
			t.Fatal(err)
		}
		id2, err := db.AddLink(ctx, state.Link{Device: "cam", TokenSHA256: sha256.Sum256([]byte("token-2")), Created: t0})
		if err != nil {
			t.Fatal(err)
		}
		if dev, err := db.LinkDevice(ctx, sum); dev != "cam" || err != nil {
			t.Errorf("LinkDevice = %q, %v", dev, err)
		}
		if _, err := db.LinkDevice(ctx, sha256.Sum256([]byte("guess"))); !errors.Is(err, state.ErrNotFound) {
			t.Errorf("an unknown token: %v", err)
		}
		if err := db.RevokeLink(ctx, id, t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if err := db.RevokeLink(ctx, id, t0.Add(time.Hour)); !errors.Is(err, state.ErrNotFound) {
			t.Errorf("revoking twice: %v", err)
		}
		if _, err := db.LinkDevice(ctx, sum); !errors.Is(err, state.ErrNotFound) {
			t.Errorf("a revoked token: %v", err)
		}
		ls, err := db.Links(ctx)
		if err != nil || len(ls) != 2 || ls[0].ID != id || !ls[0].Revoked.Equal(t0.Add(time.Hour)) || ls[0].Note != "customer" || ls[1].ID != id2 || !ls[1].Revoked.IsZero() {
			t.Errorf("Links = %+v, %v", ls, err)
		}
		if n, err := db.RevokeLinks(ctx, "cam", t0); n != 1 || err != nil {
			t.Errorf("RevokeLinks = %d, %v; want the one live link", n, err)
		}
		// Removing the device removes its links.
		if err := db.RemoveDevice(ctx, "cam"); err != nil {
			t.Fatal(err)
		}
		if ls, _ := db.Links(ctx); len(ls) != 0 {
			t.Errorf("links outlived their device: %+v", ls)
		}
	})
}

func TestPhotoIndex(t *testing.T) {
	statetest.Run(t, func(t *testing.T, dsn string) {
		db := statetest.Open(t, dsn)
		addDevice(t, db, "cam")
		addDevice(t, db, "other")
		add := func(dev, name, day string, at time.Time, derived bool) {
			t.Helper()
			ok, err := db.IndexPhoto(ctx, state.Indexed{Device: dev, Name: name, Day: day, Captured: at, Bytes: 100, Derived: derived})
			if !ok || err != nil {
				t.Fatalf("IndexPhoto(%s) = %v, %v", name, ok, err)
			}
		}
		add("cam", "a.jpg", "2026-11-25", t0.Add(-24*time.Hour), true)
		add("cam", "b.jpg", "2026-11-26", t0.Add(time.Hour), true)
		add("cam", "b.cr2", "2026-11-26", t0.Add(time.Hour), false)
		add("cam", "c.jpg", "2026-11-26", t0, true)
		add("other", "z.jpg", "2026-11-27", t0.Add(48*time.Hour), true)
		if ok, err := db.IndexPhoto(ctx, state.Indexed{Device: "cam", Name: "a.jpg", Day: "2026-11-30"}); ok || err != nil {
			t.Errorf("indexing a photo twice = %v, %v; want no change", ok, err)
		}
		p, err := db.LatestPhoto(ctx, "cam")
		if err != nil || p.Name != "b.jpg" || !p.Captured.Equal(t0.Add(time.Hour)) {
			t.Errorf("LatestPhoto = %+v, %v", p, err)
		}
		if _, err := db.LatestPhoto(ctx, "nosuch"); !errors.Is(err, state.ErrNotFound) {
			t.Errorf("LatestPhoto of an unknown device: %v", err)
		}
		days, err := db.Days(ctx, "cam")
		if err != nil || len(days) != 2 || days[0].Day != "2026-11-26" || days[0].Photos != 3 || days[0].Derived != 2 ||
			!days[0].First.Equal(t0) || days[1].Day != "2026-11-25" {
			t.Errorf("Days = %+v, %v", days, err)
		}
		ps, err := db.DayPhotos(ctx, "cam", "2026-11-26")
		if err != nil || len(ps) != 3 || ps[0].Name != "c.jpg" {
			t.Errorf("DayPhotos = %+v, %v", ps, err)
		}
		if got, err := db.IndexedPhoto(ctx, "cam", ps[0].ID); err != nil || got.Name != "c.jpg" {
			t.Errorf("IndexedPhoto = %+v, %v", got, err)
		}
		// Another device's photo by its ID is not found.
		zs, _ := db.DayPhotos(ctx, "other", "2026-11-27")
		if _, err := db.IndexedPhoto(ctx, "cam", zs[0].ID); !errors.Is(err, state.ErrNotFound) {
			t.Errorf("another device's photo: %v", err)
		}
		names, err := db.IndexedNames(ctx, "cam")
		if err != nil || len(names) != 4 || !names["b.cr2"] {
			t.Errorf("IndexedNames = %v, %v", names, err)
		}
	})
}

func TestTimelapseQueue(t *testing.T) {
	statetest.Run(t, func(t *testing.T, dsn string) {
		db := statetest.Open(t, dsn)
		addDevice(t, db, "cam")
		for i, day := range []string{"2026-11-24", "2026-11-25", "2026-11-26"} {
			if _, err := db.IndexPhoto(ctx, state.Indexed{Device: "cam", Name: day + ".jpg", Day: day, Captured: t0.Add(time.Duration(i) * time.Hour), Derived: true}); err != nil {
				t.Fatal(err)
			}
		}
		// A day of RAW files alone has no time-lapse.
		db.IndexPhoto(ctx, state.Indexed{Device: "cam", Name: "raw.cr2", Day: "2026-11-23", Captured: t0})
		due, err := db.TimelapsesDue(ctx, "2026-11-01", "2026-11-25")
		if err != nil || len(due) != 2 || due[0].Day != "2026-11-24" || due[1].Day != "2026-11-25" {
			t.Fatalf("TimelapsesDue = %+v, %v", due, err)
		}
		k := due[0]
		if ok, err := db.ClaimTimelapse(ctx, k, "a", t0, time.Minute); !ok || err != nil {
			t.Fatalf("first claim = %v, %v", ok, err)
		}
		if ok, err := db.ClaimTimelapse(ctx, k, "b", t0.Add(30*time.Second), time.Minute); ok || err != nil {
			t.Errorf("a claim during a's lease = %v, %v", ok, err)
		}
		if err := db.TimelapseProgress(ctx, k, "a", 10, 4, t0.Add(50*time.Second), time.Minute); err != nil {
			t.Fatal(err)
		}
		if ok, _ := db.ClaimTimelapse(ctx, k, "b", t0.Add(70*time.Second), time.Minute); ok {
			t.Error("the progress did not extend a's lease")
		}
		if err := db.FailTimelapse(ctx, k, "a", "ffmpeg: exit status 1", t0.Add(time.Hour), t0.Add(80*time.Second)); err != nil {
			t.Fatal(err)
		}
		if ok, _ := db.ClaimTimelapse(ctx, k, "b", t0.Add(30*time.Minute), time.Minute); ok {
			t.Error("claimed before the retry's time")
		}
		if ok, err := db.ClaimTimelapse(ctx, k, "b", t0.Add(time.Hour), time.Minute); !ok || err != nil {
			t.Fatalf("claim at the retry = %v, %v", ok, err)
		}
		// a's lease is gone: it can record nothing more.
		if err := db.TimelapseProgress(ctx, k, "a", 10, 9, t0.Add(time.Hour), time.Minute); !errors.Is(err, state.ErrNotFound) {
			t.Errorf("progress of a lost lease: %v", err)
		}
		if err := db.FinishTimelapse(ctx, k, "b", 10, 12345, t0.Add(time.Hour+time.Minute)); err != nil {
			t.Fatal(err)
		}
		tl, err := db.Timelapses(ctx, "cam")
		if got := tl[k.Day]; err != nil || got.State != state.TimelapseDone || got.Attempts != 2 || got.Bytes != 12345 || got.Frames != 10 || got.LastError != "" {
			t.Errorf("Timelapses = %+v, %v", tl, err)
		}
		if ok, _ := db.ClaimTimelapse(ctx, k, "c", t0.Add(48*time.Hour), time.Minute); ok {
			t.Error("a finished time-lapse was claimed again")
		}
		if due, _ := db.TimelapsesDue(ctx, "2026-11-01", "2026-11-25"); len(due) != 1 || due[0].Day != "2026-11-25" {
			t.Errorf("due after one was made: %+v", due)
		}
	})
}
