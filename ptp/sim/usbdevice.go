package sim

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"github.com/lapsebox/lapsebox/internal/usbredir"
	"github.com/lapsebox/lapsebox/ptp"
)

// USB endpoints of the simulated camera, as QEMU's usb-mtp numbers them
// (docs/ptp.md §4.1).
const (
	usbBulkIn    = 0x81
	usbBulkOut   = 0x02
	usbInterrupt = 0x83
)

// USBOptions configure Device.USB.
type USBOptions struct {
	// PhotoDir, if set, receives a copy of every picture the camera
	// takes, under its name on the card (IMG_0001.JPG…), so that a test
	// can compare what the host downloaded with what the camera made.
	PhotoDir string
	// Logf receives a line when a picture cannot be copied (nil: none).
	Logf func(format string, args ...any)
}

// USBDevice is a simulated camera as a USB device (a usbredir.Device): a
// Still Image interface (class 6/1/1) with bulk IN 0x81, bulk OUT 0x02
// and interrupt IN 0x83, the model's USB IDs and serial number, and the
// PTP class requests Cancel (0x64), Device Reset (0x66) and Get Device
// Status (0x67) mapped to the Device's Cancel, Reset and Status. Through
// usbredir and QEMU's usb-redir device a guest's kernel enumerates it and
// libusb talks PTP to it.
type USBDevice struct {
	d    *Device
	opts USBOptions

	mu    sync.Mutex
	shots int             // d.shots when the photos were last copied
	saved map[string]bool // photos copied, by name and sequence number
}

// USB returns the camera as a USB device.
func (d *Device) USB(opts USBOptions) *USBDevice {
	return &USBDevice{d: d, opts: opts, saved: map[string]bool{}}
}

// Descriptors implements usbredir.Device: high speed with 512-byte bulk
// packets, full speed with 64-byte ones.
func (u *USBDevice) Descriptors() usbredir.Descriptors {
	d := u.d
	d.mu.Lock()
	info := d.info
	d.mu.Unlock()
	mps := d.cfg.MaxPacketSize
	speed, interval := usbredir.SpeedHigh, uint8(7) // 2^(7-1) microframes: 8 ms
	if mps <= 64 {
		speed, interval = usbredir.SpeedFull, 8 // ms
	}
	product := info.Model
	if d.cfg.Model == CanonEOS600D {
		product = "Canon Digital Camera" // what EOS bodies report as iProduct
	}
	return usbredir.Descriptors{
		Speed:    speed,
		VendorID: d.USBVendorID(), ProductID: d.USBProductID(), Version: 0x0100,
		Manufacturer: info.Manufacturer, Product: product, SerialNumber: info.SerialNumber,
		SelfPowered: true, MaxPowerMA: 2,
		Interfaces: []usbredir.Interface{{
			Class: 6, SubClass: 1, Protocol: 1,
			Endpoints: []usbredir.Endpoint{
				{Address: usbBulkIn, Type: usbredir.Bulk, MaxPacketSize: uint16(mps)},
				{Address: usbBulkOut, Type: usbredir.Bulk, MaxPacketSize: uint16(mps)},
				{Address: usbInterrupt, Type: usbredir.Interrupt, MaxPacketSize: 64, Interval: interval},
			},
		}},
	}
}

// PTP class requests (docs/ptp.md §1.4).
const (
	reqCancel       = 0x64
	reqDeviceReset  = 0x66
	reqDeviceStatus = 0x67
	classOut        = 0x21 // host to device, class, interface
	classIn         = 0xA1
)

// Control implements usbredir.Device: the PTP class requests.
func (u *USBDevice) Control(ctx context.Context, s usbredir.Setup, data []byte) ([]byte, error) {
	var err error
	switch {
	case s.RequestType == classOut && s.Request == reqCancel:
		if len(data) != 6 || binary.LittleEndian.Uint16(data) != 0x4001 {
			return nil, fmt.Errorf("sim: Cancel Request with data % x, want 01 40 and a transaction ID: %w", data, usbredir.ErrStall)
		}
		err = u.d.Cancel(ctx, binary.LittleEndian.Uint32(data[2:]))
	case s.RequestType == classOut && s.Request == reqDeviceReset:
		err = u.d.Reset(ctx)
	case s.RequestType == classIn && s.Request == reqDeviceStatus:
		var code ptp.ResponseCode
		var params []uint32
		if code, params, err = u.d.Status(ctx); err == nil {
			b := binary.LittleEndian.AppendUint16(nil, uint16(4+4*len(params)))
			b = binary.LittleEndian.AppendUint16(b, uint16(code))
			for _, p := range params {
				b = binary.LittleEndian.AppendUint32(b, p)
			}
			return b, nil
		}
	default:
		return nil, fmt.Errorf("sim: control request %v not supported: %w", s, usbredir.ErrStall)
	}
	return nil, u.usbErr(ctx, err)
}

