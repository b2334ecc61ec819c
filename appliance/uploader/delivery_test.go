package uploader

import (
	"context"
	"encoding/json"
	"github.com/lapsebox/lapsebox/appliance/upload"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/appliance/config"
	"github.com/lapsebox/lapsebox/appliance/store"
)

// After a restart (a new Uploader on the same store) a target shows when
// it was last sent a picture, before it sends anything new.
func TestLastSuccessSurvivesARestart(t *testing.T) {
	st, _ := store.Open(t.TempDir())
	fill(t, st, 3, 1000, "dav")
	target := func() *Target {
		return &Target{Config: config.Target{Name: "dav", Kind: config.WebDAV, Send: config.SendJPG}, Transport: &fakeTarget{}}
	}
	u := &Uploader{Store: st, Targets: []*Target{target()}, Poll: 20 * time.Millisecond}
	before := time.Now()
	runUntil(t, u, 10*time.Second, func() bool { return pending(t, st, "dav") == 0 })
	first := u.Snapshot().Targets[0].LastSuccess
	if first.Before(before) {
		t.Fatalf("last success %v, before the run started at %v", first, before)
	}

	again := &Uploader{Store: st, Targets: []*Target{target()}, Poll: 20 * time.Millisecond}
	runUntil(t, again, 10*time.Second, func() bool { return !again.Snapshot().Targets[0].LastSuccess.IsZero() })
	s := again.Snapshot().Targets[0]
	if !s.LastSuccess.Equal(first) || s.Sent != 0 {
		t.Errorf("after a restart: last success %v, %d sent; want %v from the store, nothing sent", s.LastSuccess, s.Sent, first)
	}
	d, err := st.LastDelivery("dav")
	if err != nil || d.Photo != "photos/2026/11/26/20261126121000.jpg" {
		t.Errorf("last delivery %+v, %v: want the newest photo", d, err)
	}
}

// The last delivery is written to the store once a batch, not between
// two photos, where its write and fsyncs would leave the link idle.
func TestLastDeliveryIsRecordedOnceABatch(t *testing.T) {
	st, _ := store.Open(t.TempDir())
	fill(t, st, 3, 1000, "dav")
	var during []store.Delivery
	tr := &fakeTarget{fail: func(name string) error {
		d, err := st.LastDelivery("dav")
		if err != nil {
			return err
		}
		during = append(during, d)
		return nil
	}}
	u := &Uploader{Store: st, Targets: []*Target{{Config: config.Target{Name: "dav", Kind: config.WebDAV, Send: config.SendJPG}, Transport: tr}}, Poll: 20 * time.Millisecond}
	runUntil(t, u, 10*time.Second, func() bool {
		d, _ := st.LastDelivery("dav")
		return pending(t, st, "dav") == 0 && !d.Time.IsZero()
	})
	for i, d := range during {
		if !d.Time.IsZero() {
			t.Errorf("while sending photo %d of the batch, the store already held the delivery of %s", i+1, d.Photo)
		}
	}
	if d, err := st.LastDelivery("dav"); err != nil || d.Photo != "photos/2026/11/26/20261126121000.jpg" {
		t.Errorf("after the batch, last delivery %+v, %v: want the newest photo", d, err)
	}
}

