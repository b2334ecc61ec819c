// Package capture is camerad's logic: take a picture at every slot of the
// schedule, keep it in the store with its outbox entries, and climb the
// recovery ladder when the camera fails; or, in download mode, copy what the
// camera shot by itself.
package capture

import (
	"context"
	"time"

	"github.com/lapsebox/lapsebox/appliance/recovery"
	"github.com/lapsebox/lapsebox/ptp/camera"
)

// Device finds the camera, opens it, and applies the rungs of the recovery
// ladder that act below the PTP session.
type Device interface {
	// Open finds the camera and opens a session with it.
	Open(ctx context.Context) (*camera.Camera, error)
	// Recover applies one of recovery.Cancel, ResetSession or USBReset to
	// the camera last opened; cam is that camera, or nil if it did not open.
	// After ResetSession and USBReset the caller opens the camera again.
	// With recovery.PowerCycle it is told, before the camera's power is
	// cut, to forget the camera: it comes back as a new device.
	Recover(ctx context.Context, cam *camera.Camera, a recovery.Action) error
}

// Clock is the time as the loop sees it; tests replace it to run a month
// of schedule in seconds.
type Clock interface {
	Now() time.Time
	// Sleep waits for d or until ctx is done.
	Sleep(ctx context.Context, d time.Duration) error
}

// SystemClock is the real clock.
type SystemClock struct{}

// Now implements Clock.
func (SystemClock) Now() time.Time { return time.Now() }

// Sleep implements Clock.
func (SystemClock) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
