// Package usb is the PTP transport over USB. It finds cameras by their
// Still Image interface (class 6, subclass 1, protocol 1, any vendor)
// through libusb (github.com/google/gousb), tells several of them apart
// by serial number, finds one again after it was unplugged or
// re-enumerated, and moves PTP containers over its bulk and interrupt
// endpoints with a deadline on every transfer.
//
// gousb needs cgo and libusb: the host tool links the system's libusb, the
// appliance a static libusb built without udev (scripts/build-libusb).
package usb

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/gousb"

	"github.com/lapsebox/lapsebox/ptp"
)

// Info describes a camera on the bus.
type Info struct {
	Bus, Address int    // change when the camera is plugged in again
	Port         string // physical path of hub ports, e.g. "1.4"
	VendorID     uint16
	ProductID    uint16
	Speed        string // "high", "full", "super"…
	// USB string descriptors; empty when the device has none.
	Manufacturer, Product, Serial string
	// Where the Still Image interface is.
	Config, Interface, Alternate int
	MaxPacketSize                int // of the bulk endpoints
	// From the PTP DeviceInfo, when it was read (List, or Open matching
	// a serial the USB descriptor does not carry).
	Model, PTPSerial string
	// Err says why the DeviceInfo could not be read (another program
	// holds the camera, say).
	Err string `json:",omitempty"`
}

// String returns e.g. "04a9:3218 bus 1 address 5 serial 1234".
func (i Info) String() string {
	s := fmt.Sprintf("%04x:%04x bus %d address %d", i.VendorID, i.ProductID, i.Bus, i.Address)
	if serial := i.SerialNumber(); serial != "" {
		s += " serial " + serial
	}
	return s
}

// SerialNumber returns the serial that identifies the camera: the USB
// iSerial, or the PTP serial for a device without one.
func (i Info) SerialNumber() string {
	if i.Serial != "" {
		return i.Serial
	}
	return i.PTPSerial
}

// Selector picks cameras. Zero fields match anything.
type Selector struct {
	// Serial is a USB iSerial or a PTP DeviceInfo serial number; it stays
	// the same when the camera is plugged in again at another address.
	Serial    string
	VendorID  uint16
	ProductID uint16
	Bus       int
	Address   int
}

// String returns the selector as it reads in an error.
func (s Selector) String() string {
	var parts []string
	if s.Serial != "" {
		parts = append(parts, "serial "+s.Serial)
	}
	if s.VendorID != 0 || s.ProductID != 0 {
		parts = append(parts, fmt.Sprintf("%04x:%04x", s.VendorID, s.ProductID))
	}
	if s.Bus != 0 || s.Address != 0 {
		parts = append(parts, fmt.Sprintf("bus %d address %d", s.Bus, s.Address))
	}
	if parts == nil {
		return "any PTP camera"
	}
	return strings.Join(parts, ", ")
}

func (s Selector) matchDesc(d *gousb.DeviceDesc) bool {
	return (s.VendorID == 0 || uint16(d.Vendor) == s.VendorID) &&
		(s.ProductID == 0 || uint16(d.Product) == s.ProductID) &&
		(s.Bus == 0 || d.Bus == s.Bus) &&
		(s.Address == 0 || d.Address == s.Address)
}

// ErrNotFound is returned when no camera matches a Selector.
var ErrNotFound = errors.New("no PTP camera found")

// Options tune transports. The zero value gives the defaults.
type Options struct {
	// ControlTimeout bounds every control request (a context deadline
	// shortens it). Default 5 s.
	ControlTimeout time.Duration
	// InfoTimeout bounds the GetDeviceInfo that matches a PTP serial and
	// that List runs. Default 5 s.
	InfoTimeout time.Duration
}

func (o *Options) withDefaults() Options {
	var v Options
	if o != nil {
		v = *o
	}
	if v.ControlTimeout <= 0 {
		v.ControlTimeout = 5 * time.Second
	}
	if v.InfoTimeout <= 0 {
		v.InfoTimeout = 5 * time.Second
	}
	return v
}

// Context is a libusb session. One is enough for a process; it must
// outlive the Transports opened through it.
type Context struct {
	bus  bus
	opts Options
	mu   sync.Mutex // one enumeration at a time
}

