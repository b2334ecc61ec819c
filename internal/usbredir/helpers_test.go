package usbredir

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// QEMU's capabilities (hw/usb/redirect.c): connect_device_version, filter,
// ep_info_max_packet_size, 64bits_ids, 32bits_bulk_length, bulk_receiving.
const qemuCaps = 1<<capConnectDeviceVersion | 1<<capFilter | 1<<capEPInfoMaxPacketSize |
	1<<cap64BitIDs | 1<<cap32BitBulkLength | 1<<capBulkReceiving

// fakeDevice is a Device whose transfers tests feed and watch.
type fakeDevice struct {
	desc Descriptors

	mu      sync.Mutex
	outs    [][]byte // bulk OUT transfers, in order
	ctrl    []Setup  // class requests
	resets  int
	outErr  error         // returned by the next BulkOut
	in      chan []byte   // bulk IN transfers
	inErr   chan error    // alternatively, errors for BulkIn
	events  chan []byte   // interrupt transfers
	started chan struct{} // a BulkIn started waiting
}

func newFakeDevice() *fakeDevice {
	return &fakeDevice{
		desc: Descriptors{
			Speed: SpeedHigh, VendorID: 0x04a9, ProductID: 0x3218, Version: 0x0100,
			Manufacturer: "Canon Inc.", Product: "Canon Digital Camera", SerialNumber: "0123abcd",
			MaxPowerMA: 100,
			Interfaces: []Interface{{
				Class: 6, SubClass: 1, Protocol: 1, Name: "PTP",
				Endpoints: []Endpoint{
					{Address: 0x81, Type: Bulk, MaxPacketSize: 512},
					{Address: 0x02, Type: Bulk, MaxPacketSize: 512},
					{Address: 0x83, Type: Interrupt, MaxPacketSize: 64, Interval: 7},
				},
			}},
		},
		in:      make(chan []byte, 16),
		inErr:   make(chan error, 1),
		events:  make(chan []byte, 16),
		started: make(chan struct{}, 16),
	}
}

func (d *fakeDevice) Descriptors() Descriptors { return d.desc }

func (d *fakeDevice) Control(ctx context.Context, s Setup, data []byte) ([]byte, error) {
	d.mu.Lock()
	d.ctrl = append(d.ctrl, s)
	d.mu.Unlock()
	switch {
	case s.RequestType == 0xa1 && s.Request == 0x67:
		return []byte{4, 0, 0x01, 0x20}, nil
	case s.RequestType == 0x21 && s.Request == 0x64 && len(data) == 6:
		return nil, nil
	}
	return nil, fmt.Errorf("fake: %v: %w", s, ErrStall)
}

func (d *fakeDevice) BulkOut(ctx context.Context, ep uint8, data []byte) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.outErr; err != nil {
		d.outErr = nil
		return err
	}
	d.outs = append(d.outs, append([]byte{}, data...))
	return nil
}

func (d *fakeDevice) BulkIn(ctx context.Context, ep uint8, max int) ([]byte, error) {
	d.started <- struct{}{}
	select {
	case b := <-d.in:
		return b, nil
	case err := <-d.inErr:
		return nil, err
	case <-ctx.Done():
		return nil, fmt.Errorf("fake: bulk IN: %w", ctx.Err())
	}
}

