package uploader

import (
	"context"
	"math/rand"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/appliance/config"
	"github.com/lapsebox/lapsebox/appliance/store"
	"github.com/lapsebox/lapsebox/appliance/upload/uploadtest"
	"github.com/lapsebox/lapsebox/internal/crashtest"
)

func TestMain(m *testing.M) {
	crashtest.Main(map[string]func(string) error{"uploadd": crashChild})
	os.Exit(m.Run())
}

// crashChild drains the outbox in "store dir|cloud URL" until it is
// killed.
func crashChild(arg string) error {
	dir, url, _ := strings.Cut(arg, "|")
	st, err := store.Open(dir)
	if err != nil {
		return err
	}
	t := &testing.T{}
	u := &Uploader{Store: st, Targets: []*Target{cloudTarget(t, url, config.Target{})}, Link: &Link{Rate: 1 << 20},
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, Poll: 20 * time.Millisecond}
	return u.Run(context.Background())
}

// TestKilledUploaderLosesAndDuplicatesNothing kills uploadd's logic with
// SIGKILL at random points while it uploads, many times, then lets it
// finish: every photo is on the server exactly once, byte-identical, and
// the outbox is empty.
func TestKilledUploaderLosesAndDuplicatesNothing(t *testing.T) {
	c := startCloud(t)
	// The link to the cloud counts the bytes sent, which is the
	// progress the kills are placed by.
	p := uploadtest.StartProxy(t, c.Addr())
	dir := t.TempDir()
	st, _ := store.Open(dir)
	const photos, size = 15, 300 << 10 // each 300 to 375 KiB
	want := fill(t, st, photos, size, "cloud")
	rnd := rand.New(rand.NewSource(1))
	kills := 25
	if testing.Short() {
		kills = 5
	}
	// Each run sends 0.5 to 1.5 times its share of half the backlog
	// before it is killed: at least 3 photos are done by the last kill
	// and at least 3 are not, however fast the machine.
	share := int64(photos*size) / int64(2*kills)
	for i := 0; i < kills; i++ {
		before := p.BytesUp()
		limit := before + share/2 + rnd.Int63n(share)
		ch := crashtest.Start(t, "uploadd", dir+"|"+p.URL())
		if !ch.KillWhen(func() bool { return p.BytesUp() >= limit }) {
			t.Fatalf("kill %d: the uploader stopped by itself: %s", i, ch.Stderr())
		}
		if strings.Contains(ch.Stderr(), "store:") {
			t.Fatalf("kill %d: child failed: %s", i, ch.Stderr())
		}
	}
	if n := pending(t, st, "cloud"); n == 0 || n == len(want) {
		t.Fatalf("%d of %d entries pending after the kills: want the kills to land mid-way", n, len(want))
	}
	st2, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	u := &Uploader{Store: st2, Targets: []*Target{cloudTarget(t, c.URL(), config.Target{})},
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, Poll: 20 * time.Millisecond}
	runUntil(t, u, 60*time.Second, func() bool { return pending(t, st2, "cloud") == 0 })
	got := c.Received(device)
	for name, sum := range want {
		if got[name] != sum {
			t.Errorf("%s: cloud has sha256 %q, want %s", name, got[name], sum)
		}
	}
	if len(got) != len(want) {
		t.Errorf("cloud holds %d files, want exactly the %d photos: %v", len(got), len(want), got)
	}
}
