package usb

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/gousb"

	"github.com/lapsebox/lapsebox/ptp"
)

// USB requests the transport sends.
const (
	reqCancel       = 0x64 // class: Cancel Request
	reqDeviceReset  = 0x66 // class: Device Reset Request
	reqDeviceStatus = 0x67 // class: Get Device Status
	reqGetStatus    = 0x00 // standard: GET_STATUS
	reqClearFeature = 0x01 // standard: CLEAR_FEATURE
	featureHalt     = 0x00 // ENDPOINT_HALT

	classOut    = 0x21 // host to device, class, interface
	classIn     = 0xA1 // device to host, class, interface
	endpointOut = 0x02 // host to device, standard, endpoint
	endpointIn  = 0x82 // device to host, standard, endpoint

	cancelTransaction = 0x4001 // the event code a Cancel Request carries
)

// Transport is a ptp.Transport over one camera's Still Image interface.
// Every transfer has a deadline (the caller's context) and every control
// request a timeout. When the camera is unplugged, the first failing call
// releases the interface, the configuration and the device, in that order,
// and it and every later call return an error wrapping ptp.ErrNoDevice:
// open the camera again with Context.Wait and its serial. After Close
// (which ptp.Conn.Close and camera.Close call) every call returns an error
// wrapping ptp.ErrClosed; Usable says whether either happened.
type Transport struct {
	dev  device
	si   stillImage
	opts Options

	// io is held shared by transfers and control requests and
	// exclusively while the interface is released (port reset, close).
	io  sync.RWMutex
	eps endpoints

	mu       sync.Mutex // guards the fields below
	info     Info
	gone     bool // the device was unplugged
	closed   bool
	ioCtx    context.Context // cancelled to abort transfers in flight
	ioCancel context.CancelFunc
	stalled  map[uint8]bool // endpoints that answered with a stall

	own []byte // ReceiveBuffered's buffer for an endpoint that lends none

	ctrlMu sync.Mutex // ControlTimeout is per device: one request at a time
}

var _ ptp.Transport = (*Transport)(nil)

// claim claims cd's Still Image interface and returns its Transport. On
// failure it closes the device.
func (c *Context) claim(cd *candidate) (*Transport, error) {
	eps, err := cd.dev.claim(cd.intf)
	if err != nil {
		cd.dev.close()
		if isGone(err) {
			err = fmt.Errorf("%w: %w", ptp.ErrNoDevice, err)
		} else if errors.Is(err, gousb.ErrorBusy) {
			err = fmt.Errorf("%w (another program uses the camera)", err)
		}
		return nil, fmt.Errorf("usb: %s: claiming interface %d: %w", cd.info, cd.intf.number, err)
	}
	t := &Transport{dev: cd.dev, si: cd.intf, opts: c.opts, eps: eps, info: cd.info, stalled: map[uint8]bool{}}
	t.ioCtx, t.ioCancel = context.WithCancel(context.Background())
	return t, nil
}

// Info describes the camera.
func (t *Transport) Info() Info {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.info
}

// MaxPacketSize returns wMaxPacketSize of the bulk IN endpoint.
func (t *Transport) MaxPacketSize() int {
	if n := t.si.in.MaxPacketSize; n > 0 {
		return n
	}
	return 64 // libgphoto2's fallback for a descriptor without one
}

// Send writes p to the bulk OUT endpoint as one transfer; an empty p is a
// zero-length packet.
func (t *Transport) Send(ctx context.Context, p []byte) error {
	n, err := t.transfer(ctx, t.si.out.Address, func(e endpoints) endpoint { return e.out }, p, "send")
	if err == nil && n != len(p) {
		err = fmt.Errorf("usb: %s: send: %d of %d bytes written", t.name(), n, len(p))
	}
	return err
}

// Receive reads one transfer from the bulk IN endpoint. len(p) must be a
// multiple of the max packet size, or a packet could overflow it.
func (t *Transport) Receive(ctx context.Context, p []byte) (int, error) {
	if err := t.checkSize(len(p)); err != nil {
		return 0, err
	}
	return t.transfer(ctx, t.si.in.Address, func(e endpoints) endpoint { return e.in }, p, "receive")
}

func (t *Transport) checkSize(n int) error {
	if mps := t.MaxPacketSize(); n <= 0 || n%mps != 0 {
		return fmt.Errorf("usb: %s: receive buffer of %d bytes is not a multiple of the max packet size %d", t.name(), n, mps)
	}
	return nil
}

