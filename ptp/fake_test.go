package ptp

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
)

// fakeDevice is a Transport that behaves like a PTP camera on a USB bus:
// it parses command and data containers from the bulk OUT stream, answers
// with data and response containers cut into packets of mps bytes on the
// bulk IN endpoint, and NAKs (blocks until ctx is done) when it has
// nothing to send. Its quirks are switched on by the fields below.
type fakeDevice struct {
	mps int

	// Quirks of the bulk IN stream.
	noZLP         bool // a data container ending on a packet boundary is not followed by a ZLP: the response is glued on
	packed        bool // the response shares the last data packet (bytes glued, not just packets)
	zlpBefore     bool // a stray ZLP precedes every data and response container
	splitHeader   bool // the data container's header comes in a packet of its own
	unknownLength bool // data containers carry length 0xFFFFFFFF
	staleResponse bool // an old response (TID-1) precedes every response
	lend          bool // open it as a BufferedReceiver (lendingDevice)
	lender        *lendingDevice

	// Behaviour.
	busy           map[OpCode]int // answer DeviceBusy this many times first
	openUntilReset ResponseCode   // answer OpenSession with this code until a Reset
	silent         map[OpCode]bool
	dataOutOps     map[OpCode]bool
	status         []ResponseCode // Status answers, in order, then OK
	gone           bool

	mu         sync.Mutex
	objects    map[uint32][]byte
	props      map[PropCode][]byte
	info       []byte
	sessionID  uint32
	wantTID    uint32
	out        []byte     // OUT bytes of the container being received
	cmd        *Container // command waiting for its data phase
	needZLP    bool       // the data phase ended on a packet boundary: a ZLP must follow
	in         [][]byte   // queued IN packets; an empty one is a ZLP
	events     chan []byte
	resets     int
	cancels    int
	zlpsIn     int
	ops        []OpCode
	tids       []uint32
	violations []string
}

func newFakeDevice(mps int) *fakeDevice {
	return &fakeDevice{
		mps:        mps,
		busy:       map[OpCode]int{},
		silent:     map[OpCode]bool{},
		dataOutOps: map[OpCode]bool{OpSetDevicePropValue: true, OpSendObject: true, OpSendObjectInfo: true},
		objects:    map[uint32][]byte{},
		props:      map[PropCode][]byte{},
		events:     make(chan []byte, 16),
		sessionID:  0,
	}
}

func (f *fakeDevice) violate(format string, args ...any) {
	f.violations = append(f.violations, fmt.Sprintf(format, args...))
}

func (f *fakeDevice) Send(ctx context.Context, p []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.gone {
		return fmt.Errorf("usb: %w", ErrNoDevice)
	}
	if len(p) == 0 {
		if !f.needZLP {
			f.violate("unexpected zero-length packet")
			return nil
		}
		f.needZLP = false
		f.zlpsIn++
		f.runData()
		return nil
	}
	if f.needZLP {
		f.violate("data container ended on a packet boundary without a ZLP")
		f.needZLP = false
	}
	if len(p)%f.mps != 0 && len(f.out)+len(p) < f.containerLen(append(f.out, p...)) {
		f.violate("short packet (%d bytes) inside a container", len(p))
	}
	f.out = append(f.out, p...)
	n := f.containerLen(f.out)
	if len(f.out) < n {
		return nil
	}
	if len(f.out) > n {
		f.violate("%d bytes after a container", len(f.out)-n)
	}
	c, _, err := ParseContainer(f.out[:n])
	f.out = nil
	if err != nil {
		f.violate("bad container from host: %v", err)
		return nil
	}
	switch c.Type {
	case ContainerCommand:
		if f.cmd != nil {
			f.violate("command while waiting for data")
		}
		if f.dataOutOps[OpCode(c.Code)] {
			f.cmd = &c
			return nil
		}
		f.run(c, nil)
	case ContainerData:
		if f.cmd == nil || c.TransactionID != f.cmd.TransactionID || c.Code != f.cmd.Code {
			f.violate("unexpected data container %+v", c)
			return nil
		}
		f.cmd.Data = c.Data
		if n%f.mps == 0 {
			f.needZLP = true // the device waits for the end of the transfer
			return nil
		}
		f.runData()
	default:
		f.violate("%v container from host", c.Type)
	}
	return nil
}

