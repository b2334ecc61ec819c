// Package hw is lapsebox's hardware edge: GPIO lines, relays that switch
// the camera's and the modem's power, the external watchdog, sensors. It
// defines small interfaces (GPIO, Line, Relay, Watchdog) that build
// everywhere; the kernel's GPIO character devices implement GPIO on Linux
// (Kernel, through go-gpiocdev), and hw/hwtest has a fake chip that
// follows the kernel's rules.
//
// One process owns the GPIO lines on the appliance (watchdogd); the
// others reach its relays with Remote.
package hw

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"time"
)

// Relay switches the power of one device.
type Relay interface {
	// Name says what the relay powers ("camera", "modem").
	Name() string
	// PowerCycle cuts the power for off, then restores it.
	PowerCycle(ctx context.Context, off time.Duration) error
}

// PowerCycleRequest is one recorded PowerCycle call.
type PowerCycleRequest struct {
	Relay string
	Time  time.Time
	Off   time.Duration
}

// Recorder is a Relay with no hardware behind it: it records each request
// (in memory, and in a JSON file when Path is set) so that the status page
// shows that a power cycle was wanted. It stands in until the board has
// its GPIO relays wired.
type Recorder struct {
	Device string
	Path   string // appended JSON lines; "" keeps requests in memory only

	mu       sync.Mutex
	requests []PowerCycleRequest
}

// Name implements Relay.
func (r *Recorder) Name() string { return r.Device }

// PowerCycle implements Relay by recording the request.
func (r *Recorder) PowerCycle(ctx context.Context, off time.Duration) error {
	req := PowerCycleRequest{Relay: r.Device, Time: time.Now(), Off: off}
	r.mu.Lock()
	r.requests = append(r.requests, req)
	r.mu.Unlock()
	if r.Path == "" {
		return nil
	}
	b, _ := json.Marshal(req)
	f, err := os.OpenFile(r.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("hw: recording power cycle of %s: %w", r.Device, err)
	}
	defer f.Close()
	if _, err := f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("hw: recording power cycle of %s: %w", r.Device, err)
	}
	return f.Sync()
}

// Requests returns the power cycles requested so far.
func (r *Recorder) Requests() []PowerCycleRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]PowerCycleRequest(nil), r.requests...)
}
