package uploader

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/lapsebox/lapsebox/internal/durable"

	"github.com/lapsebox/lapsebox/appliance/store"
)

// Status is uploadd.json.
type Status struct {
	Updated time.Time      `json:"updated"`
	Targets []TargetStatus `json:"targets"`
}

// TargetStatus is one target's outbox and transfers.
type TargetStatus struct {
	Name  string `json:"name"`
	Kind  string `json:"kind"`
	State string `json:"state"` // "idle", "sending", "closed" (outside its windows)
	// WindowOpens is when a closed target opens again.
	WindowOpens time.Time `json:"windowOpens,omitzero"`
	Current     string    `json:"current,omitempty"` // the photo being sent

	Pending       int       `json:"pending"`
	PendingBytes  int64     `json:"pendingBytes"`
	OldestPending time.Time `json:"oldestPending,omitzero"` // capture time
	Parked        int       `json:"parked"`
	ParkedReasons []string  `json:"parkedReasons,omitempty"` // distinct, a few

	Sent      int   `json:"sent"` // since uploadd started
	SentBytes int64 `json:"sentBytes"`
	Skipped   int   `json:"skipped"` // by policy (stale live-cam pictures, interval)

	LastSuccess   time.Time `json:"lastSuccess,omitzero"`
	LastError     string    `json:"lastError,omitempty"`
	LastErrorTime time.Time `json:"lastErrorTime,omitzero"`

	// RateBytesPerSecond is the recent throughput; DrainSeconds estimates
	// the time to send what is pending at that rate (or at the cap when
	// idle), -1 when unknown.
	RateBytesPerSecond float64 `json:"rateBytesPerSecond"`
	DrainSeconds       float64 `json:"drainSeconds"`

	// LastReconcile is the last comparison of the target with the store.
	LastReconcile *ReconcileReport `json:"lastReconcile,omitempty"`
}

func (t *Target) setState(fn func(*TargetStatus)) {
	t.mu.Lock()
	fn(&t.state)
	t.mu.Unlock()
}

// account counts what is pending for t.
func (t *Target) account(entries []store.Entry, tag string) {
	t.setState(func(s *TargetStatus) {
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

func (t *Target) snapshot() TargetStatus {
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
func (u *Uploader) Snapshot() Status {
	st := Status{Updated: time.Now().UTC()}
	for _, t := range u.Targets {
		st.Targets = append(st.Targets, t.snapshot())
	}
	sort.SliceStable(st.Targets, func(i, j int) bool { return st.Targets[i].Name < st.Targets[j].Name })
	return st
}

func (u *Uploader) report() {
	if err := u.Status.Write(u.Snapshot()); err != nil {
		u.Log.Printf("writing status: %v", err)
	}
}

func (u *Uploader) reportLoop(ctx context.Context) {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		u.report()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// StatusFile is where the status goes, rewritten atomically.
type StatusFile struct {
	Path string // "" keeps nothing

	mu sync.Mutex
}

// Write replaces the file with st.
func (f *StatusFile) Write(st Status) error {
	if f.Path == "" {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(f.Path), 0o755); err != nil {
		return err
	}
	return durable.WriteFile(f.Path, append(b, '\n'))
}
