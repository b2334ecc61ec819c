package usbredir

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// Version is the version string of our hello.
const Version = "lapsebox usbredir host 1"

// Options configure a Conn.
type Options struct {
	// Unplugged starts the connection with the device unplugged; Plug
	// connects it.
	Unplugged bool
	// Logf receives one line per notable event (nil: none).
	Logf func(format string, args ...any)
}

// Conn is one usbredir connection on which this side is the usb-host of
// one Device: QEMU's usb-redir device (the usb-guest) is at the other end.
type Conn struct {
	rw   io.ReadWriteCloser
	dev  Device
	logf func(format string, args ...any)

	wmu  sync.Mutex
	wbuf []byte

	mu         sync.Mutex
	n          negotiated
	helloDone  bool
	want       bool // the device should be plugged in
	plugged    bool // device_connect sent, no device_disconnect since
	ackPending chan struct{}
	runCtx     context.Context
	gen        int // plug generation; replies of older ones are dropped
	genCtx     context.Context
	genCancel  context.CancelFunc
	desc       Descriptors
	config     uint8
	halted     map[uint8]bool
	pending    map[uint64]*request
	queues     map[uint8]*queue
	interrupts map[uint8]context.CancelFunc
	intID      uint64
	failed     error
	runCancel  context.CancelFunc
	wg         sync.WaitGroup
	stats      Stats
}

// Stats count what a Conn has done.
type Stats struct {
	Connects, Disconnects int // device_connect and device_disconnect sent
	Resets                int // port resets from the guest
	Control, Bulk         int // control and bulk packets answered
	Cancelled             int // packets QEMU cancelled
	Interrupts            int // interrupt transfers sent
}

// request is a control or bulk packet being served.
type request struct {
	p         packet
	gen       int
	ctx       context.Context
	cancel    context.CancelFunc
	cancelled bool
}

// queue holds the requests of one endpoint, served in order by one
// goroutine while it is not empty.
type queue struct {
	reqs    []*request
	running bool
}

// NewConn returns a connection that serves dev on rw; Run runs it.
func NewConn(rw io.ReadWriteCloser, dev Device, opts *Options) *Conn {
	if opts == nil {
		opts = &Options{}
	}
	c := &Conn{rw: rw, dev: dev, logf: opts.Logf, want: !opts.Unplugged}
	if c.logf == nil {
		c.logf = func(string, ...any) {}
	}
	return c
}

// Serve runs a connection that serves dev on rw until the peer closes it,
// a protocol error or ctx is done; see Conn.Run.
func Serve(ctx context.Context, rw io.ReadWriteCloser, dev Device, opts *Options) error {
	return NewConn(rw, dev, opts).Run(ctx)
}

// Run exchanges hellos, plugs the device in (unless Options.Unplugged) and
// serves the peer's packets until the peer closes the connection (nil), ctx
// is done (nil), or an error: malformed bytes (wrapping ErrProtocol), bad
// Descriptors, a failed write. Run closes rw before it returns.
func (c *Conn) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	c.mu.Lock()
	c.runCtx, c.runCancel = ctx, cancel
	c.mu.Unlock()
	stop := context.AfterFunc(ctx, func() { c.rw.Close() })
	defer stop()

	err := c.run(ctx)

	c.mu.Lock()
	c.stopDevice()
	if c.failed != nil && err == nil {
		err = c.failed
	}
	c.mu.Unlock()
	cancel()
	c.rw.Close()
	c.wg.Wait()
	if ctx.Err() != nil && (errors.Is(err, net.ErrClosed) || errors.Is(err, io.ErrClosedPipe)) {
		err = nil // we closed the connection
	}
	if errors.Is(err, io.EOF) {
		err = nil
	}
	return err
}

func (c *Conn) run(ctx context.Context) error {
	hdr, data := helloHeader(Version)
	if err := c.sendLocked(typeHello, 0, hdr, data); err != nil {
		return err
	}
	br := bufio.NewReaderSize(c.rw, 64<<10)
	p, err := readPacket(br, 0, true)
	if err != nil {
		return fmt.Errorf("usbredir: reading the peer's hello: %w", err)
	}
	c.mu.Lock()
	c.n = negotiated(ourCaps & p.helloCaps())
	c.helloDone = true
	c.logf("usbredir: peer %q, capabilities %#x, using %#x", p.helloVersion(), p.helloCaps(), uint32(c.n))
	if c.want {
		err = c.plugLocked()
	}
	c.mu.Unlock()
	if err != nil {
		return err
	}
	for {
		c.mu.Lock()
		n := c.n
		c.mu.Unlock()
		p, err := readPacket(br, n, false)
		if err != nil {
			return err
		}
		if err := c.dispatch(p); err != nil {
			return err
		}
	}
}

