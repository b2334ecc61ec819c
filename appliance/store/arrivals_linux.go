package store

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/lapsebox/lapsebox/internal/inotify"
)

// Arrivals tells, without polling, when entries may have arrived in a
// target's outbox: a committed capture moves its entries in from tmp/.
// An entry rewritten in place (its attempts, its resume state) is a
// rename within the outbox, which it does not report, so a target's own
// work does not wake its idle workers. It reads inotify through Go's
// poller, so a waiting uploadd is not woken otherwise.
type Arrivals struct {
	f *os.File

	mu   sync.Mutex
	subs []chan struct{}
}

// WatchArrivals watches target's outbox, which it creates if need be.
func (s *Store) WatchArrivals(target string) (*Arrivals, error) {
	if !targetRE.MatchString(target) {
		return nil, fmt.Errorf("store: %q is not a target name", target)
	}
	dir := filepath.Join(s.dir, "outbox", target)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	f, err := inotify.Watch(dir, unix.IN_MOVED_TO|unix.IN_MOVED_FROM)
	if err != nil {
		return nil, fmt.Errorf("store: the outbox of %s: %w", target, err)
	}
	a := &Arrivals{f: f}
	go a.read()
	return a, nil
}

// Subscribe returns a channel that receives a value after entries arrive
// (several arrivals may make one value; it never closes).
func (a *Arrivals) Subscribe() <-chan struct{} {
	c := make(chan struct{}, 1)
	a.mu.Lock()
	a.subs = append(a.subs, c)
	a.mu.Unlock()
	return c
}

// Close ends the watch.
func (a *Arrivals) Close() error { return a.f.Close() }

func (a *Arrivals) read() {
	buf := make([]byte, 16<<10)
	for {
		n, err := a.f.Read(buf)
		if err != nil {
			return // closed
		}
		if arrived(buf[:n]) {
			a.Notify()
		}
	}
}

// Notify tells the subscribers that entries arrived, for entries the
// kernel does not report: those written in place, as Requeue does.
func (a *Arrivals) Notify() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, c := range a.subs {
		select {
		case c <- struct{}{}:
		default: // one pending value is enough: the worker lists the outbox
		}
	}
}

// arrived reads a buffer of inotify events: whether a file was moved in
// from another directory (a move within the watched one comes as a
// MOVED_FROM and a MOVED_TO with the same cookie, queued together), or
// events were lost.
func arrived(b []byte) bool {
	from := map[uint32]bool{}
	var to []uint32
	for _, e := range inotify.Parse(b) {
		switch {
		case e.Mask&unix.IN_Q_OVERFLOW != 0:
			return true
		case e.Mask&unix.IN_MOVED_FROM != 0:
			from[e.Cookie] = true
		case e.Mask&unix.IN_MOVED_TO != 0:
			to = append(to, e.Cookie)
		}
	}
	for _, c := range to {
		if !from[c] {
			return true
		}
	}
	return false
}
