package usbcam

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/appliance/recovery"
	"github.com/lapsebox/lapsebox/ptp"
	"github.com/lapsebox/lapsebox/ptp/camera"
	"github.com/lapsebox/lapsebox/ptp/sim"
	"github.com/lapsebox/lapsebox/ptp/usb"
)

// bus is the USB bus as usb.Context.Wait finds the camera on it, and port
// a usb.Transport on one enumeration of the camera, with the quirks of
// libusb and of usb.Transport:
//
//   - Closing a port leaves the camera on the bus; the closed port refuses
//     every call with ptp.ErrClosed.
//   - When the camera leaves the bus (its relay cuts the power), a port on
//     it does not know until a call fails: Usable still says true, and
//     the next call, and every one after, fails with ptp.ErrNoDevice
//     (libusb's NO_DEVICE on a stale handle).
//   - The camera comes back as a new device, at another address: a port
//     on the old one stays dead, though it is the same camera.
//   - A port reset keeps the address (Linux's usb_reset_device) and ends
//     the camera's PTP session; one on a camera that left fails with
//     ptp.ErrNoDevice (libusb: NOT_FOUND). If claiming the interface
//     again fails (claimAfterReset), the port closes itself.
type bus struct {
	cam *sim.Device

	mu              sync.Mutex
	address         int // the camera's device number; 0 while off the bus
	last            int
	ports           []*busPort // every port find returned
	claimAfterReset error
}

func newBus(cam *sim.Device) *bus {
	b := &bus{cam: cam}
	b.plug()
	return b
}

// plug enumerates the camera anew: a new address, its session closed.
func (b *bus) plug() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.last++
	b.address = b.last
	b.cam.Replug()
}

// unplug takes the camera off the bus.
func (b *bus) unplug() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.address = 0
	b.cam.Unplug()
}

// find is Device.find: usb.Context.Wait without the wait.
func (b *bus) find(ctx context.Context, sel usb.Selector) (port, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.address == 0 {
		return nil, fmt.Errorf("usb: %s: %w", sel, usb.ErrNotFound)
	}
	p := &busPort{b: b, address: b.address}
	b.ports = append(b.ports, p)
	return p, nil
}

// addresses returns the address of every port find returned.
func (b *bus) addresses() []int {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []int
	for _, p := range b.ports {
		out = append(out, p.address)
	}
	return out
}

// open returns the ports not closed.
func (b *bus) open() []int {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []int
	for _, p := range b.ports {
		p.mu.Lock()
		if !p.closed {
			out = append(out, p.address)
		}
		p.mu.Unlock()
	}
	return out
}

type busPort struct {
	b       *bus
	address int

	mu           sync.Mutex
	closed, gone bool
	staleCalls   int // calls after the camera left this address
}

// check is what usb.Transport does around each call.
func (p *busPort) check(what string) error {
	p.b.mu.Lock()
	here := p.b.address == p.address
	p.b.mu.Unlock()
	p.mu.Lock()
	defer p.mu.Unlock()
	if !here {
		p.staleCalls++
	}
	switch {
	case p.gone:
	case p.closed:
		return fmt.Errorf("usb: address %d: %s: %w", p.address, what, ptp.ErrClosed)
	case !here:
		p.gone = true
	default:
		return nil
	}
	return fmt.Errorf("usb: address %d: %s: %w", p.address, what, ptp.ErrNoDevice)
}

func (p *busPort) Send(ctx context.Context, b []byte) error {
	if err := p.check("send"); err != nil {
		return err
	}
	return p.b.cam.Send(ctx, b)
}

func (p *busPort) Receive(ctx context.Context, b []byte) (int, error) {
	if err := p.check("receive"); err != nil {
		return 0, err
	}
	return p.b.cam.Receive(ctx, b)
}

func (p *busPort) Interrupt(ctx context.Context, b []byte) (int, error) {
	if err := p.check("interrupt"); err != nil {
		return 0, err
	}
	return p.b.cam.Interrupt(ctx, b)
}

func (p *busPort) MaxPacketSize() int { return p.b.cam.MaxPacketSize() }

func (p *busPort) Cancel(ctx context.Context, tid uint32) error {
	if err := p.check("cancel request"); err != nil {
		return err
	}
	return p.b.cam.Cancel(ctx, tid)
}

func (p *busPort) Reset(ctx context.Context) error {
	if err := p.check("device reset request"); err != nil {
		return err
	}
	return p.b.cam.Reset(ctx)
}

func (p *busPort) Status(ctx context.Context) (ptp.ResponseCode, []uint32, error) {
	if err := p.check("get device status request"); err != nil {
		return 0, nil, err
	}
	return p.b.cam.Status(ctx)
}

// Close releases the handle, not the camera.
func (p *busPort) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	return nil
}

func (p *busPort) ResetPort(ctx context.Context) error {
	if err := p.check("port reset"); err != nil {
		return err
	}
	p.b.cam.Replug() // the camera's side of a reset: its session ends
	p.b.mu.Lock()
	err := p.b.claimAfterReset
	p.b.mu.Unlock()
	if err != nil {
		p.Close()
		return fmt.Errorf("usb: address %d: port reset: %w (%w)", p.address, err, ptp.ErrClosed)
	}
	return nil
}

func (p *busPort) Usable() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return !p.closed && !p.gone
}

// Info gives a USB serial that is not the PTP one, as QEMU's may be.
func (p *busPort) Info() usb.Info {
	return usb.Info{Bus: 1, Address: p.address, VendorID: p.b.cam.USBVendorID(), ProductID: p.b.cam.USBProductID(), Serial: "usb-serial"}
}

// onBus returns a Device whose bus holds cam.
func onBus(cam *sim.Device) (*Device, *bus) {
	b := newBus(cam)
	return &Device{Options: camera.Options{OpTimeout: time.Second}, find: b.find}, b
}

// The ladder's power cycle closes the camera, and so its transport;
// without a relay (or with one that does not cut the power) the camera
// stays on the bus. The next Open must find it again, not reuse the
// closed transport: that was the "GetDeviceInfo(): send command: …
// transport closed" for ever after a power cycle.
func TestOpenAfterTheCameraWasClosed(t *testing.T) {
	ctx := context.Background()
	cam := sim.New(sim.Config{JPEGSize: 20000, JPEGWidth: 160, JPEGHeight: 120})
	d, b := onBus(cam)
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
	if a := b.addresses(); len(a) != 2 {
		t.Errorf("the camera was found %d times, want 2 (once more after its transport was closed)", len(a))
	}
	if d.Selector.Serial == "" {
		t.Error("the camera's serial was not pinned")
	}
}

// A session reset and a port reset keep the transport: Open reuses it.
func TestResetsKeepTheTransport(t *testing.T) {
	ctx := context.Background()
	cam := sim.New(sim.Config{JPEGSize: 20000, JPEGWidth: 160, JPEGHeight: 120})
	d, b := onBus(cam)
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
	if a := b.addresses(); len(a) != 1 {
		t.Errorf("the camera was found %d times, want once", len(a))
	}
}

// A camera unplugged for good: Open reports the bus's answer, not a
// stale transport's.
func TestOpenWhenTheCameraIsGone(t *testing.T) {
	ctx := context.Background()
	cam := sim.New(sim.Config{})
	notFound := fmt.Errorf("usb: serial X: %w", usb.ErrNotFound)
	d, _ := onBus(cam)
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
