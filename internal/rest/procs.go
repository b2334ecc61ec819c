package rest

import (
	"runtime"
	"sync"
)

var procs struct {
	sync.Mutex
	wide int // GOMAXPROCS before Narrow; 0 when not narrowed
}

// Narrow runs the daemon on one processor (GOMAXPROCS 1) until Widen, for
// a rest with regular small wake-ups (camerad's keep-alive to the camera,
// uploadd's status heartbeat).
// With more processors, each goroutine made runnable while one runs (a
// timer fired, a transfer completed) wakes a second thread to look for
// work, which finds none and sleeps again; on one processor the wake-up
// runs where it woke. In the appliance VM that halved an idle camerad's
// own wake-ups, 1.25 to 0.62 a second. It also quiets the runtime's
// monitor thread for the rest (RestSlack). Narrowing twice is narrowing
// once.
func Narrow() {
	procs.Lock()
	defer procs.Unlock()
	if procs.wide == 0 {
		procs.wide = runtime.GOMAXPROCS(1)
		setMonitorSlack(RestSlack)
	}
}

// Widen gives the daemon back the processors Narrow took, for work
// (a capture's download), and the monitor thread the slack it started
// with, so that the work runs as it did before rests were quiet. Without
// a Narrow before, it does nothing.
func Widen() {
	procs.Lock()
	defer procs.Unlock()
	if procs.wide != 0 {
		runtime.GOMAXPROCS(procs.wide)
		procs.wide = 0
		setMonitorSlack(0)
	}
}