// usbErr maps a simulator error to what usbredir expects. A sleeping
// camera does not answer class requests: the request waits until the
// host gives up on it.
func (u *USBDevice) usbErr(ctx context.Context, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ptp.ErrNoDevice):
		return fmt.Errorf("%w: %w", usbredir.ErrNoDevice, err)
	case errors.Is(err, ErrStall):
		return fmt.Errorf("%w: %w", usbredir.ErrStall, err)
	case errors.Is(err, errControlTimeout):
		<-ctx.Done()
		return fmt.Errorf("%w: %w", err, ctx.Err())
	}
	return err
}

// BulkOut implements usbredir.Device: bytes for the camera's bulk OUT
// pipe (Device.Send).
func (u *USBDevice) BulkOut(ctx context.Context, ep uint8, data []byte) error {
	if ep != usbBulkOut {
		return fmt.Errorf("sim: bulk OUT to endpoint %#02x: %w", ep, usbredir.ErrStall)
	}
	err := u.d.Send(ctx, data)
	u.savePhotos()
	return u.usbErr(ctx, err)
}

// BulkIn implements usbredir.Device: one transfer from the camera's bulk
// IN pipe (Device.Receive). A request that is not a multiple of the packet
// size reads whole packets; a packet that does not fit is returned whole,
// and usbredir reports it as babble, as a host controller would.
func (u *USBDevice) BulkIn(ctx context.Context, ep uint8, max int) ([]byte, error) {
	if ep != usbBulkIn {
		return nil, fmt.Errorf("sim: bulk IN from endpoint %#02x: %w", ep, usbredir.ErrStall)
	}
	mps := u.d.MaxPacketSize()
	buf := make([]byte, (max+mps-1)/mps*mps)
	if len(buf) == 0 {
		return nil, nil // a zero-length request
	}
	n, err := u.d.Receive(ctx, buf)
	return buf[:n], u.usbErr(ctx, err)
}

// InterruptIn implements usbredir.Device: the next event of the camera's
// interrupt pipe (Device.Interrupt).
func (u *USBDevice) InterruptIn(ctx context.Context, ep uint8) ([]byte, error) {
	if ep != usbInterrupt {
		return nil, fmt.Errorf("sim: interrupt IN from endpoint %#02x: %w", ep, usbredir.ErrStall)
	}
	buf := make([]byte, 1024)
	n, err := u.d.Interrupt(ctx, buf)
	return buf[:n], u.usbErr(ctx, err)
}

// Reset implements usbredir.Resetter: a USB port reset re-enumerates the
// camera (Device.Replug): its session and replies in flight are lost. An
// unplugged camera stays unplugged.
func (u *USBDevice) Reset() {
	u.d.mu.Lock()
	plugged := u.d.plugged
	u.d.mu.Unlock()
	if plugged {
		u.d.Replug()
	}
}

// photo is a picture to copy into PhotoDir.
type photo struct {
	key, name string
	content   io.ReaderAt
	size      int64
}

// savePhotos copies pictures taken since the last call into PhotoDir.
func (u *USBDevice) savePhotos() {
	if u.opts.PhotoDir == "" {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	d := u.d
	d.mu.Lock()
	if d.shots == u.shots {
		d.mu.Unlock()
		return
	}
	u.shots = d.shots
	var todo []photo
	add := func(objs map[uint32]*object) {
		for _, o := range objs {
			key := fmt.Sprintf("%d/%s", o.seq, o.name)
			if o.folder || o.captured.IsZero() || u.saved[key] {
				continue
			}
			u.saved[key] = true
			todo = append(todo, photo{key, o.name, o.content, o.size})
		}
	}
	add(d.card.objects)
	add(d.eos.transfers)
	add(d.nikon.sdram)
	d.mu.Unlock()
	sort.Slice(todo, func(i, j int) bool { return todo[i].key < todo[j].key })
	for _, p := range todo {
		if err := writePhoto(filepath.Join(u.opts.PhotoDir, p.name), p.content, p.size); err != nil && u.opts.Logf != nil {
			u.opts.Logf("sim: copying picture %s: %v", p.name, err)
		}
	}
}

// writePhoto writes a file atomically: a temporary file, then a rename.
func writePhoto(path string, content io.ReaderAt, size int64) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".photo-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := io.Copy(f, io.NewSectionReader(content, 0, size)); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
