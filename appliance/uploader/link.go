package uploader

import (
	"context"
	"io"
	"sync"
	"time"
)

// Link shares the site's uplink between targets: each target has its own
// cap, and all of them together the link's. Readers waiting for bytes are
// served highest priority first, then in turn, so that a live-cam picture
// overtakes a backlog and equal targets share the link fairly.
type Link struct {
	// Rate is the whole link's cap in bytes per second (0: none).
	Rate float64

	mu      sync.Mutex
	bucket  bucket
	waiting map[*waiter]bool
	seq     uint64
}

type waiter struct {
	priority int
	seq      uint64 // arrival order, for turns among equals
}

// bucket is a token bucket holding at most a quarter second of rate.
type bucket struct {
	rate   float64
	tokens float64
	last   time.Time
}

func (b *bucket) refill(now time.Time) {
	if b.last.IsZero() {
		b.last = now
		b.tokens = b.burst()
	}
	b.tokens = min(b.burst(), b.tokens+now.Sub(b.last).Seconds()*b.rate)
	b.last = now
}

func (b *bucket) burst() float64 { return max(b.rate/4, 16<<10) }

// wait is how long until n tokens are there.
func (b *bucket) wait(n float64) time.Duration {
	if b.rate <= 0 || b.tokens >= n {
		return 0
	}
	return time.Duration((n - b.tokens) / b.rate * float64(time.Second))
}

// chunk is the most a Read asks the link for at once: small enough for
// turns to alternate several times a second on a slow link.
const chunk = 16 << 10

// take blocks until n bytes may go through own (the target's bucket) and
// the link, in priority order.
func (l *Link) take(ctx context.Context, own *bucket, priority, n int) error {
	l.mu.Lock()
	if l.waiting == nil {
		l.waiting = map[*waiter]bool{}
		l.bucket.rate = l.Rate
	}
	l.seq++
	w := &waiter{priority: priority, seq: l.seq}
	l.waiting[w] = true
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		delete(l.waiting, w)
		l.mu.Unlock()
	}()
	for {
		l.mu.Lock()
		now := time.Now()
		l.bucket.refill(now)
		own.refill(now)
		first := true
		for o := range l.waiting {
			if o != w && (o.priority > w.priority || (o.priority == w.priority && o.seq < w.seq)) {
				first = false
				break
			}
		}
		d := max(own.wait(float64(n)), l.bucket.wait(float64(n)))
		if first && d == 0 {
			if own.rate > 0 {
				own.tokens -= float64(n)
			}
			if l.bucket.rate > 0 {
				l.bucket.tokens -= float64(n)
			}
			// Back of the queue among equals: the next turn is another's.
			l.mu.Unlock()
			return nil
		}
		l.mu.Unlock()
		if d == 0 {
			d = 5 * time.Millisecond
		}
		t := time.NewTimer(min(d, 50*time.Millisecond))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// limitedFile is a photo's bytes read through the link.
type limitedFile struct {
	io.ReadSeekCloser
	ctx      context.Context
	link     *Link
	own      *bucket
	priority int
	sent     *rateMeter

	// atEnd, if not nil, is called each time a read reaches size: the
	// transport has the whole body, and what is left of the transfer is
	// waiting for the server.
	atEnd func()
	size  int64
	pos   int64
}

func (f *limitedFile) Read(p []byte) (int, error) {
	if len(p) > chunk {
		p = p[:chunk]
	}
	if err := f.link.take(f.ctx, f.own, f.priority, len(p)); err != nil {
		return 0, err
	}
	n, err := f.ReadSeekCloser.Read(p)
	f.sent.add(n)
	f.pos += int64(n)
	if f.atEnd != nil && n > 0 && f.pos >= f.size {
		f.atEnd()
	}
	return n, err
}

// Unmetered returns the file itself, for a target that reads to compute a
// checksum (upload.Unmetered). The file's offset moves; every send seeks.
func (f *limitedFile) Unmetered() io.ReadSeeker { return f.ReadSeekCloser }

func (f *limitedFile) Seek(offset int64, whence int) (int64, error) {
	pos, err := f.ReadSeekCloser.Seek(offset, whence)
	if err == nil {
		f.pos = pos
	}
	return pos, err
}

// rateMeter measures a target's recent throughput.
type rateMeter struct {
	mu     sync.Mutex
	bytes  float64 // exponentially decayed
	last   time.Time
	window time.Duration
}

func (m *rateMeter) add(n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.decay(time.Now())
	m.bytes += float64(n)
}

func (m *rateMeter) decay(now time.Time) {
	if m.window == 0 {
		m.window = 30 * time.Second
	}
	if !m.last.IsZero() {
		f := 1 - now.Sub(m.last).Seconds()/m.window.Seconds()
		m.bytes *= max(f, 0)
	}
	m.last = now
}

// rate returns bytes per second over about the last window.
func (m *rateMeter) rate() float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.decay(time.Now())
	return m.bytes / m.window.Seconds()
}