// ReceiveBuffered reads one transfer of at most size bytes (a multiple of
// the max packet size) from the bulk IN endpoint into a buffer the
// transport keeps, and returns the bytes read; they stay valid until the
// next ReceiveBuffered or ReleaseBuffer. Through libusb the buffer is the
// kernel's DMA memory for the device where it lends some: a download's
// bytes are then copied once, by the sink that stores them, where Receive
// costs two more copies (the kernel's to user space and gousb's into p).
func (t *Transport) ReceiveBuffered(ctx context.Context, size int) ([]byte, error) {
	if err := t.checkSize(size); err != nil {
		return nil, err
	}
	var got []byte
	_, err := t.do(ctx, t.si.in.Address, "receive", func(ctx context.Context, e endpoints) (int, error) {
		l, ok := e.in.(lender)
		if !ok {
			if len(t.own) != size {
				t.own = make([]byte, size)
			}
			n, err := e.in.transfer(ctx, t.own)
			got = t.own[:n]
			return n, err
		}
		p, err := l.lend(ctx, size)
		got = p
		return len(p), err
	})
	return got, err
}

// ReleaseBuffer frees the buffer of ReceiveBuffered, for a camera left open
// between downloads.
func (t *Transport) ReleaseBuffer() {
	t.own = nil
	t.io.RLock()
	defer t.io.RUnlock()
	if l, ok := t.eps.in.(lender); ok {
		l.unlend()
	}
}

// Interrupt reads one transfer from the interrupt IN endpoint (events).
// It returns ptp.ErrUnsupported at once for a device without one.
func (t *Transport) Interrupt(ctx context.Context, p []byte) (int, error) {
	if !t.si.hasIntr {
		return 0, fmt.Errorf("usb: %s: no interrupt endpoint: %w", t.name(), ptp.ErrUnsupported)
	}
	if mps := t.si.intr.MaxPacketSize; mps > 0 && len(p)%mps != 0 {
		return 0, fmt.Errorf("usb: %s: event buffer of %d bytes is not a multiple of the max packet size %d", t.name(), len(p), mps)
	}
	return t.transfer(ctx, t.si.intr.Address, func(e endpoints) endpoint { return e.intr }, p, "interrupt")
}

// transfer runs one transfer on the endpoint pick chooses.
func (t *Transport) transfer(ctx context.Context, addr gousb.EndpointAddress, pick func(endpoints) endpoint, p []byte, what string) (int, error) {
	return t.do(ctx, addr, what, func(ctx context.Context, e endpoints) (int, error) {
		ep := pick(e)
		if ep == nil {
			return 0, errNotClaimed
		}
		return ep.transfer(ctx, p)
	})
}

// errNotClaimed is returned by a transfer while the interface is released.
var errNotClaimed = errors.New("interface not claimed")

// do runs one transfer (f, on the claimed endpoints) on the endpoint at addr,
// bounded by ctx and aborted by a port reset or Close.
func (t *Transport) do(ctx context.Context, addr gousb.EndpointAddress, what string, f func(context.Context, endpoints) (int, error)) (int, error) {
	ioCtx, err := t.usable(what)
	if err != nil {
		return 0, err
	}
	tctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(ioCtx, cancel)()
	t.io.RLock()
	if t.eps.in == nil {
		t.io.RUnlock()
		return 0, fmt.Errorf("usb: %s: %s: interface not claimed (a port reset failed?)", t.name(), what)
	}
	n, err := f(tctx, t.eps)
	t.io.RUnlock()
	if errors.Is(err, errNotClaimed) {
		return 0, fmt.Errorf("usb: %s: %s: interface not claimed (a port reset failed?)", t.name(), what)
	}
	return n, t.check(ctx, ioCtx, err, what, uint8(addr))
}

// usable returns the context of transfers in flight, or why there may be
// none.
func (t *Transport) usable(what string) (context.Context, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case t.gone:
		return nil, fmt.Errorf("usb: %s: %s: %w", t.info, what, ptp.ErrNoDevice)
	case t.closed:
		return nil, fmt.Errorf("usb: %s: %s: %w", t.info, what, ptp.ErrClosed)
	}
	return t.ioCtx, nil
}

func (t *Transport) name() string { return t.Info().String() }

// Usable reports whether the transport can still be used: it was neither
// closed nor left by its device. A camera's owner checks it before
// opening a new session over a transport it kept.
func (t *Transport) Usable() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return !t.gone && !t.closed
}

// isGone reports whether err means the device has left the bus.
func isGone(err error) bool {
	return errors.Is(err, gousb.ErrorNoDevice) || errors.Is(err, gousb.TransferNoDevice)
}