// A capture committed while every worker of a target waits wakes them at
// once: they do not wait for their next look at the outbox (an hour here),
// so a live-cam shows a picture as soon as it is taken and an idle uploadd
// does not poll.
func TestArrivalWakesIdleWorkers(t *testing.T) {
	st, _ := store.Open(t.TempDir())
	tr := &fakeTarget{}
	u := &Uploader{Store: st, Poll: time.Hour,
		Targets: []*Target{{Config: config.Target{Name: "dav", Kind: config.WebDAV, Send: config.SendJPG, Concurrency: 2}, Transport: tr}}}
	startUploader(t, u)
	// Both workers find the outbox empty and wait.
	for u.Snapshot().Targets[0].State != "idle" {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	fill(t, st, 2, 1000, "dav")
	for deadline := time.Now().Add(10 * time.Second); len(tr.sent()) < 2 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if n := len(tr.sent()); n != 2 {
		t.Fatalf("%d of 2 pictures sent 10 s after their capture, with workers looking at the outbox once an hour", n)
	}
}

// Workers of one target each list the outbox and work through their own
// copy of the list: a photo one of them delivered, still on another's
// list, must not be sent again once its claim is released.
func TestConcurrentWorkersSendEachPhotoOnce(t *testing.T) {
	st, _ := store.Open(t.TempDir())
	want := fill(t, st, 40, 1000, "dav")
	var mu sync.Mutex
	n := 0
	tr := &fakeTarget{fail: func(string) error {
		// Uneven transfer times, so that the workers' lists overlap in
		// every order.
		mu.Lock()
		n++
		d := time.Duration(n%3) * 2 * time.Millisecond
		mu.Unlock()
		time.Sleep(d)
		return nil
	}}
	u := &Uploader{Store: st, Poll: time.Hour,
		Targets: []*Target{{Config: config.Target{Name: "dav", Kind: config.WebDAV, Send: config.SendOriginals, Concurrency: 4}, Transport: tr}}}
	runUntil(t, u, 30*time.Second, func() bool { return pending(t, st, "dav") == 0 })
	sent := map[string]int{}
	for _, name := range tr.sent() {
		sent[name]++
	}
	for name := range want {
		if sent[name] != 1 {
			t.Errorf("%s sent %d times, want once", name, sent[name])
		}
	}
	if s := u.Snapshot().Targets[0].Sent; s != len(want) {
		t.Errorf("status says %d sent, want %d", s, len(want))
	}
}

// committingTarget reads a photo whole, then waits for the test to let
// the server "commit" it, as a server's fsync and answer hold a transfer
// after its last byte.
type committingTarget struct {
	fakeTarget
	mu      sync.Mutex
	running int // Upload calls under way
	most    int
	started chan string
	commits map[string]chan struct{} // closed to commit that photo
}

// commit lets the server commit the photo name.
func (c *committingTarget) commit(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	close(c.commits[name])
}

func (c *committingTarget) Upload(ctx context.Context, it upload.Item, save func(json.RawMessage) error) error {
	c.mu.Lock()
	c.running++
	c.most = max(c.most, c.running)
	committed := make(chan struct{})
	c.commits[it.Name] = committed
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.running--
		c.mu.Unlock()
	}()
	c.started <- it.Name
	if err := c.fakeTarget.Upload(ctx, it, save); err != nil {
		return err
	}
	select {
	case <-committed:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// The next photo's transfer starts while the server still commits the one
// before, so that the link does not idle through the commit; never more
// than those two are under way, and every photo is sent once.
func TestNextTransferOverlapsTheCommit(t *testing.T) {
	st, _ := store.Open(t.TempDir())
	want := fill(t, st, 4, 1000, "dav")
	tr := &committingTarget{started: make(chan string, 10), commits: map[string]chan struct{}{}}
	u := &Uploader{Store: st, Poll: time.Hour,
		Targets: []*Target{{Config: config.Target{Name: "dav", Kind: config.WebDAV, Send: config.SendOriginals, Concurrency: 1}, Transport: tr}}}
	startUploader(t, u)
	next := func(what string) string {
		t.Helper()
		select {
		case name := <-tr.started:
			return name
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: no transfer started within 10 s", what)
			return ""
		}
	}
	first := next("the first photo")
	second := next("the second photo, while the first is being committed")
	if first == second {
		t.Fatalf("%s started twice", first)
	}
	select {
	case name := <-tr.started:
		t.Fatalf("%s started while two others were under way", name)
	case <-time.After(200 * time.Millisecond):
	}
	// Each commit of the older one lets the next photo start.
	older, newer := first, second
	for range 2 {
		tr.commit(older)
		older, newer = newer, next("the photo after a commit")
	}
	tr.commit(older)
	tr.commit(newer)
	for pending(t, st, "dav") > 0 {
		time.Sleep(10 * time.Millisecond)
	}
	tr.mu.Lock()
	most := tr.most
	tr.mu.Unlock()
	if len(tr.sent()) != len(want) || most != 2 {
		t.Errorf("sent %v, at most %d transfers at once; want each of %d photos once, two at once", tr.sent(), most, len(want))
	}
}

// Entries a reconcile queues again are written in place, which the
// kernel's news of arrivals does not report: the reconcile wakes the idle
// workers itself, rather than leave them to their next look (an hour
// here).
func TestReconcileWakesIdleWorkers(t *testing.T) {
	c := startCloud(t)
	st, _ := store.Open(t.TempDir())
	fill(t, st, 3, 10<<10, "cloud")
	tg := cloudTarget(t, c.URL(), config.Target{})
	u := &Uploader{Store: st, Targets: []*Target{tg}, Poll: time.Hour, WatchedPoll: time.Hour}
	ctx := startUploader(t, u)
	waitUntil := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 10 s: %+v", what, u.Snapshot())
			}
		}
	}
	waitUntil("the first delivery", func() bool { return pending(t, st, "cloud") == 0 && u.Snapshot().Targets[0].State == "idle" })
	lost := "2026/11/26/20261126120500.jpg"
	if err := os.Remove(filepath.Join(c.Root, device, filepath.FromSlash(lost))); err != nil {
		t.Fatal(err)
	}
	if rep, err := u.Reconcile(ctx, tg); err != nil || rep.Requeued != 1 {
		t.Fatalf("reconcile: %+v, %v; want one photo requeued", rep, err)
	}
	waitUntil("the lost photo sent again", func() bool { return c.Received(device)[lost] != "" })
}

// startUploader runs u until the test ends; the context is Run's.
func startUploader(t *testing.T, u *Uploader) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		u.Run(ctx)
		close(done)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return ctx
}
