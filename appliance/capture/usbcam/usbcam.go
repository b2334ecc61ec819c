// Package usbcam is capture.Device for a camera on USB (gousb, so cgo):
// kept apart so that the capture logic and its status types build without
// cgo.
package usbcam

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/lapsebox/lapsebox/appliance/recovery"
	"github.com/lapsebox/lapsebox/ptp"
	"github.com/lapsebox/lapsebox/ptp/camera"
	"github.com/lapsebox/lapsebox/ptp/usb"
)

// Device is the camera on USB: the first PTP camera that Match accepts,
// then always the same one, by serial number, however the bus renumbers it.
//
// Device keeps the camera's transport between sessions (a session reset
// or a port reset keeps it), but a camera's Close closes it too: the
// capture loop closes the camera before a power cycle. So Device never
// trusts a transport it kept: a closed one, or one whose camera left the
// bus, is dropped and the camera looked for again.
type Device struct {
	USB      *usb.Context
	Selector usb.Selector // a Serial pins the camera; set after the first open
	// Match, if set, must accept the camera's model and serial.
	Match   func(model, serial string) bool
	Options camera.Options

	t port
	// find looks for the camera on the bus (USB.Wait); tests replace it.
	find func(ctx context.Context, sel usb.Selector) (port, error)
}

// port is what Device uses of a camera's transport: a *usb.Transport.
type port interface {
	ptp.Transport
	Info() usb.Info
	ResetPort(ctx context.Context) error
	Usable() bool
}

func (d *Device) wait(ctx context.Context) (port, error) {
	if d.find != nil {
		return d.find(ctx, d.Selector)
	}
	t, err := d.USB.Wait(ctx, d.Selector, time.Second)
	if err != nil {
		return nil, err
	}
	return t, nil
}

// Open implements capture.Device: it waits for the camera to be on the bus.
func (d *Device) Open(ctx context.Context) (*camera.Camera, error) {
	for attempt := 0; ; attempt++ {
		if d.t != nil && !d.t.Usable() {
			d.dropTransport()
		}
		if d.t == nil {
			t, err := d.wait(ctx)
			if err != nil {
				return nil, err
			}
			d.t = t
		}
		opts := d.Options
		opts.Conn.USBVendorID = d.t.Info().VendorID
		cam, err := camera.Open(ctx, d.t, opts)
		if gone(err) && attempt == 0 {
			// The camera went away since it was found (a power cycle, a
			// USB reset): look for it again once.
			d.dropTransport()
			continue
		}
		if err != nil {
			return nil, err
		}
		id := cam.Identity()
		if d.Match != nil && !d.Match(id.Model, id.SerialNumber) {
			cam.Close(ctx)
			d.dropTransport()
			return nil, fmt.Errorf("camera %s does not match the configured model and serial", id)
		}
		if d.Selector.Serial == "" {
			// The serial the camera reports: a USB iSerial may name the
			// port too (QEMU's does), and some cameras have none.
			d.Selector.Serial = id.SerialNumber
			if d.Selector.Serial == "" {
				d.Selector.Serial = d.t.Info().Serial
			}
		}
		return cam, nil
	}
}

// gone reports whether err means the transport cannot be used again.
func gone(err error) bool { return errors.Is(err, ptp.ErrNoDevice) || errors.Is(err, ptp.ErrClosed) }

// Recover implements capture.Device. Before a power cycle it forgets the
// camera's transport: the camera comes back as another device, and a
// handle on the old one fails only once used.
func (d *Device) Recover(ctx context.Context, cam *camera.Camera, a recovery.Action) error {
	if d.t != nil && (!d.t.Usable() || a == recovery.PowerCycle) {
		d.dropTransport()
	}
	if d.t == nil {
		return nil // nothing open: Open finds the camera again
	}
	var err error
	switch a {
	case recovery.Cancel:
		if cam != nil {
			err = cam.Conn().Recover(ctx)
		}
	case recovery.ResetSession:
		err = d.t.Reset(ctx)
	case recovery.USBReset:
		err = d.t.ResetPort(ctx)
	}
	// A port reset that failed may have left the interface released.
	if gone(err) || !d.t.Usable() || a == recovery.USBReset && err != nil {
		d.dropTransport()
	}
	return err
}

// Close releases the camera's USB interface.
func (d *Device) Close() error {
	if d.t == nil {
		return nil
	}
	err := d.t.Close()
	d.t = nil
	return err
}

func (d *Device) dropTransport() {
	if d.t != nil {
		d.t.Close()
		d.t = nil
	}
}
