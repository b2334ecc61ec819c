// Package rest gives back the memory a daemon's burst of work used, once
// the daemon has had nothing to do for a while.
//
// Go returns the heap that a burst (serving a page, sending a photo) freed
// only slowly: nothing collects it until the heap doubles or two minutes
// pass, and the runtime's scavenger then hands the pages back a little at
// a time. A daemon that works for seconds an hour and rests the remainder
// would spend most of its life holding memory it used once.
package rest

import (
	"net/http"
	"runtime"
	"runtime/debug"
	"sync"
	"time"
)

// Timer calls Release once a daemon has been idle for After: After since
// the last call to Busy, and once per rest. Arming it costs a timer, not a
// goroutine, and an idle daemon is not woken by it again.
type Timer struct {
	After   time.Duration
	Release func() // ReleaseMemory if nil

	mu    sync.Mutex
	timer *time.Timer
}

// Busy records work: the release comes After from now.
func (t *Timer) Busy() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.timer == nil {
		release := t.Release
		if release == nil {
			release = ReleaseMemory
		}
		t.timer = time.AfterFunc(t.After, release)
		return
	}
	t.timer.Reset(t.After)
}

// ReleaseMemory collects the heap twice (a sync.Pool's buffers outlive
// one collection) and returns every free page to the system.
func ReleaseMemory() {
	runtime.GC()
	debug.FreeOSMemory()
}

// Handler returns h, which marks the daemon busy at the end of every
// request it serves.
func (t *Timer) Handler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer t.Busy()
		h.ServeHTTP(w, r)
	})
}