func (d *fakeDevice) InterruptIn(ctx context.Context, ep uint8) ([]byte, error) {
	select {
	case b := <-d.events:
		return b, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (d *fakeDevice) Reset() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.resets++
}

// guest is a scripted usb-guest: the test plays QEMU.
type guest struct {
	t    *testing.T
	conn net.Conn
	n    negotiated
	c    *Conn
	done chan error
}

// hostPacket is a packet from the usb-host as the guest decodes it.
type hostPacket struct {
	typ  uint32
	id   uint64
	hdr  []byte
	data []byte
}

// hostTypeHeaderLen is the type header length of packets from the host.
func (n negotiated) hostTypeHeaderLen(t uint32) int {
	switch t {
	case typeHello:
		return versionLen
	case typeDeviceConnect:
		if n.has(capConnectDeviceVersion) {
			return 10
		}
		return 8
	case typeDeviceDisconnect:
		return 0
	case typeInterfaceInfo:
		return 132
	case typeEPInfo:
		if n.has(capEPInfoMaxPacketSize) {
			return 160
		}
		return 96
	case typeConfigurationStatus, typeInterruptReceivingStatus, typeISOStreamStatus:
		return 2
	case typeAltSettingStatus:
		return 3
	case typeControlPacket:
		return 10
	case typeBulkPacket:
		if n.has(cap32BitBulkLength) {
			return 10
		}
		return 8
	case typeInterruptPacket:
		return 4
	}
	return -1
}

// startGuest runs a Conn serving dev and exchanges hellos with peer
// capabilities caps.
func startGuest(t *testing.T, dev Device, caps uint32, opts *Options) *guest {
	t.Helper()
	a, b := net.Pipe()
	if opts == nil {
		opts = &Options{}
	}
	opts.Logf = t.Logf
	g := &guest{t: t, conn: a, c: NewConn(b, dev, opts), done: make(chan error, 1)}
	go func() { g.done <- g.c.Run(context.Background()) }()
	t.Cleanup(func() {
		a.Close()
		select {
		case <-g.done:
		case <-time.After(5 * time.Second):
			t.Errorf("Run did not return after the guest closed the connection")
		}
	})
	// Hello: both sides send theirs at once; read in a goroutine, as
	// net.Pipe does not buffer.
	hello := make(chan hostPacket, 1)
	go func() { hello <- g.read() }()
	h := make([]byte, versionLen)
	copy(h, "qemu usb-redir guest test")
	g.send(typeHello, 0, h, binary.LittleEndian.AppendUint32(nil, caps))
	p := <-hello
	if p.typ != typeHello {
		t.Fatalf("first packet from the host is %s, want hello", typeName(p.typ))
	}
	if got := binary.LittleEndian.Uint32(p.data); got != ourCaps {
		t.Errorf("host capabilities %#x, want %#x", got, ourCaps)
	}
	g.n = negotiated(caps & ourCaps)
	return g
}

func (g *guest) send(typ uint32, id uint64, hdr, data []byte) {
	g.t.Helper()
	b := appendPacket(nil, g.n, typ, id, hdr, data)
	g.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := g.conn.Write(b); err != nil {
		g.t.Fatalf("guest: sending %s: %v", typeName(typ), err)
	}
}

// read reads one packet from the host (with a deadline).
func (g *guest) read() hostPacket {
	g.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	var head [16]byte
	hl := g.n.headerLen()
	if _, err := io.ReadFull(g.conn, head[:hl]); err != nil {
		g.t.Errorf("guest: reading a packet header: %v", err)
		return hostPacket{typ: 1 << 31}
	}
	p := hostPacket{typ: binary.LittleEndian.Uint32(head[:])}
	length := binary.LittleEndian.Uint32(head[4:])
	if hl == 16 {
		p.id = binary.LittleEndian.Uint64(head[8:])
	} else {
		p.id = uint64(binary.LittleEndian.Uint32(head[8:]))
	}
	thl := g.n.hostTypeHeaderLen(p.typ)
	if thl < 0 || length < uint32(thl) || length > 1<<28 {
		g.t.Errorf("guest: %s of length %d from the host", typeName(p.typ), length)
		return hostPacket{typ: 1 << 31}
	}
	buf := make([]byte, length)
	if _, err := io.ReadFull(g.conn, buf); err != nil {
		g.t.Errorf("guest: reading %s: %v", typeName(p.typ), err)
	}
	p.hdr, p.data = buf[:thl], buf[thl:]
	return p
}

// expect reads one packet and checks its type.
func (g *guest) expect(typ uint32) hostPacket {
	g.t.Helper()
	p := g.read()
	if p.typ != typ {
		g.t.Fatalf("host sent %s (id %d, header % x), want %s", typeName(p.typ), p.id, p.hdr, typeName(typ))
	}
	return p
}

// expectConnect reads interface_info, ep_info and device_connect.
func (g *guest) expectConnect() (ii, ei, dc hostPacket) {
	g.t.Helper()
	return g.expect(typeInterfaceInfo), g.expect(typeEPInfo), g.expect(typeDeviceConnect)
}

// control sends a control packet and returns the reply's status and data.
func (g *guest) control(id uint64, s Setup, data []byte) (uint8, []byte) {
	g.t.Helper()
	g.send(typeControlPacket, id, controlHeader(s), data)
	p := g.expect(typeControlPacket)
	if p.id != id {
		g.t.Fatalf("control reply id %d, want %d", p.id, id)
	}
	if got := binary.LittleEndian.Uint16(p.hdr[8:]); s.In() && int(got) != len(p.data) {
		g.t.Errorf("control reply length %d with %d bytes of data", got, len(p.data))
	}
	return p.hdr[3], p.data
}

func controlHeader(s Setup) []byte {
	h := []byte{s.RequestType & 0x80, s.Request, s.RequestType, 0}
	h = binary.LittleEndian.AppendUint16(h, s.Value)
	h = binary.LittleEndian.AppendUint16(h, s.Index)
	return binary.LittleEndian.AppendUint16(h, s.Length)
}

func (g *guest) bulkHeader(ep uint8, length int) []byte {
	h := []byte{ep, 0}
	h = binary.LittleEndian.AppendUint16(h, uint16(length))
	h = binary.LittleEndian.AppendUint32(h, 0)
	if g.n.has(cap32BitBulkLength) {
		h = binary.LittleEndian.AppendUint16(h, uint16(length>>16))
	}
	return h
}

// bulkReply checks a bulk reply and returns its status, length and data.
func (g *guest) bulkReply(p hostPacket, id uint64, ep uint8) (uint8, int, []byte) {
	g.t.Helper()
	if p.typ != typeBulkPacket || p.id != id || p.hdr[0] != ep {
		g.t.Fatalf("got %s id %d header % x, want bulk reply id %d on %#02x", typeName(p.typ), p.id, p.hdr, id, ep)
	}
	n := int(binary.LittleEndian.Uint16(p.hdr[2:]))
	if len(p.hdr) == 10 {
		n |= int(binary.LittleEndian.Uint16(p.hdr[8:])) << 16
	}
	return p.hdr[1], n, p.data
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func netPipe() (net.Conn, net.Conn) { return net.Pipe() }

// drain reads and discards what the host sends.
func drain(c net.Conn) { io.Copy(io.Discard, c) }
