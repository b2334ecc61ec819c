package store

import (
	"bytes"
	"testing"
	"time"
)

// TestArrivals checks that a committed capture wakes the subscribers of
// each of its targets, and that an entry rewritten in place (a target's
// own work) or another target's capture does not.
func TestArrivals(t *testing.T) {
	s := openStore(t)
	cloud, err := s.WatchArrivals("cloud")
	if err != nil {
		t.Fatal(err)
	}
	defer cloud.Close()
	live, err := s.WatchArrivals("livecam")
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	c1, c2, l := cloud.Subscribe(), cloud.Subscribe(), live.Subscribe()
	woken := func(c <-chan struct{}) bool {
		select {
		case <-c:
			return true
		case <-time.After(300 * time.Millisecond):
			return false
		}
	}

	if _, err := s.Put(Capture{Time: t0, Files: []NewFile{bytesFile(".jpg", bytes.Repeat([]byte("j"), 3000), "cloud")}}); err != nil {
		t.Fatal(err)
	}
	if !woken(c1) || !woken(c2) {
		t.Fatal("a capture for cloud did not wake both of cloud's subscribers")
	}
	if woken(l) {
		t.Error("a capture for cloud woke livecam's subscriber")
	}

	es, err := s.Pending("cloud")
	if err != nil || len(es) != 1 {
		t.Fatalf("cloud's outbox: %v, %v", es, err)
	}
	es[0].Attempts++
	es[0].LastError = "the server said 503"
	if err := s.Update(es[0]); err != nil {
		t.Fatal(err)
	}
	if woken(c1) {
		t.Error("an entry rewritten in place woke a subscriber")
	}

	if _, err := s.Put(Capture{Time: t0.Add(time.Minute), Files: []NewFile{bytesFile(".jpg", bytes.Repeat([]byte("k"), 3000), "cloud", "livecam")}}); err != nil {
		t.Fatal(err)
	}
	if !woken(c1) || !woken(l) {
		t.Error("a capture for both targets did not wake both")
	}

	if _, err := s.WatchArrivals("../photos"); err == nil {
		t.Error("WatchArrivals accepted a target name that is a path")
	}
}