// check turns a gousb error into the transport's: device gone, the
// caller's deadline, an abort by ResetPort or Close, or what it is.
func (t *Transport) check(ctx, ioCtx context.Context, err error, what string, ep uint8) error {
	if err == nil {
		return nil
	}
	t.mu.Lock()
	gone := t.gone
	t.mu.Unlock()
	switch {
	case isGone(err) || gone:
		t.unplugged()
		return fmt.Errorf("usb: %s: %s: %w (%v)", t.name(), what, ptp.ErrNoDevice, err)
	case ctx.Err() != nil:
		return fmt.Errorf("usb: %s: %s: %w", t.name(), what, ctx.Err())
	case ioCtx.Err() != nil:
		return fmt.Errorf("usb: %s: %s: aborted by a port reset or Close", t.name(), what)
	case errors.Is(err, gousb.TransferStall) || errors.Is(err, gousb.ErrorPipe):
		if ep != 0 {
			t.mu.Lock()
			t.stalled[ep] = true
			t.mu.Unlock()
		}
	}
	return fmt.Errorf("usb: %s: %s: %w", t.name(), what, err)
}

// unplugged closes what is left of a device that went away.
func (t *Transport) unplugged() {
	t.mu.Lock()
	if t.gone || t.closed {
		t.gone = true
		t.mu.Unlock()
		return
	}
	t.gone = true
	t.mu.Unlock()
	t.shutdown()
}

// shutdown aborts transfers in flight, waits for them, and releases the
// interface, the configuration and the device in gousb's order.
func (t *Transport) shutdown() error {
	t.mu.Lock()
	t.ioCancel()
	t.mu.Unlock()
	t.io.Lock()
	defer t.io.Unlock()
	t.eps = endpoints{}
	return errors.Join(t.dev.release(), t.dev.close())
}

// Close releases the interface and closes the device. It does not talk
// PTP; see ptp.Conn.Close.
func (t *Transport) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	gone := t.gone
	t.mu.Unlock()
	if gone {
		return nil // unplugged already closed it
	}
	if err := t.shutdown(); err != nil {
		return fmt.Errorf("usb: %s: close: %w", t.name(), err)
	}
	return nil
}

// control sends one control request, bounded by ctx's deadline and
// Options.ControlTimeout.
func (t *Transport) control(ctx context.Context, what string, rType, req uint8, val, idx uint16, data []byte) (int, error) {
	ioCtx, err := t.usable(what)
	if err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("usb: %s: %s: %w", t.name(), what, err)
	}
	timeout := t.opts.ControlTimeout
	if d, ok := ctx.Deadline(); ok {
		timeout = max(min(timeout, time.Until(d)), time.Millisecond)
	}
	t.io.RLock()
	t.ctrlMu.Lock()
	t.dev.setControlTimeout(timeout)
	n, err := t.dev.control(rType, req, val, idx, data)
	t.ctrlMu.Unlock()
	t.io.RUnlock()
	if errors.Is(err, gousb.ErrorTimeout) && ctx.Err() != nil {
		err = ctx.Err()
	}
	return n, t.check(ctx, ioCtx, err, what, 0)
}

// Cancel sends the Cancel Request for transaction tid.
func (t *Transport) Cancel(ctx context.Context, tid uint32) error {
	data := binary.LittleEndian.AppendUint16(nil, cancelTransaction)
	data = binary.LittleEndian.AppendUint32(data, tid)
	_, err := t.control(ctx, fmt.Sprintf("cancel request (transaction %d)", tid), classOut, reqCancel, 0, uint16(t.si.number), data)
	return unsupported(err)
}

// Reset sends the Device Reset Request. It ends the PTP session but not
// the USB connection; see ResetPort for that.
func (t *Transport) Reset(ctx context.Context) error {
	_, err := t.control(ctx, "device reset request", classOut, reqDeviceReset, 0, uint16(t.si.number), nil)
	return unsupported(err)
}

// unsupported maps a stalled class request to ptp.ErrUnsupported.
func unsupported(err error) error {
	if errors.Is(err, gousb.ErrorPipe) {
		return fmt.Errorf("%w: %w", ptp.ErrUnsupported, err)
	}
	return err
}