// Stats returns what the connection has done so far.
func (c *Conn) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

// Plugged reports whether the device is connected to the guest.
func (c *Conn) Plugged() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.plugged
}

// Unplug disconnects the device from the guest, as pulling its cable
// would: transfers in progress are abandoned. The connection stays open.
func (c *Conn) Unplug() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.want = false
	c.unplugLocked()
}

// Plug connects the device to the guest again after Unplug (or with
// Options.Unplugged). It waits, up to ctx, for QEMU to acknowledge the
// previous disconnect, so that the guest sees two distinct devices.
func (c *Conn) Plug(ctx context.Context) error {
	c.mu.Lock()
	c.want = true
	ack := c.ackPending
	c.mu.Unlock()
	if ack != nil {
		select {
		case <-ack:
		case <-ctx.Done():
			return fmt.Errorf("usbredir: plug: waiting for device_disconnect_ack: %w", ctx.Err())
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.helloDone || c.plugged || !c.want || c.runCtx == nil || c.runCtx.Err() != nil {
		return nil // Run plugs it after the hello; or someone unplugged it meanwhile
	}
	return c.plugLocked()
}

// plugLocked sends interface_info, ep_info and device_connect; c.mu is held.
func (c *Conn) plugLocked() error {
	d := c.dev.Descriptors()
	if err := d.Validate(); err != nil {
		return err
	}
	c.desc = d
	c.gen++
	c.genCtx, c.genCancel = context.WithCancel(c.runCtx)
	c.config = 0
	c.halted = map[uint8]bool{}
	c.pending = map[uint64]*request{}
	c.queues = map[uint8]*queue{}
	c.interrupts = map[uint8]context.CancelFunc{}

	ii := make([]byte, 4+4*32)
	binary.LittleEndian.PutUint32(ii, uint32(len(d.Interfaces)))
	for i, intf := range d.Interfaces {
		ii[4+i], ii[4+32+i], ii[4+64+i], ii[4+96+i] = uint8(i), intf.Class, intf.SubClass, intf.Protocol
	}
	var types, interval, iface [32]uint8
	var mps [32]uint16
	for i := range types {
		types[i] = 255 // usb_redir_type_invalid
	}
	types[0], types[16], mps[0], mps[16] = uint8(Control), uint8(Control), 64, 64
	for i, intf := range d.Interfaces {
		for _, e := range intf.Endpoints {
			x := epIndex(e.Address)
			types[x], interval[x], iface[x], mps[x] = uint8(e.Type), e.Interval, uint8(i), e.MaxPacketSize
		}
	}
	ei := append(append(types[:], interval[:]...), iface[:]...)
	if c.n.has(capEPInfoMaxPacketSize) {
		for _, m := range mps {
			ei = binary.LittleEndian.AppendUint16(ei, m)
		}
	}
	dc := []byte{uint8(d.Speed), d.Class, d.SubClass, d.Protocol}
	dc = binary.LittleEndian.AppendUint16(dc, d.VendorID)
	dc = binary.LittleEndian.AppendUint16(dc, d.ProductID)
	if c.n.has(capConnectDeviceVersion) {
		dc = binary.LittleEndian.AppendUint16(dc, d.Version)
	}
	for _, m := range []struct {
		typ uint32
		hdr []byte
	}{{typeInterfaceInfo, ii}, {typeEPInfo, ei}, {typeDeviceConnect, dc}} {
		if err := c.sendLocked(m.typ, 0, m.hdr, nil); err != nil {
			return err
		}
	}
	c.plugged = true
	c.stats.Connects++
	c.logf("usbredir: plugged in %04x:%04x %q %q serial %q", d.VendorID, d.ProductID, d.Manufacturer, d.Product, d.SerialNumber)
	return nil
}

// unplugLocked sends device_disconnect; c.mu is held.
func (c *Conn) unplugLocked() {
	if !c.plugged {
		return
	}
	c.stopDevice()
	c.plugged = false
	c.stats.Disconnects++
	if c.n.has(capDeviceDisconnectAck) {
		c.ackPending = make(chan struct{})
	}
	if err := c.sendLocked(typeDeviceDisconnect, 0, nil, nil); err != nil {
		c.fail(err)
	}
	c.logf("usbredir: unplugged")
}

// stopDevice abandons the transfers of the current plug generation; c.mu
// is held.
func (c *Conn) stopDevice() {
	if c.genCancel != nil {
		c.genCancel()
	}
	c.gen++ // drop late replies
	for _, q := range c.queues {
		q.reqs = nil
	}
	clear(c.pending)
	clear(c.interrupts)
}

// fail ends Run with err; c.mu is held.
func (c *Conn) fail(err error) {
	if c.failed == nil {
		c.failed = err
	}
	if c.runCancel != nil {
		c.runCancel()
	}
}

// sendLocked writes one packet; the caller holds c.mu (or runs before
// any other goroutine). Lock order: c.mu, then c.wmu.
func (c *Conn) sendLocked(typ uint32, id uint64, hdr, data []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.write(c.n, typ, id, hdr, data)
}

// write writes one packet; c.wmu is held.
func (c *Conn) write(n negotiated, typ uint32, id uint64, hdr, data []byte) error {
	c.wbuf = appendPacket(c.wbuf[:0], n, typ, id, hdr, data)
	_, err := c.rw.Write(c.wbuf)
	if cap(c.wbuf) > 1<<20 {
		c.wbuf = nil // do not keep a large transfer's buffer
	}
	if err != nil {
		return fmt.Errorf("usbredir: writing %s (id %d): %w", typeName(typ), id, err)
	}
	return nil
}

// reply sends the answer to a packet of plug generation gen from a
// goroutine that does not hold c.mu; an answer for an older generation
// (the device was unplugged since) is dropped. c.mu is released before the
// bytes are written, so that a long write does not hold up the reader.
func (c *Conn) reply(gen int, typ uint32, id uint64, hdr, data []byte) {
	c.mu.Lock()
	if gen != c.gen || c.failed != nil {
		c.mu.Unlock()
		return
	}
	n := c.n
	c.wmu.Lock()
	c.mu.Unlock()
	err := c.write(n, typ, id, hdr, data)
	c.wmu.Unlock()
	if err != nil {
		c.mu.Lock()
		c.fail(err)
		c.mu.Unlock()
	}
}

func epIndex(ep uint8) int { return int(ep&0x80>>3 | ep&0x0f) }

// dispatch handles one packet from the guest in the reading goroutine.
func (c *Conn) dispatch(p packet) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.failed != nil {
		return c.failed
	}
	status := func(ok bool) uint8 {
		switch {
		case !c.plugged:
			return statusIOError
		case ok:
			return statusSuccess
		}
		return statusStall
	}
	send := func(typ uint32, hdr ...byte) error { return c.sendLocked(typ, p.id, hdr, nil) }
	switch p.typ {
	case typeReset:
		if c.plugged {
			c.stats.Resets++
			c.config = 0
			clear(c.halted)
			if r, ok := c.dev.(Resetter); ok {
				r.Reset()
			}
		}
	case typeSetConfiguration:
		cfg := p.hdr[0]
		st := status(cfg <= 1)
		if st == statusSuccess {
			c.setConfig(cfg)
		}
		return send(typeConfigurationStatus, st, c.config)
	case typeGetConfiguration:
		return send(typeConfigurationStatus, status(true), c.config)
	case typeSetAltSetting:
		intf, alt := p.hdr[0], p.hdr[1]
		ok := int(intf) < len(c.desc.Interfaces) && alt == 0
		if ok && c.plugged {
			c.clearInterfaceHalts(intf)
		}
		return send(typeAltSettingStatus, status(ok), intf, 0)
	case typeGetAltSetting:
		intf := p.hdr[0]
		return send(typeAltSettingStatus, status(int(intf) < len(c.desc.Interfaces)), intf, 0)
	case typeStartInterruptReceiving:
		ep := p.hdr[0]
		e, _, ok := c.desc.endpoint(ep)
		ok = ok && e.Type == Interrupt
		if ok && c.plugged {
			c.startInterrupts(e)
		}
		return send(typeInterruptReceivingStatus, status(ok), ep)
	case typeStopInterruptReceiving:
		ep := p.hdr[0]
		if stop := c.interrupts[ep]; stop != nil {
			stop()
			delete(c.interrupts, ep)
		}
		return send(typeInterruptReceivingStatus, status(true), ep)
	case typeStartISOStream, typeStopISOStream:
		return send(typeISOStreamStatus, status(false), p.hdr[0])
	case typeCancelDataPacket:
		if r := c.pending[p.id]; r != nil {
			r.cancelled = true
			r.cancel()
			c.stats.Cancelled++
		}
	case typeDeviceDisconnectAck:
		if c.ackPending == nil {
			return protoErr("device_disconnect_ack without a device_disconnect")
		}
		close(c.ackPending)
		c.ackPending = nil
	case typeControlPacket:
		return c.enqueue(0, p)
	case typeBulkPacket:
		ep, _ := p.bulk(c.n)
		if e, _, ok := c.desc.endpoint(ep); !ok || e.Type != Bulk {
			return c.sendLocked(typeBulkPacket, p.id, c.bulkHeader(ep, statusInval, 0), nil)
		}
		return c.enqueue(ep, p)
	case typeInterruptPacket:
		// No device of ours has an interrupt OUT endpoint.
		return send(typeInterruptPacket, p.hdr[0], statusInval, 0, 0)
	case typeISOPacket:
		// Answered by nothing: QEMU sends iso data without waiting.
	}
	return nil
}

// setConfig applies SET_CONFIGURATION; c.mu is held.
func (c *Conn) setConfig(cfg uint8) {
	c.config = cfg
	clear(c.halted)
	for ep, stop := range c.interrupts {
		stop()
		delete(c.interrupts, ep)
	}
}

// clearInterfaceHalts applies SET_INTERFACE, which resets the
// interface's endpoints; c.mu is held.
func (c *Conn) clearInterfaceHalts(intf uint8) {
	for _, e := range c.desc.Interfaces[intf].Endpoints {
		delete(c.halted, e.Address)
	}
}

// enqueue queues a control or bulk packet on its endpoint; c.mu is held.
func (c *Conn) enqueue(ep uint8, p packet) error {
	if !c.plugged {
		return c.sendLocked(p.typ, p.id, c.failedHeader(p, statusIOError), nil)
	}
	if old := c.pending[p.id]; old != nil {
		c.logf("usbredir: %s id %d reused while the first one is in progress", typeName(p.typ), p.id)
	}
	ctx, cancel := context.WithCancel(c.genCtx)
	r := &request{p: p, gen: c.gen, ctx: ctx, cancel: cancel}
	c.pending[p.id] = r
	q := c.queues[ep]
	if q == nil {
		q = &queue{}
		c.queues[ep] = q
	}
	q.reqs = append(q.reqs, r)
	if !q.running {
		q.running = true
		c.wg.Add(1)
		go c.drain(q)
	}
	return nil
}

// drain serves the requests of one endpoint in order.
func (c *Conn) drain(q *queue) {
	defer c.wg.Done()
	for {
		c.mu.Lock()
		if len(q.reqs) == 0 {
			q.running = false
			c.mu.Unlock()
			return
		}
		r := q.reqs[0]
		q.reqs = q.reqs[1:]
		c.mu.Unlock()
		c.serve(r)
	}
}

// serve answers one control or bulk request.
func (c *Conn) serve(r *request) {
	defer r.cancel()
	var hdr, data []byte
	switch r.p.typ {
	case typeControlPacket:
		hdr, data = c.control(r)
	case typeBulkPacket:
		hdr, data = c.bulk(r)
	}
	c.mu.Lock()
	if c.pending[r.p.id] == r {
		delete(c.pending, r.p.id) // before the reply: QEMU may reuse the id
	}
	if r.p.typ == typeControlPacket {
		c.stats.Control++
	} else {
		c.stats.Bulk++
	}
	c.mu.Unlock()
	c.reply(r.gen, r.p.typ, r.p.id, hdr, data)
}

// failedHeader returns the reply header of a control or bulk packet that
// failed with status before it reached the device.
func (c *Conn) failedHeader(p packet, status uint8) []byte {
	if p.typ == typeControlPacket {
		h := append([]byte{}, p.hdr...)
		h[3] = status
		binary.LittleEndian.PutUint16(h[8:], 0)
		return h
	}
	ep, _ := p.bulk(c.n)
	return c.bulkHeader(ep, status, 0)
}

func (c *Conn) bulkHeader(ep, status uint8, length int) []byte {
	h := []byte{ep, status}
	h = binary.LittleEndian.AppendUint16(h, uint16(length))
	h = binary.LittleEndian.AppendUint32(h, 0) // stream
	if c.n.has(cap32BitBulkLength) {
		h = binary.LittleEndian.AppendUint16(h, uint16(length>>16))
	}
	return h
}

// statusOf maps a Device error to a transfer status; an error wrapping
// ErrNoDevice unplugs the device.
func (c *Conn) statusOf(r *request, err error, what string) uint8 {
	switch {
	case err == nil:
		return statusSuccess
	case r != nil && r.ctx.Err() != nil:
		return statusCancelled
	case errors.Is(err, ErrStall):
		return statusStall
	case errors.Is(err, ErrNoDevice):
		c.logf("usbredir: %s: %v: unplugging", what, err)
		c.mu.Lock()
		c.unplugLocked()
		c.mu.Unlock()
		return statusIOError
	case errors.Is(err, context.Canceled):
		return statusCancelled
	case errors.Is(err, context.DeadlineExceeded):
		return statusTimeout
	}
	c.logf("usbredir: %s: %v", what, err)
	return statusIOError
}

// control answers a control packet.
func (c *Conn) control(r *request) (hdr, data []byte) {
	s := r.p.setup()
	hdr = append([]byte{}, r.p.hdr...)
	var err error
	if r.cancelled {
		err = context.Canceled
	} else if handled, d, serr := c.standard(s, r.p.data); handled {
		data, err = d, serr
	} else {
		data, err = c.dev.Control(r.ctx, s, r.p.data)
		if err != nil {
			err = fmt.Errorf("control request %v: %w", s, err)
		}
	}
	st := c.statusOf(r, err, "control")
	n := 0
	switch {
	case st != statusSuccess:
		data = nil
	case s.In():
		if len(data) > int(s.Length) {
			data = data[:s.Length]
		}
		n = len(data)
	default:
		n, data = len(r.p.data), nil
	}
	hdr[3] = st
	binary.LittleEndian.PutUint16(hdr[8:], uint16(n))
	return hdr, data
}

// Standard requests.
const (
	reqGetStatus        = 0
	reqClearFeature     = 1
	reqSetFeature       = 3
	reqSetAddress       = 5
	reqGetDescriptor    = 6
	reqGetConfiguration = 8
	reqSetConfiguration = 9
	reqGetInterface     = 10
	reqSetInterface     = 11

	featureEndpointHalt = 0
)

// standard answers the standard requests; handled is false for class and
// vendor requests.
func (c *Conn) standard(s Setup, out []byte) (handled bool, data []byte, err error) {
	if s.RequestType&0x60 != 0 {
		return false, nil, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	recipient := s.RequestType & 0x1f
	stall := fmt.Errorf("standard request %v: %w", s, ErrStall)
	switch {
	case s.Request == reqGetDescriptor && s.In() && recipient == 0:
		switch typ, i := s.Value>>8, uint8(s.Value); {
		case typ == dtDevice && i == 0:
			return true, c.desc.deviceDescriptor(), nil
		case typ == dtConfig && i == 0:
			return true, c.desc.configDescriptor(), nil
		case typ == dtString:
			if b, ok := c.desc.stringDescriptor(i); ok {
				return true, b, nil
			}
		case typ == dtDeviceQualifier && c.desc.Speed == SpeedHigh:
			return true, c.desc.qualifierDescriptor(), nil
		}
	case s.Request == reqGetStatus && s.In():
		switch recipient {
		case 0:
			var st uint8
			if c.desc.SelfPowered {
				st = 1
			}
			return true, []byte{st, 0}, nil
		case 1:
			if int(s.Index) < len(c.desc.Interfaces) {
				return true, []byte{0, 0}, nil
			}
		case 2:
			if ep, ok := c.knownEndpoint(s.Index); ok {
				var st uint8
				if c.halted[ep] {
					st = 1
				}
				return true, []byte{st, 0}, nil
			}
		}
	case (s.Request == reqClearFeature || s.Request == reqSetFeature) && !s.In():
		switch recipient {
		case 0: // DEVICE_REMOTE_WAKEUP, TEST_MODE: accepted, no effect
			return true, nil, nil
		case 2:
			if ep, ok := c.knownEndpoint(s.Index); ok && s.Value == featureEndpointHalt {
				if ep&0x0f != 0 {
					c.halted[ep] = s.Request == reqSetFeature
				}
				return true, nil, nil
			}
		}
	case s.Request == reqSetAddress && !s.In() && recipient == 0:
		return true, nil, nil // QEMU handles addresses; accept one anyway
	case s.Request == reqGetConfiguration && s.In() && recipient == 0:
		return true, []byte{c.config}, nil
	case s.Request == reqSetConfiguration && !s.In() && recipient == 0 && s.Value <= 1:
		c.setConfig(uint8(s.Value))
		return true, nil, nil
	case s.Request == reqGetInterface && s.In() && recipient == 1 && int(s.Index) < len(c.desc.Interfaces):
		return true, []byte{0}, nil
	case s.Request == reqSetInterface && !s.In() && recipient == 1 && int(s.Index) < len(c.desc.Interfaces) && s.Value == 0:
		c.clearInterfaceHalts(uint8(s.Index))
		return true, nil, nil
	}
	return true, nil, stall
}

// knownEndpoint returns the endpoint address in wIndex if the device has
// that endpoint (or it is endpoint 0); c.mu is held.
func (c *Conn) knownEndpoint(index uint16) (uint8, bool) {
	ep := uint8(index)
	if ep&0x7f == 0 {
		return ep, true
	}
	_, _, ok := c.desc.endpoint(ep)
	return ep, ok
}

// bulk answers a bulk packet.
func (c *Conn) bulk(r *request) (hdr, data []byte) {
	ep, length := r.p.bulk(c.n)
	c.mu.Lock()
	halted := c.halted[ep]
	c.mu.Unlock()
	var err error
	switch {
	case r.cancelled:
		err = context.Canceled
	case halted:
		err = fmt.Errorf("endpoint %#02x is halted: %w", ep, ErrStall)
	case ep&0x80 != 0:
		data, err = c.dev.BulkIn(r.ctx, ep, length)
		if err != nil {
			err = fmt.Errorf("bulk IN of %d bytes from endpoint %#02x: %w", length, ep, err)
		}
	default:
		err = c.dev.BulkOut(r.ctx, ep, r.p.data)
		if err != nil {
			err = fmt.Errorf("bulk OUT of %d bytes to endpoint %#02x: %w", length, ep, err)
		}
	}
	st := c.statusOf(r, err, "bulk")
	if st == statusStall {
		c.mu.Lock()
		c.halted[ep] = true
		c.mu.Unlock()
	}
	n := 0
	switch {
	case ep&0x80 != 0:
		if len(data) > length {
			c.logf("usbredir: bulk IN from endpoint %#02x: device sent %d bytes for a %d-byte transfer", ep, len(data), length)
			data, st = data[:length], statusBabble
		}
		if st != statusSuccess && st != statusBabble {
			data = nil
		}
		n = len(data)
	case st == statusSuccess:
		n = length
	}
	return c.bulkHeader(ep, st, n), data
}

// startInterrupts starts polling an interrupt IN endpoint; c.mu is held.
func (c *Conn) startInterrupts(e Endpoint) {
	if c.interrupts[e.Address] != nil {
		return
	}
	ctx, cancel := context.WithCancel(c.genCtx)
	c.interrupts[e.Address] = cancel
	c.wg.Add(1)
	go c.receiveInterrupts(ctx, c.gen, e)
}

// receiveInterrupts forwards the device's interrupt transfers until ctx is
// done, cut into packets of the endpoint's wMaxPacketSize and ended by a
// short or zero-length packet, as QEMU reassembles them.
func (c *Conn) receiveInterrupts(ctx context.Context, gen int, e Endpoint) {
	defer c.wg.Done()
	mps := int(e.MaxPacketSize)
	for {
		data, err := c.dev.InterruptIn(ctx, e.Address)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			st := c.statusOf(nil, fmt.Errorf("interrupt IN from endpoint %#02x: %w", e.Address, err), "interrupt")
			if errors.Is(err, ErrNoDevice) {
				return
			}
			c.reply(gen, typeInterruptPacket, c.nextIntID(), []byte{e.Address, st, 0, 0}, nil)
			select { // a device that keeps failing must not spin
			case <-ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		for off := 0; ; off += mps {
			chunk := data[off:min(off+mps, len(data))]
			h := []byte{e.Address, statusSuccess}
			h = binary.LittleEndian.AppendUint16(h, uint16(len(chunk)))
			c.reply(gen, typeInterruptPacket, c.nextIntID(), h, chunk)
			if len(chunk) < mps {
				break
			}
		}
		c.mu.Lock()
		c.stats.Interrupts++
		c.mu.Unlock()
	}
}

func (c *Conn) nextIntID() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.intID++
	return c.intID
}
