package usb

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/google/gousb"
	"github.com/lapsebox/lapsebox/internal/rest"
)

// bus enumerates and opens devices: gousbBus on libusb, a double in tests.
type bus interface {
	// open opens every device accept accepts; see gousb.OpenDevices.
	open(accept func(*gousb.DeviceDesc) bool) ([]device, error)
	close() error
}

// device is the part of an opened USB device a Transport uses.
type device interface {
	desc() *gousb.DeviceDesc
	// strings reads the manufacturer, product and serial descriptors
	// ("" for one the device lacks or fails to give).
	strings() (manufacturer, product, serial string)
	setControlTimeout(time.Duration)
	control(rType, request uint8, val, idx uint16, data []byte) (int, error)
	// claim detaches kernel drivers, selects the configuration and
	// claims the interface.
	claim(si stillImage) (endpoints, error)
	// release releases the interface, then the configuration (gousb
	// refuses the other order).
	release() error
	// reset resets the USB port; it fails while a config is claimed.
	reset() error
	// close closes the device handle; release first.
	close() error
}

// endpoint is one opened endpoint; transfer is one ReadContext or
// WriteContext, never the forever-waiting Read or Write.
type endpoint interface {
	transfer(ctx context.Context, p []byte) (int, error)
}

// lender is an endpoint that reads into a buffer of its own and lends it
// out, sparing the copies of transfer (see gousb.ReadBuffer).
type lender interface {
	// lend reads one transfer into the endpoint's buffer of size bytes
	// (allocated on first use, or again for another size) and returns
	// the bytes read, valid until the next lend or unlend.
	lend(ctx context.Context, size int) ([]byte, error)
	// unlend frees the buffer.
	unlend()
}

type endpoints struct {
	in, out, intr endpoint // intr is nil on a device without one
}

type gousbBus struct{ ctx *gousb.Context }

// ReleaseMemory gives the memory downloads used back to the system: the
// transfer buffers glibc keeps after libusb freed them (a MiB each), the
// Go heap's free pages and the program's pages (rest.ReleaseMemory). For
// a daemon going to rest: it costs a garbage collection.
func ReleaseMemory() {
	gousb.ReleaseMemory()
	rest.ReleaseMemory()
}

func newGousbBus() (bus, error) { return startLibusb(gousb.NewContext) }

// startLibusb calls newContext, which panics when libusb_init fails, and
// returns that as an error.
func startLibusb(newContext func() *gousb.Context) (b bus, err error) {
	defer func() {
		if r := recover(); r != nil {
			b, err = nil, fmt.Errorf("libusb_init: %v", r)
		}
	}()
	return &gousbBus{ctx: newContext()}, nil
}

func (b *gousbBus) open(accept func(*gousb.DeviceDesc) bool) ([]device, error) {
	devs, err := b.ctx.OpenDevices(accept)
	out := make([]device, len(devs))
	for i, d := range devs {
		// String descriptors are control transfers too: never unbounded.
		d.ControlTimeout = 5 * time.Second
		out[i] = &gousbDevice{d: d}
	}
	return out, err
}

func (b *gousbBus) close() error { return b.ctx.Close() }

type gousbDevice struct {
	d    *gousb.Device
	cfg  *gousb.Config
	intf *gousb.Interface
	in   *inEndpoint // its buffer is freed before the interface is released
}

func (g *gousbDevice) desc() *gousb.DeviceDesc { return g.d.Desc }

func (g *gousbDevice) strings() (string, string, string) {
	m, _ := g.d.Manufacturer()
	p, _ := g.d.Product()
	s, _ := g.d.SerialNumber()
	return m, p, s
}

func (g *gousbDevice) setControlTimeout(d time.Duration) { g.d.ControlTimeout = d }

func (g *gousbDevice) control(rType, request uint8, val, idx uint16, data []byte) (int, error) {
	return g.d.Control(rType, request, val, idx, data)
}

func (g *gousbDevice) claim(si stillImage) (endpoints, error) {
	// Linux has no kernel driver for Still Image interfaces, but a
	// composite camera may have one bound to another interface of the
	// configuration, which Config would then fail to set.
	g.d.SetAutoDetach(true)
	cfg, err := g.d.Config(si.config)
	if err != nil {
		return endpoints{}, libusbError(err)
	}
	intf, err := cfg.Interface(si.number, si.alternate)
	if err != nil {
		cfg.Close()
		return endpoints{}, libusbError(err)
	}
	g.cfg, g.intf = cfg, intf
	var eps endpoints
	in, err := intf.InEndpoint(si.in.Number)
	if err != nil {
		g.release()
		return endpoints{}, err
	}
	out, err := intf.OutEndpoint(si.out.Number)
	if err != nil {
		g.release()
		return endpoints{}, err
	}
	g.in = &inEndpoint{ep: in}
	eps.in, eps.out = g.in, outEndpoint{out}
	if si.hasIntr {
		intr, err := intf.InEndpoint(si.intr.Number)
		if err != nil {
			g.release()
			return endpoints{}, err
		}
		eps.intr = &inEndpoint{ep: intr}
	}
	return eps, nil
}

// libusbCode is how gousb.Error formats libusb's error code.
var libusbCode = regexp.MustCompile(`\[code (-?[0-9]+)\]$`)

// libusbError gives back the libusb error that gousb's Config and
// Interface format into their messages with %v rather than wrap, so that
// errors.Is tells a device that left the bus (gousb.ErrorNoDevice) or an
// interface another program holds (gousb.ErrorBusy).
func libusbError(err error) error {
	m := libusbCode.FindStringSubmatch(err.Error())
	if m == nil {
		return err
	}
	code, _ := strconv.Atoi(m[1])
	return &formattedError{err: err, code: gousb.Error(code)}
}

// formattedError is a gousb error whose libusb code was formatted into
// its message.
type formattedError struct {
	err  error
	code gousb.Error
}

func (e *formattedError) Error() string   { return e.err.Error() }
func (e *formattedError) Unwrap() []error { return []error{e.err, e.code} }

func (g *gousbDevice) release() error {
	if g.in != nil {
		g.in.unlend()
		g.in = nil
	}
	if g.intf != nil {
		g.intf.Close()
		g.intf = nil
	}
	var err error
	if g.cfg != nil {
		err = g.cfg.Close()
		g.cfg = nil
	}
	return err
}

func (g *gousbDevice) reset() error { return g.d.Reset() }

func (g *gousbDevice) close() error { return g.d.Close() }

type inEndpoint struct {
	ep *gousb.InEndpoint
	rb *gousb.ReadBuffer // lent by lend, nil until then
}

func (e *inEndpoint) transfer(ctx context.Context, p []byte) (int, error) {
	return e.ep.ReadContext(ctx, p)
}

func (e *inEndpoint) lend(ctx context.Context, size int) ([]byte, error) {
	if e.rb != nil && e.rb.Len() != size {
		e.unlend()
	}
	if e.rb == nil {
		rb, err := e.ep.NewReadBuffer(size)
		if err != nil {
			return nil, err
		}
		e.rb = rb
	}
	return e.rb.ReadContext(ctx)
}

func (e *inEndpoint) unlend() {
	if e.rb != nil {
		e.rb.Close()
		e.rb = nil
	}
}

type outEndpoint struct{ ep *gousb.OutEndpoint }

func (e outEndpoint) transfer(ctx context.Context, p []byte) (int, error) {
	return e.ep.WriteContext(ctx, p)
}
