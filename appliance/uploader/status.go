package uploader

import (
	"bytes"
	"context"
	"encoding/json"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/lapsebox/lapsebox/appliance/statusfile"
	"github.com/lapsebox/lapsebox/appliance/store"
)

func (t *Target) setState(fn func(*statusfile.Target)) {
	t.mu.Lock()
	fn(&t.state)
	t.mu.Unlock()
}

// account counts what is pending for t.
func (t *Target) account(entries []store.Entry, tag string) {
	t.setState(func(s *statusfile.Target) {
		s.Pending, s.PendingBytes, s.Parked, s.OldestPending, s.ParkedReasons = 0, 0, 0, time.Time{}, nil
		for _, e := range entries {
			if e.Parked != "" && strings.HasSuffix(e.Parked, tag) {
				s.Parked++
				reason := strings.TrimSuffix(e.Parked, tag)
				if len(s.ParkedReasons) < 5 && !contains(s.ParkedReasons, reason) {
					s.ParkedReasons = append(s.ParkedReasons, reason)
				}
				continue
			}
			s.Pending++
			s.PendingBytes += e.Size
			if s.OldestPending.IsZero() || e.CaptureTime.Before(s.OldestPending) {
				s.OldestPending = e.CaptureTime
			}
		}
	})
}

func (t *Target) snapshot() statusfile.Target {
	rate := t.sent.rate()
	t.mu.Lock()
	s := t.state
	t.mu.Unlock()
	s.RateBytesPerSecond = rate
	s.DrainSeconds = -1
	switch {
	case s.PendingBytes == 0:
		s.DrainSeconds = 0
	case rate > 1:
		s.DrainSeconds = float64(s.PendingBytes) / rate
	case t.Config.MaxBytesPerSecond > 0:
		s.DrainSeconds = float64(s.PendingBytes) / float64(t.Config.MaxBytesPerSecond)
	}
	s.ParkedReasons = append([]string(nil), s.ParkedReasons...)
	if s.LastReconcile != nil {
		r := *s.LastReconcile
		s.LastReconcile = &r
	}
	return s
}

// Snapshot returns every target's status.
func (u *Uploader) Snapshot() statusfile.Uploads {
	st := statusfile.Uploads{Updated: time.Now().UTC()}
	for _, t := range u.Targets {
		st.Targets = append(st.Targets, t.snapshot())
	}
	sort.SliceStable(st.Targets, func(i, j int) bool { return st.Targets[i].Name < st.Targets[j].Name })
	st.Derived = u.derivations().snapshot()
	return st
}

func (u *Uploader) report() {
	u.write(u.Snapshot())
}

func (u *Uploader) write(st statusfile.Uploads) {
	if err := u.Status.Write(st); err != nil {
		u.Log.Printf("writing status: %v", err)
	}
}

// busyReport is how often the status file is rewritten while the uploads'
// state changes (the page shows progress); when it does not, every
// Uploader.Heartbeat.
var busyReport = 2 * time.Second

func (u *Uploader) reportLoop(ctx context.Context) {
	t := time.NewTimer(0)
	defer t.Stop()
	var last []byte
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		u.derivations().expire(time.Now())
		st := u.Snapshot()
		u.write(st)
		st.Updated = time.Time{}
		b, _ := json.Marshal(st)
		if bytes.Equal(b, last) {
			t.Reset(u.Heartbeat)
		} else {
			t.Reset(busyReport)
		}
		last = b
	}
}

// StatusFile is where the status goes, rewritten atomically.
type StatusFile struct {
	Path string // "" keeps nothing

	mu sync.Mutex
}

// Write replaces the file with st.
func (f *StatusFile) Write(st statusfile.Uploads) error {
	if f.Path == "" {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return statusfile.Write(f.Path, st)
}
