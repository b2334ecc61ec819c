// Package rest gives back the memory a daemon's burst of work used, once
// the daemon has had nothing to do for a while: the heap it freed, and the
// pages of its program that the work ran.
//
// Go returns the heap that a burst (serving a page, sending a photo) freed
// only slowly: nothing collects it until the heap doubles or two minutes
// pass, and the runtime's scavenger then hands the pages back a little at
// a time. A daemon that works for seconds an hour and rests the remainder
// would spend most of its life holding memory it used once.
package rest

import (
	"log"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"time"
)

// Timer calls Release once a daemon has been idle for After: After since
// the last call to Busy, once per rest, and only if the daemon allocated
// MinAlloc or more since the last release. Arming it costs a timer, not a
// goroutine, and an idle daemon is not woken by it again.
//
// MinAlloc keeps the release's cost in proportion to the work: a
// collection and a scavenge cost an idle daemon under QEMU some hundreds
// of context switches, more than a status reading that allocated a few
// kilobytes would ever give back. The regular collector takes those.
//
// Rest, if not nil, is called at every rest, whatever was allocated
// (Narrow, for a daemon whose work runs wide). Under the lock Busy takes:
// a Busy that comes first cancels it, and one that comes after it
// follows it, so that work begun with Busy then Widen never runs narrow.
type Timer struct {
	After    time.Duration
	MinAlloc uint64 // bytes; DefaultMinAlloc if 0
	Release  func() // ReleaseMemory if nil
	Rest     func()

	mu    sync.Mutex
	timer *time.Timer
	last  uint64    // heap allocations at the last release
	busy  time.Time // the last Busy
}

// DefaultMinAlloc is Timer.MinAlloc's default.
const DefaultMinAlloc = 2 << 20

// Busy records work: the release comes After from now.
func (t *Timer) Busy() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.busy = time.Now()
	if t.timer == nil {
		t.last = allocated()
		t.timer = time.AfterFunc(t.After, t.fire)
		return
	}
	t.timer.Reset(t.After)
}

func (t *Timer) fire() {
	min := t.MinAlloc
	if min == 0 {
		min = DefaultMinAlloc
	}
	t.mu.Lock()
	if time.Since(t.busy) < t.After {
		// Busy came while the timer fired: it was reset, and rest
		// comes After from that.
		t.mu.Unlock()
		return
	}
	if t.Rest != nil {
		t.Rest()
	}
	now := allocated()
	if now-t.last < min {
		t.mu.Unlock()
		return
	}
	t.last = now
	t.mu.Unlock()
	if t.Release != nil {
		t.Release()
	} else {
		ReleaseMemory()
	}
}

// allocated returns the bytes the heap has allocated since the start.
func allocated() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

// ReleaseMemory collects the heap and returns every free page to the
// system (debug.FreeOSMemory), then the pages of the program's files
// (ReleaseCode). A failure of the second is logged once: the daemon
// works as well without it.
func ReleaseMemory() {
	debug.FreeOSMemory()
	releaseCode()
}

var codeFailure sync.Once

// releaseCode calls ReleaseCode and logs its first failure.
func releaseCode() {
	if err := ReleaseCode(); err != nil {
		codeFailure.Do(func() { log.Print(err) })
	}
}

// AfterStart quiets the runtime's monitor thread (QuietMonitor) for the
// daemon's life, and calls ReleaseCode once, StartRelease from now: for a
// daemon whose start (initialising its packages, reading its
// configuration, opening its devices) ran code that its steady work does
// not. It does not collect the heap: a first collection would arm the
// runtime's periodic one, every 2 minutes for the rest of the daemon's
// life.
func AfterStart() {
	QuietMonitor()
	time.AfterFunc(StartRelease, releaseCode)
}

// StartRelease is how long after its start AfterStart gives back what a
// daemon's start ran: long enough for the start to be over.
const StartRelease = 30 * time.Second
