package usbcam

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/appliance/recovery"
	"github.com/lapsebox/lapsebox/ptp"
	"github.com/lapsebox/lapsebox/ptp/camera"
	"github.com/lapsebox/lapsebox/ptp/sim"
	"github.com/lapsebox/lapsebox/ptp/usb"
)

// simPort is a USB transport to the simulator that behaves as
// usb.Transport does: a handle on the device that, once closed, refuses
// every call with ptp.ErrClosed while the device itself stays on the bus.
type simPort struct {
	*sim.Device
	closed bool
}

func (p *simPort) check() error {
	if p.closed {
		return fmt.Errorf("simport: %w", ptp.ErrClosed)
	}
	return nil
}

func (p *simPort) Send(ctx context.Context, b []byte) error {
	if err := p.check(); err != nil {
		return err
	}
	return p.Device.Send(ctx, b)
}

func (p *simPort) Receive(ctx context.Context, b []byte) (int, error) {
	if err := p.check(); err != nil {
		return 0, err
	}
	return p.Device.Receive(ctx, b)
}

func (p *simPort) Interrupt(ctx context.Context, b []byte) (int, error) {
	if err := p.check(); err != nil {
		return 0, err
	}
	return p.Device.Interrupt(ctx, b)
}

func (p *simPort) Cancel(ctx context.Context, tid uint32) error {
	if err := p.check(); err != nil {
		return err
	}
	return p.Device.Cancel(ctx, tid)
}

func (p *simPort) Reset(ctx context.Context) error {
	if err := p.check(); err != nil {
		return err
	}
	return p.Device.Reset(ctx)
}

func (p *simPort) Status(ctx context.Context) (ptp.ResponseCode, []uint32, error) {
	if err := p.check(); err != nil {
		return 0, nil, err
	}
	return p.Device.Status(ctx)
}

// Close releases the handle, not the camera.
func (p *simPort) Close() error {
	p.closed = true
	return nil
}

// ResetPort re-enumerates the camera, as QEMU's usb-redir does.
func (p *simPort) ResetPort(ctx context.Context) error {
	if err := p.check(); err != nil {
		return err
	}
	p.Device.Unplug()
	p.Device.Replug()
	return nil
}

func (p *simPort) Usable() bool { return !p.closed }

func (p *simPort) Info() usb.Info {
	return usb.Info{VendorID: p.USBVendorID(), ProductID: p.USBProductID(), Serial: "usb-serial"}
}

// onBus returns a Device whose bus holds cam, and counts the times the
// camera was looked for.
func onBus(cam *sim.Device, finds *int) *Device {
	return &Device{
		Options: camera.Options{OpTimeout: time.Second},
		find: func(ctx context.Context, sel usb.Selector) (port, error) {
			*finds++
			return &simPort{Device: cam}, nil
		},
	}
}

// The ladder's power cycle closes the camera, and so its transport;
// without a relay (or with one that does not cut the power) the camera
// stays on the bus. The next Open must find it again, not reuse the
// closed transport: that was the "GetDeviceInfo(): send command: …
// transport closed" for ever after a power cycle.
func TestOpenAfterTheCameraWasClosed(t *testing.T) {
	ctx := context.Background()
	cam := sim.New(sim.Config{JPEGSize: 20000, JPEGWidth: 160, JPEGHeight: 120})
	finds := 0
	d := onBus(cam, &finds)
	c, err := d.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Capture(ctx, nil); err != nil {
		t.Fatal(err)
	}
	c.Close(ctx) // the power-cycle rung
	for _, a := range []recovery.Action{recovery.Cancel, recovery.ResetSession, recovery.USBReset} {
		if err := d.Recover(ctx, nil, a); err != nil {
			t.Errorf("%v after Close: %v", a, err)
		}
	}
	c, err = d.Open(ctx)
	if err != nil {
		t.Fatalf("Open after the camera was closed: %v", err)
	}
	files, err := c.Capture(ctx, nil)
	if err != nil || len(files) != 1 {
		t.Fatalf("capture after reopening: %v, %v", files, err)
	}
	if finds != 2 {
		t.Errorf("the camera was looked for %d times, want 2 (once more after its transport was closed)", finds)
	}
	if d.Selector.Serial == "" {
		t.Error("the camera's serial was not pinned")
	}
}

// A session reset and a port reset keep the transport: Open reuses it.
func TestResetsKeepTheTransport(t *testing.T) {
	ctx := context.Background()
	cam := sim.New(sim.Config{JPEGSize: 20000, JPEGWidth: 160, JPEGHeight: 120})
	finds := 0
	d := onBus(cam, &finds)
	for _, a := range []recovery.Action{recovery.Cancel, recovery.ResetSession, recovery.USBReset} {
		c, err := d.Open(ctx)
		if err != nil {
			t.Fatalf("Open before %v: %v", a, err)
		}
		if err := d.Recover(ctx, c, a); err != nil {
			t.Fatalf("%v: %v", a, err)
		}
	}
	c, err := d.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Capture(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if finds != 1 {
		t.Errorf("the camera was looked for %d times, want once", finds)
	}
}

// A camera unplugged for good: Open reports the bus's answer, not a
// stale transport's.
func TestOpenWhenTheCameraIsGone(t *testing.T) {
	ctx := context.Background()
	cam := sim.New(sim.Config{})
	notFound := fmt.Errorf("usb: serial X: %w", usb.ErrNotFound)
	finds := 0
	d := onBus(cam, &finds)
	c, err := d.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c.Close(ctx)
	d.find = func(context.Context, usb.Selector) (port, error) { return nil, notFound }
	if _, err := d.Open(ctx); !errors.Is(err, usb.ErrNotFound) {
		t.Errorf("Open with no camera on the bus: %v, want ErrNotFound", err)
	}
}
