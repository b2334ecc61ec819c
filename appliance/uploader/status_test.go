package uploader

import (
	"context"
	"log"
	"path/filepath"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/appliance/statusfile"
	"github.com/lapsebox/lapsebox/appliance/store"
)

// TestReportPace checks that the status file is rewritten often while the
// uploads' state changes and only as a heartbeat while it does not: an
// idle uploadd wakes once per Heartbeat.
func TestReportPace(t *testing.T) {
	defer func(b time.Duration) { busyReport = b }(busyReport)
	busyReport = 50 * time.Millisecond
	const heartbeat = time.Second
	path := filepath.Join(t.TempDir(), "uploadd.json")
	tg := &Target{}
	u := &Uploader{Targets: []*Target{tg}, Status: &StatusFile{Path: path}, Log: log.New(testWriter{t}, "", 0), Heartbeat: heartbeat}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() {
		u.reportLoop(ctx)
		close(stopped)
	}()
	defer func() { // before the paces are restored
		cancel()
		<-stopped
	}()

	// writes returns the times of the rewrites seen over d, calling
	// during each poll.
	writes := func(d time.Duration, during func()) []time.Time {
		var seen []time.Time
		var last time.Time
		for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
			during()
			var st statusfile.Uploads
			if _, err := statusfile.Read(path, &st); err == nil && !st.Updated.Equal(last) {
				last = st.Updated
				seen = append(seen, st.Updated)
			}
		}
		return seen
	}

	idle := writes(3500*time.Millisecond, func() {})
	if len(idle) < 2 {
		t.Fatalf("idle: %d rewrites in 3.5 s, want a heartbeat every %v", len(idle), heartbeat)
	}
	// A timer only fires late: the gaps are exact lower bounds.
	for i := 2; i < len(idle); i++ {
		if gap := idle[i].Sub(idle[i-1]); gap < heartbeat-10*time.Millisecond {
			t.Errorf("idle: rewritten %v after the previous rewrite, want %v apart", gap, heartbeat)
		}
	}

	n := 0
	busy := writes(time.Second, func() {
		n++
		tg.account(make([]store.Entry, n), "")
	})
	if len(busy) < 5 {
		t.Errorf("state changing: %d rewrites in 1 s, want about one per %v", len(busy), busyReport)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s", p)
	return len(p), nil
}