// containerLen returns the length of the container starting b, or a large
// number while its header is incomplete.
func (f *fakeDevice) containerLen(b []byte) int {
	if len(b) < HeaderSize {
		return 1 << 30
	}
	return int(binary.LittleEndian.Uint32(b))
}

func (f *fakeDevice) runData() {
	c := *f.cmd
	f.cmd = nil
	f.run(c, c.Data)
}

// run answers one operation.
func (f *fakeDevice) run(c Container, dataOut []byte) {
	op := OpCode(c.Code)
	f.ops = append(f.ops, op)
	f.tids = append(f.tids, c.TransactionID)
	if op != OpOpenSession && op != OpGetDeviceInfo && f.sessionID != 0 {
		if c.TransactionID != f.wantTID {
			f.violate("%v: transaction %d, want %d", op, c.TransactionID, f.wantTID)
		}
		f.wantTID = c.TransactionID + 1
	}
	if f.silent[op] {
		return
	}
	if f.busy[op] > 0 {
		f.busy[op]--
		f.respond(c, RespDeviceBusy)
		return
	}
	p := func(i int) uint32 {
		if i < len(c.Params) {
			return c.Params[i]
		}
		return 0
	}
	switch op {
	case OpGetDeviceInfo:
		f.data(c, f.info)
	case OpOpenSession:
		switch {
		case f.openUntilReset != 0:
			f.respond(c, f.openUntilReset, f.sessionID)
		case p(0) == 0:
			f.respond(c, RespInvalidParameter)
		case f.sessionID != 0:
			f.respond(c, RespSessionAlreadyOpen, f.sessionID)
		default:
			f.sessionID = p(0)
			f.wantTID = 1
			f.respond(c, RespOK)
		}
	case OpCloseSession:
		f.sessionID = 0
		f.respond(c, RespOK)
	case OpGetObject, OpGetObjectInfo:
		obj, ok := f.objects[p(0)]
		if !ok {
			f.respond(c, RespInvalidObjectHandle)
			return
		}
		if op == OpGetObjectInfo {
			oi := ObjectInfo{StorageID: 0x00010001, Format: FormatEXIFJPEG, CompressedSize: uint32(len(obj)),
				Filename: fmt.Sprintf("IMG_%04d.JPG", p(0))}
			b, _ := oi.MarshalBinary()
			f.data(c, b)
			return
		}
		f.data(c, obj)
	case OpGetDevicePropValue:
		v, ok := f.props[PropCode(p(0))]
		if !ok {
			f.respond(c, RespDevicePropNotSupported)
			return
		}
		f.data(c, v)
	case OpSetDevicePropValue:
		f.props[PropCode(p(0))] = dataOut
		f.respond(c, RespOK)
	case OpSendObject:
		f.objects[0xFFFF0001] = dataOut
		f.respond(c, RespOK)
	default:
		f.respond(c, RespOperationNotSupported)
	}
}

// packets cuts b into packets of mps bytes; a ZLP follows if b ends on a
// packet boundary and zlp is set.
func (f *fakeDevice) packets(b []byte, zlp bool) [][]byte {
	var ps [][]byte
	for len(b) > 0 {
		k := min(len(b), f.mps)
		ps = append(ps, b[:k:k])
		b = b[k:]
	}
	if zlp && (len(ps) == 0 || len(ps[len(ps)-1]) == f.mps) {
		ps = append(ps, []byte{})
	}
	return ps
}

func (f *fakeDevice) responseBytes(c Container, code ResponseCode, params ...uint32) []byte {
	var b []byte
	if f.staleResponse && c.TransactionID > 1 {
		old := Container{Type: ContainerResponse, Code: uint16(RespOK), TransactionID: c.TransactionID - 1}
		b, _ = old.AppendBinary(b)
	}
	r := Container{Type: ContainerResponse, Code: uint16(code), TransactionID: c.TransactionID, Params: params}
	b, _ = r.AppendBinary(b)
	return b
}