// newBus starts libusb; tests replace it.
var newBus = newGousbBus

// retryInterval is the wait between attempts to start libusb.
var retryInterval = time.Second

// usbfsDir is where libusb built without udev looks for devices.
var usbfsDir = "/dev/bus/usb"

// NewContext starts libusb. libusb built without udev (the appliance's)
// fails to start until the kernel has populated /dev/bus/usb, which on a
// fresh boot may be after the camera service starts, and gousb panics
// when libusb fails: NewContext waits for the directory, turns the panic
// into an error and retries every second until ctx is done.
func NewContext(ctx context.Context, opts *Options) (*Context, error) {
	var last error
	for {
		b, err := newBus()
		if err == nil {
			return &Context{bus: b, opts: opts.withDefaults()}, nil
		}
		last = err
		t := time.NewTimer(retryInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			if entries, _ := os.ReadDir(usbfsDir); len(entries) == 0 {
				last = fmt.Errorf("%w (%s is empty or missing: no USB host controller yet?)", last, usbfsDir)
			}
			return nil, fmt.Errorf("usb: starting libusb: %w: %w", last, ctx.Err())
		case <-t.C:
		}
	}
}

// Close ends the libusb session. Close the Transports first.
func (c *Context) Close() error { return c.bus.close() }

// candidate is an opened device with a Still Image interface.
type candidate struct {
	dev  device
	intf stillImage
	info Info
}

// candidates opens every device that sel's USB fields and a Still Image
// interface match, and reads their string descriptors.
func (c *Context) candidates(sel Selector) ([]*candidate, error) {
	found := map[*gousb.DeviceDesc]stillImage{}
	devs, err := c.bus.open(func(d *gousb.DeviceDesc) bool {
		si, ok := findStillImage(d)
		if ok && sel.matchDesc(d) {
			found[d] = si
			return true
		}
		return false
	})
	var cands []*candidate
	for _, d := range devs {
		desc := d.desc()
		si, ok := found[desc]
		if !ok {
			si, ok = findStillImage(desc)
		}
		if !ok {
			d.close()
			continue
		}
		cd := &candidate{dev: d, intf: si, info: describe(desc, si)}
		cd.info.Manufacturer, cd.info.Product, cd.info.Serial = d.strings()
		cands = append(cands, cd)
	}
	// Enumeration goes on past a device it cannot open (permissions, a
	// device unplugged meanwhile): report the error only if it found none.
	if len(cands) == 0 && err != nil {
		return nil, fmt.Errorf("usb: listing devices: %w", err)
	}
	sort.Slice(cands, func(i, j int) bool {
		a, b := cands[i].info, cands[j].info
		return a.Bus < b.Bus || a.Bus == b.Bus && a.Address < b.Address
	})
	return cands, nil
}

// List describes every camera on the bus, with its PTP DeviceInfo where
// it can be read (a camera held by another program has Info.Err set).
func (c *Context) List(ctx context.Context) ([]Info, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cands, err := c.candidates(Selector{})
	if err != nil {
		return nil, err
	}
	infos := make([]Info, 0, len(cands))
	for _, cd := range cands {
		t, err := c.claim(cd) // closes the device on failure
		if err == nil {
			_, err = c.readDeviceInfo(ctx, t)
			err = errors.Join(err, t.Close())
		}
		info := cd.info
		if t != nil {
			info = t.Info()
		}
		if err != nil {
			info.Err = err.Error()
		}
		infos = append(infos, info)
	}
	return infos, nil
}

