package fleet

import (
	"context"
	"os"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/lapsebox/lapsebox/cloud/ingest"
	"github.com/lapsebox/lapsebox/cloud/picture"
	"github.com/lapsebox/lapsebox/cloud/state"
)

// analysisQueue holds the newest received JPEG of each device waiting to
// be analysed: a device that uploads faster than pictures are analysed
// has only its newest one looked at.
type analysisQueue struct {
	mu      sync.Mutex
	waiting map[string]ingest.Stored
	last    map[string]time.Time // by device, when its last analysis was
	wake    chan struct{}
}

func newAnalysisQueue() analysisQueue {
	return analysisQueue{waiting: map[string]ingest.Stored{}, last: map[string]time.Time{}, wake: make(chan struct{}, 1)}
}

// Stored is the ingest's hook (ingest.Config.Stored): it queues a
// received JPEG for analysis and returns at once.
func (s *Service) Stored(p ingest.Stored) {
	switch strings.ToLower(path.Ext(p.Name)) {
	case ".jpg", ".jpeg":
	default:
		return // RAW files and the like: the JPEG of the capture tells
	}
	q := &s.analysis
	q.mu.Lock()
	if old, ok := q.waiting[p.Device]; !ok || !p.CaptureTime.Before(old.CaptureTime) {
		q.waiting[p.Device] = p
	}
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// next takes a device's picture due for analysis at now, or reports when
// the earliest one is due.
func (q *analysisQueue) next(now time.Time, every time.Duration) (ingest.Stored, bool, time.Duration) {
	q.mu.Lock()
	defer q.mu.Unlock()
	wait := time.Duration(-1)
	for dev, p := range q.waiting {
		due := q.last[dev].Add(every)
		if !now.Before(due) {
			delete(q.waiting, dev)
			q.last[dev] = now
			return p, true, 0
		}
		if d := due.Sub(now); wait < 0 || d < wait {
			wait = d
		}
	}
	return ingest.Stored{}, false, wait
}

// analyzeLoop analyses queued pictures, one at a time (a decode takes a
// core), each device at most every AnalyzeEvery, until ctx is done.
func (s *Service) analyzeLoop(ctx context.Context) {
	for {
		p, ok, wait := s.analysis.next(s.cfg.Now(), s.cfg.AnalyzeEvery)
		if ok {
			s.Analyze(ctx, p)
			continue
		}
		var timer <-chan time.Time
		if wait >= 0 {
			timer = time.After(wait)
		}
		select {
		case <-ctx.Done():
			return
		case <-s.analysis.wake:
		case <-timer:
		}
	}
}

// Analyze records p as its device's last picture, with its brightness
// and thumbnail, if it is newer than the one recorded.
func (s *Service) Analyze(ctx context.Context, p ingest.Stored) {
	now := s.cfg.Now()
	captured := p.CaptureTime
	if captured.IsZero() {
		captured = now
	}
	if last, err := s.db.PhotoCaptured(ctx, p.Device); err != nil || captured.Before(last) {
		return
	}
	photo := state.Photo{Name: p.Name, Received: now, Captured: captured, Bytes: p.Size}
	var thumb []byte
	f, err := os.Open(p.Path)
	if err != nil {
		s.log.Warn("fleet: opening a received picture", "device", p.Device, "name", p.Name, "err", err)
		return
	}
	info, err := picture.Analyze(f)
	f.Close()
	if err != nil {
		// Still the last picture, and likely a broken one: its size
		// shows on the page and may raise "small".
		s.log.Warn("fleet: analysing a received picture", "device", p.Device, "name", p.Name, "err", err)
	} else {
		photo.Luma, photo.Width, photo.Height, thumb = &info.Luma, info.Width, info.Height, info.Thumb
	}
	if _, err := s.db.PutPhoto(ctx, p.Device, photo, thumb); err != nil {
		s.log.Error("fleet: recording a received picture", "device", p.Device, "name", p.Name, "err", err)
		return
	}
	if err := s.Evaluate(ctx, p.Device, now); err != nil {
		s.log.Error("fleet: evaluating alerts", "device", p.Device, "err", err)
	}
}
