package upload

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http/httptrace"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lapsebox/lapsebox/internal/sockq"
)

// ErrStalled is the cause of a context that a StallGuard cancelled.
var ErrStalled = errors.New("transfer stalled")

// StallGuard aborts a transfer that makes no progress: a link that stays
// up but carries nothing would otherwise hold an upload forever (the FTP
// client of motionEye #1238). A body has no overall deadline, since a
// slow link is not a dead one; the guard only asks for some progress every
// Timeout.
type StallGuard struct {
	timeout time.Duration
	cancel  context.CancelCauseFunc
	last    atomic.Int64 // unix nanoseconds of the last progress
	mu      sync.Mutex
	timer   *time.Timer
	stopped bool
	conn    net.Conn // the request's connection, once known
	queued  int      // its send queue at the last sample
	bodies  Bodies
}

// NewStallGuard returns a context derived from ctx that is cancelled, with
// a cause wrapping ErrStalled, once timeout passes without progress. Pass
// the body through Reader (progress is every read that returns bytes), or
// call Progress. Call Stop when the transfer is over, response included.
func NewStallGuard(ctx context.Context, timeout time.Duration) (context.Context, *StallGuard) {
	ctx, cancel := context.WithCancelCause(ctx)
	g := &StallGuard{timeout: timeout, cancel: cancel}
	g.last.Store(time.Now().UnixNano())
	g.mu.Lock() // check must see the timer
	g.timer = time.AfterFunc(timeout/4, g.check)
	g.mu.Unlock()
	return ctx, g
}

func (g *StallGuard) check() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stopped {
		return
	}
	if g.conn != nil {
		// The body may sit in the socket's send queue, which a slow
		// link drains long after the last read: a queue that shrinks
		// is progress too.
		if q, ok := sockq.Unacked(g.conn); ok {
			if q < g.queued {
				g.Progress()
			}
			g.queued = q
		}
	}
	idle := time.Since(time.Unix(0, g.last.Load()))
	if idle >= g.timeout {
		g.stopped = true
		g.cancel(fmt.Errorf("%w: no progress for %v", ErrStalled, g.timeout.Round(time.Millisecond)))
		return
	}
	// Sample the queue a few times per period.
	g.timer.Reset(min(g.timeout-idle, g.timeout/4))
}

// Trace returns ctx with an httptrace.ClientTrace that tells the guard
// which connection the request uses, so that it sees the bytes queued in
// the socket leave (on Linux). Use the returned context for the request.
func (g *StallGuard) Trace(ctx context.Context) context.Context {
	return httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) {
			c := info.Conn
			if tc, ok := c.(*tls.Conn); ok {
				c = tc.NetConn()
			}
			g.mu.Lock()
			g.conn = c
			g.mu.Unlock()
		},
	})
}

// Progress records that the transfer moved.
func (g *StallGuard) Progress() { g.last.Store(time.Now().UnixNano()) }

// Body returns a request body of the n bytes of f (the photo name) at
// off, recording progress on every read that returns data. It ends the
// reads of the guard's last body first (see Bodies): use it for every
// attempt of the request, GetBody included, and for nothing else that
// moves f's offset while the guard runs.
func (g *StallGuard) Body(f io.ReadSeeker, name string, off, n int64) (io.ReadCloser, error) {
	return g.bodies.Open(f, name, off, n, g.Progress)
}

// Stop ends the watch and releases the context, and ends the reads of
// the last body from Body: after it the file is the caller's again.
func (g *StallGuard) Stop() {
	g.mu.Lock()
	g.stopped = true
	g.timer.Stop()
	g.mu.Unlock()
	g.cancel(context.Canceled)
	g.bodies.Close()
}

// StallCause returns the error saying why a StallGuard cancelled ctx, or
// nil if none did.
func StallCause(ctx context.Context) error {
	if c := context.Cause(ctx); c != nil && errors.Is(c, ErrStalled) {
		return c
	}
	return nil
}