// Open opens the first camera sel matches (ordered by bus and address)
// and claims its interface. A serial matches the USB iSerial, or else the
// serial in the PTP DeviceInfo, which Open reads outside a session. When
// nothing matches it returns an error wrapping ErrNotFound.
func (c *Context) Open(ctx context.Context, sel Selector) (*Transport, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cands, err := c.candidates(sel)
	if err != nil {
		return nil, err
	}
	var picked *Transport
	var errs []error
	for _, cd := range cands {
		if picked != nil {
			cd.dev.close()
			continue
		}
		t, err := c.claim(cd)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if sel.Serial == "" || cd.info.Serial == sel.Serial {
			picked = t
			continue
		}
		// A camera's USB and PTP serials need not agree (QEMU's are
		// "34617" and "0123456789abcdef…"): ask PTP.
		di, err := c.readDeviceInfo(ctx, t)
		if err == nil && di.SerialNumber == sel.Serial {
			picked = t
			continue
		}
		if err != nil {
			errs = append(errs, err)
		}
		t.Close()
	}
	if picked != nil {
		return picked, nil
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("usb: no camera with %s could be opened: %w: %w", sel, ErrNotFound, err)
	}
	return nil, fmt.Errorf("usb: %s: %w", sel, ErrNotFound)
}

// Wait opens the camera sel matches, polling every interval (default
// 1 s) until it appears or ctx is done: gousb has no hot-plug events.
func (c *Context) Wait(ctx context.Context, sel Selector, interval time.Duration) (*Transport, error) {
	if interval <= 0 {
		interval = time.Second
	}
	for {
		t, err := c.Open(ctx, sel)
		if err == nil {
			return t, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w (waited for %s: %w)", err, sel, ctx.Err())
		case <-time.After(interval):
		}
	}
}

// readDeviceInfo reads the DeviceInfo outside a session and records the
// model and PTP serial in t's Info.
func (c *Context) readDeviceInfo(ctx context.Context, t *Transport) (*ptp.DeviceInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.InfoTimeout)
	defer cancel()
	di, err := ptp.NewConn(t, &ptp.Options{USBVendorID: t.info.VendorID}).GetDeviceInfo(ctx)
	if err != nil {
		return nil, fmt.Errorf("usb: %s: %w", t.info, err)
	}
	t.mu.Lock()
	t.info.Model, t.info.PTPSerial = di.Model, di.SerialNumber
	t.mu.Unlock()
	return di, nil
}

// stillImage locates the PTP interface of a device.
type stillImage struct {
	config, number, alternate int
	in, out, intr             gousb.EndpointDesc
	hasIntr                   bool
}

// findStillImage finds the first interface of class 6/1/1 with a bulk IN
// and a bulk OUT endpoint (and usually an interrupt IN one), by type and
// direction rather than by address.
func findStillImage(d *gousb.DeviceDesc) (stillImage, bool) {
	cfgs := make([]int, 0, len(d.Configs))
	for n := range d.Configs {
		cfgs = append(cfgs, n)
	}
	sort.Ints(cfgs)
	for _, n := range cfgs {
		for _, intf := range d.Configs[n].Interfaces {
			for _, alt := range intf.AltSettings {
				if alt.Class != gousb.ClassImage || alt.SubClass != 1 || alt.Protocol != 1 {
					continue
				}
				si := stillImage{config: n, number: alt.Number, alternate: alt.Alternate}
				var in, out bool
				for _, ep := range alt.Endpoints {
					switch {
					case ep.TransferType == gousb.TransferTypeBulk && ep.Direction == gousb.EndpointDirectionIn && !in:
						si.in, in = ep, true
					case ep.TransferType == gousb.TransferTypeBulk && ep.Direction == gousb.EndpointDirectionOut && !out:
						si.out, out = ep, true
					case ep.TransferType == gousb.TransferTypeInterrupt && ep.Direction == gousb.EndpointDirectionIn && !si.hasIntr:
						si.intr, si.hasIntr = ep, true
					}
				}
				if in && out {
					return si, true
				}
			}
		}
	}
	return stillImage{}, false
}

func describe(d *gousb.DeviceDesc, si stillImage) Info {
	port := make([]string, len(d.Path))
	for i, p := range d.Path {
		port[i] = fmt.Sprint(p)
	}
	return Info{
		Bus: d.Bus, Address: d.Address, Port: strings.Join(port, "."),
		VendorID: uint16(d.Vendor), ProductID: uint16(d.Product),
		Speed:  strings.TrimSuffix(d.Speed.String(), " speed"),
		Config: si.config, Interface: si.number, Alternate: si.alternate,
		MaxPacketSize: si.in.MaxPacketSize,
	}
}
