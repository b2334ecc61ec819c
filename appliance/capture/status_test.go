package capture

import (
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lapsebox/lapsebox/appliance/statusfile"
)

// TestStatusHeartbeat runs in a synctest bubble, whose clock only the
// test's sleeps move.
func TestStatusHeartbeat(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		f := &StatusFile{Path: filepath.Join(dir, "camerad.json")}
		updated := func() time.Time {
			t.Helper()
			var st statusfile.Camera
			if _, err := statusfile.Read(f.Path, &st); err != nil {
				t.Fatal(err)
			}
			return st.Updated
		}
		start := time.Now()
		if err := f.Refresh(start, time.Hour); err != nil {
			t.Fatal(err)
		}
		f.SetHeartbeat(30 * time.Second)
		if err := f.Update(start, func(st *statusfile.Camera) { st.State = "waiting" }); err != nil {
			t.Fatal(err)
		}

		// Nothing written for 30 s: the heartbeat writes.
		time.Sleep(31 * time.Second)
		synctest.Wait()
		beat := updated()
		if !beat.Equal(start.Add(30 * time.Second)) {
			t.Fatalf("after 31 s without a write the status says %v, want the heartbeat at 30 s", beat.Sub(start))
		}

		// A write resets the wait: the heartbeat does not come 30 s after
		// the last beat, but 30 s after the write.
		time.Sleep(20 * time.Second)
		f.Update(time.Now(), func(st *statusfile.Camera) { st.Captures = 3 })
		written := time.Now()
		time.Sleep(29 * time.Second)
		synctest.Wait()
		if got := updated(); !got.Equal(written) {
			t.Errorf("29 s after a write the status was rewritten at %v", got.Sub(start))
		}

		// A caller awake anyway writes when the heartbeat would come
		// before it next wakes, and only then.
		if err := f.Refresh(time.Now(), 0); err != nil {
			t.Fatal(err)
		}
		if got := updated(); !got.Equal(written) {
			t.Errorf("Refresh 29 s after a write, heartbeat 30 s, next wake right away: rewritten")
		}
		now := time.Now()
		if err := f.Refresh(now, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		if got := updated(); !got.Equal(now) {
			t.Errorf("Refresh 29 s after a write, next wake in 10 s: not rewritten (status at %v)", got.Sub(start))
		}
		time.Sleep(29 * time.Second)
		synctest.Wait()
		if got := updated(); !got.Equal(now) {
			t.Errorf("the heartbeat came 29 s after Refresh wrote")
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if got := updated(); !got.Equal(now.Add(30 * time.Second)) {
			t.Errorf("31 s after Refresh wrote the status says %v, want the heartbeat 30 s after it", got.Sub(now))
		}
		if st := f.Snapshot(); st.State != "waiting" || st.Captures != 3 {
			t.Errorf("a heartbeat changed the status: %+v", st)
		}
		f.SetHeartbeat(time.Hour) // stops the 30 s timer before the bubble ends
		f.beat.Stop()
	})
}