// Status sends Get Device Status and returns the status code and its
// parameters. Before returning it clears the halt of every bulk endpoint
// that stalled since the last Status, or that GET_STATUS reports halted,
// so that the next transaction can run; it does so also when the device
// does not implement the request (QEMU answers it with no data).
func (t *Transport) Status(ctx context.Context) (ptp.ResponseCode, []uint32, error) {
	buf := make([]byte, 64)
	n, err := t.control(ctx, "get device status request", classIn, reqDeviceStatus, 0, uint16(t.si.number), buf)
	if errors.Is(err, ptp.ErrNoDevice) || ctx.Err() != nil {
		return 0, nil, err
	}
	if cerr := t.clearHalts(ctx); cerr != nil {
		return 0, nil, cerr
	}
	if err != nil {
		return 0, nil, unsupported(err)
	}
	if n < 4 {
		return 0, nil, fmt.Errorf("usb: %s: get device status: %d-byte reply: %w", t.name(), n, ptp.ErrUnsupported)
	}
	length := int(binary.LittleEndian.Uint16(buf))
	if length < 4 || length > n {
		length = n
	}
	code := ptp.ResponseCode(binary.LittleEndian.Uint16(buf[2:]))
	var params []uint32
	for p := buf[4:length]; len(p) >= 4; p = p[4:] {
		params = append(params, binary.LittleEndian.Uint32(p))
	}
	return code, params, nil
}

// clearHalts clears the halt of the bulk endpoints that need it. A raw
// CLEAR_FEATURE (gousb has no libusb_clear_halt) also resets the device's
// data toggle, so it is sent only to an endpoint known to be halted.
func (t *Transport) clearHalts(ctx context.Context) error {
	for _, ep := range []uint8{uint8(t.si.in.Address), uint8(t.si.out.Address)} {
		t.mu.Lock()
		halted := t.stalled[ep]
		t.mu.Unlock()
		if !halted {
			var st [2]byte
			n, err := t.control(ctx, fmt.Sprintf("GET_STATUS of endpoint %#02x", ep), endpointIn, reqGetStatus, 0, uint16(ep), st[:])
			if errors.Is(err, ptp.ErrNoDevice) || ctx.Err() != nil {
				return err
			}
			halted = err == nil && n == 2 && st[0]&1 != 0
		}
		if !halted {
			continue
		}
		if _, err := t.control(ctx, fmt.Sprintf("CLEAR_FEATURE(ENDPOINT_HALT) of endpoint %#02x", ep), endpointOut, reqClearFeature, featureHalt, uint16(ep), nil); err != nil {
			return err
		}
		t.mu.Lock()
		delete(t.stalled, ep)
		t.mu.Unlock()
	}
	return nil
}

// ResetPort resets the camera's USB port, the strongest recovery short of
// cutting its power: it aborts transfers in flight, releases the interface
// and the configuration (libusb refuses a reset while they are claimed),
// resets, and claims them again. The camera closes its PTP session; open a
// new one. If the camera comes back as a different device (libusb:
// LIBUSB_ERROR_NOT_FOUND) or leaves the bus, ResetPort returns an error
// wrapping ptp.ErrNoDevice; if anything else fails, one wrapping
// ptp.ErrClosed. Either way the transport is closed, as its interface may
// be left unclaimed: open the camera again by serial. libusb gives the
// reset itself no timeout.
func (t *Transport) ResetPort(ctx context.Context) error {
	if _, err := t.usable("port reset"); err != nil {
		return err
	}
	t.mu.Lock()
	t.ioCancel()
	t.mu.Unlock()
	t.io.Lock()
	err := t.resetLocked()
	t.io.Unlock()
	if err == nil {
		return nil
	}
	gone := isGone(err) || errors.Is(err, gousb.ErrorNotFound)
	t.mu.Lock()
	t.gone, t.closed = t.gone || gone, t.closed || !gone
	t.mu.Unlock()
	t.shutdown()
	if gone {
		return fmt.Errorf("usb: %s: port reset: %w (%v)", t.name(), ptp.ErrNoDevice, err)
	}
	return fmt.Errorf("usb: %s: port reset: %w (%w)", t.name(), err, ptp.ErrClosed)
}

func (t *Transport) resetLocked() error {
	t.eps = endpoints{}
	if err := t.dev.release(); err != nil && !isGone(err) {
		return fmt.Errorf("releasing the interface: %w", err)
	}
	if err := t.dev.reset(); err != nil {
		return err
	}
	eps, err := t.dev.claim(t.si)
	if err != nil {
		return fmt.Errorf("claiming interface %d again: %w", t.si.number, err)
	}
	t.eps = eps
	t.mu.Lock()
	t.ioCtx, t.ioCancel = context.WithCancel(context.Background())
	clear(t.stalled)
	t.mu.Unlock()
	return nil
}