func (f *fakeDevice) respond(c Container, code ResponseCode, params ...uint32) {
	if f.zlpBefore {
		f.in = append(f.in, []byte{})
	}
	f.in = append(f.in, f.packets(f.responseBytes(c, code, params...), false)...)
}

// data sends payload in a data phase, then an OK response.
func (f *fakeDevice) data(c Container, payload []byte) {
	n := uint32(HeaderSize + len(payload))
	if f.unknownLength {
		n = UnknownLength
	}
	b := appendHeader(nil, n, ContainerData, c.Code, c.TransactionID)
	if f.zlpBefore {
		f.in = append(f.in, []byte{})
	}
	// Without a length the host needs the ZLP to find the end.
	zlp := !f.noZLP || f.unknownLength
	if f.packed && !f.unknownLength {
		b = append(b, payload...)
		b = append(b, f.responseBytes(c, RespOK)...)
		f.in = append(f.in, f.packets(b, true)...)
		return
	}
	if f.splitHeader {
		f.in = append(f.in, b)
		f.in = append(f.in, f.packets(payload, zlp && len(payload) > 0)...)
	} else {
		f.in = append(f.in, f.packets(append(b, payload...), zlp)...)
	}
	f.respond(c, RespOK)
}

func (f *fakeDevice) Receive(ctx context.Context, p []byte) (int, error) {
	f.mu.Lock()
	if f.gone {
		f.mu.Unlock()
		return 0, fmt.Errorf("usb: %w", ErrNoDevice)
	}
	n := 0
	for len(f.in) > 0 {
		pk := f.in[0]
		if len(pk) > len(p)-n {
			f.mu.Unlock()
			return n, errors.New("usb: overflow")
		}
		f.in = f.in[1:]
		n += copy(p[n:], pk)
		if len(pk) < f.mps || n == len(p) {
			f.mu.Unlock()
			return n, nil
		}
	}
	f.mu.Unlock()
	// Nothing (more) to send: the device NAKs until the host gives up.
	<-ctx.Done()
	return n, ctx.Err()
}

func (f *fakeDevice) Interrupt(ctx context.Context, p []byte) (int, error) {
	select {
	case b := <-f.events:
		return copy(p, b), nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

func (f *fakeDevice) MaxPacketSize() int { return f.mps }

func (f *fakeDevice) Cancel(ctx context.Context, tid uint32) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cancels++
	f.in, f.out, f.cmd, f.needZLP = nil, nil, nil, false
	return nil
}

func (f *fakeDevice) Reset(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.resets++
	f.in, f.out, f.cmd, f.needZLP = nil, nil, nil, false
	f.sessionID = 0
	f.openUntilReset = 0
	return nil
}

func (f *fakeDevice) Status(ctx context.Context) (ResponseCode, []uint32, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.status) > 0 {
		c := f.status[0]
		f.status = f.status[1:]
		return c, nil, nil
	}
	return RespOK, nil, nil
}

func (f *fakeDevice) Close() error { return nil }

// lendingDevice is a fakeDevice that lends its receive buffer, as the
// libusb transport does, and poisons it whenever a loan ends, so that a
// Conn that goes on reading a buffer it gave back reads garbage.
type lendingDevice struct {
	*fakeDevice
	buf      []byte
	lends    int
	releases int
}

var _ BufferedReceiver = (*lendingDevice)(nil)

func poison(b []byte) {
	for i := range b {
		b[i] = 0xEE
	}
}

func (l *lendingDevice) ReceiveBuffered(ctx context.Context, size int) ([]byte, error) {
	poison(l.buf)
	if len(l.buf) != size {
		l.buf = make([]byte, size)
	}
	l.lends++
	n, err := l.Receive(ctx, l.buf)
	return l.buf[:n], err
}

func (l *lendingDevice) ReleaseBuffer() {
	poison(l.buf)
	l.buf = nil
	l.releases++
}
