package camera

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/ptp"
	"github.com/lapsebox/lapsebox/ptp/sim"
)

// errDecode in a test table stands for any *ptp.DecodeError.
var errDecode = errors.New("decode error")

// TestFaults injects every kind of fault into a capture: each ends in
// success (the driver recovers and retries what is safe to retry) or in a
// clear error, by the deadline, never in a hang; and the next capture
// works.
func TestFaults(t *testing.T) {
	tests := []struct {
		name    string
		model   sim.Model
		target  Target
		fault   sim.Fault
		wantErr error // nil: the capture succeeds
	}{
		{"EOS stall mid-chunk", sim.CanonEOS600D, Host, sim.Fault{Kind: sim.Stall, Op: ptp.OpGetPartialObject, At: 100_000}, nil},
		{"EOS stall before the answer", sim.CanonEOS600D, Card, sim.Fault{Kind: sim.Stall, Op: ptp.OpGetPartialObject}, nil},
		{"EOS stall every retry", sim.CanonEOS600D, Host, sim.Fault{Kind: sim.Stall, Op: ptp.OpGetPartialObject, At: 5000, Times: 3}, context.DeadlineExceeded},
		{"EOS garbage chunk", sim.CanonEOS600D, Host, sim.Fault{Kind: sim.Garbage, Op: ptp.OpGetPartialObject, Skip: 2}, nil},
		{"EOS garbage GetEvent", sim.CanonEOS600D, Card, sim.Fault{Kind: sim.Garbage, Op: ptp.OpEOSGetEvent}, nil},
		{"EOS wrong TID", sim.CanonEOS600D, Host, sim.Fault{Kind: sim.WrongTID, Op: ptp.OpGetPartialObject}, nil},
		{"EOS wrong TID on TransferComplete", sim.CanonEOS600D, Host, sim.Fault{Kind: sim.WrongTID, Op: ptp.OpEOSTransferComplete}, nil},
		{"EOS busy chunks", sim.CanonEOS600D, Card, sim.Fault{Kind: sim.Busy, Op: ptp.OpGetPartialObject, Times: 3}, nil},
		{"EOS busy half press", sim.CanonEOS600D, Card, sim.Fault{Kind: sim.Busy, Op: ptp.OpEOSRemoteReleaseOn, Times: 2}, nil},
		{"EOS busy full press", sim.CanonEOS600D, Card, sim.Fault{Kind: sim.Busy, Op: ptp.OpEOSRemoteReleaseOn, Skip: 1}, ErrFocus},
		{"EOS truncated GetEvent", sim.CanonEOS600D, Card, sim.Fault{Kind: sim.Truncate, Op: ptp.OpEOSGetEvent}, nil},
		{"EOS truncated chunk", sim.CanonEOS600D, Host, sim.Fault{Kind: sim.Truncate, Op: ptp.OpGetPartialObject}, nil},
		{"EOS disconnect", sim.CanonEOS600D, Host, sim.Fault{Kind: sim.Disconnect, Op: ptp.OpGetPartialObject, Skip: 1}, ptp.ErrNoDevice},
		{"Nikon busy DeviceReady", sim.NikonD7000, Card, sim.Fault{Kind: sim.Busy, Op: ptp.OpNikonDeviceReady, Times: 5}, nil},
		{"Nikon busy capture", sim.NikonD7000, Card, sim.Fault{Kind: sim.Busy, Op: ptp.OpNikonAfCaptureSDRAM, Times: 3}, nil},
		{"Nikon truncated ObjectInfo", sim.NikonD7000, Card, sim.Fault{Kind: sim.Truncate, Op: ptp.OpGetObjectInfo}, nil},
		{"Nikon truncated ObjectInfo always", sim.NikonD7000, Card, sim.Fault{Kind: sim.Truncate, Op: ptp.OpGetObjectInfo, Times: 3}, errDecode},
		{"Nikon garbage GetEvent", sim.NikonD7000, Card, sim.Fault{Kind: sim.Garbage, Op: ptp.OpNikonGetEvent}, nil},
		{"Nikon stall GetObjectInfo", sim.NikonD7000, Card, sim.Fault{Kind: sim.Stall, Op: ptp.OpGetObjectInfo, At: 20}, nil},
		{"Nikon disconnect", sim.NikonD7000, Card, sim.Fault{Kind: sim.Disconnect, Op: ptp.OpNikonDeviceReady}, ptp.ErrNoDevice},
		{"generic wrong TID", sim.Generic, Card, sim.Fault{Kind: sim.WrongTID, Op: ptp.OpGetObjectInfo}, nil},
		{"generic stall", sim.Generic, Card, sim.Fault{Kind: sim.Stall, Op: ptp.OpGetPartialObject, At: 3000}, nil},
		{"generic garbage InitiateCapture", sim.Generic, Card, sim.Fault{Kind: sim.Garbage, Op: ptp.OpInitiateCapture}, ptp.ErrProtocol},
		{"generic busy InitiateCapture", sim.Generic, Card, sim.Fault{Kind: sim.Busy, Op: ptp.OpInitiateCapture, Times: 9}, ErrBusy},
		{"generic disconnect", sim.Generic, Card, sim.Fault{Kind: sim.Disconnect, Op: ptp.OpInitiateCapture}, ptp.ErrNoDevice},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := testOptions()
			opts.Target = tt.target
			d, c := open(t, testConfig(tt.model, sim.RAWAndJPEG), opts)
			d.Inject(tt.fault)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			start := time.Now()
			files, err := c.Capture(ctx, nil)
			took := time.Since(start)
			t.Logf("%d files, %v, in %v", len(files), err, took.Round(time.Millisecond))
			if took > 2500*time.Millisecond {
				t.Errorf("took %v: a hang until the deadline", took)
			}
			if tt.wantErr == nil {
				if err != nil || len(files) != 2 {
					t.Fatalf("want success, got %d files, %v", len(files), err)
				}
			} else if tt.wantErr == errDecode {
				var de *ptp.DecodeError
				if !errors.As(err, &de) {
					t.Fatalf("want a DecodeError, got %v", err)
				}
			} else if !errors.Is(err, tt.wantErr) {
				t.Fatalf("want %v, got %v", tt.wantErr, err)
			}
			if len(d.Faults()) != 0 {
				t.Errorf("fault did not fire: %+v", d.Faults())
			}
			// Afterwards the camera works again (re-opened if it was gone).
			if errors.Is(err, ptp.ErrNoDevice) {
				d.Replug()
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
				defer cancel()
				if c, err = Open(ctx, d, opts); err != nil {
					t.Fatalf("re-open: %v", err)
				}
			}
			files, err, _ = capture(t, c, nil)
			if err != nil || len(files) < 2 {
				t.Errorf("next capture: %d files, %v", len(files), err)
			}
		})
	}
}
