package usb

import (
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/google/gousb"

	"github.com/lapsebox/lapsebox/ptp"
)

// fakeBus is a USB bus of fake cameras.
type fakeBus struct {
	mu   sync.Mutex
	devs []*fakeCamera
	next int // next address
}

func (b *fakeBus) plug(c *fakeCamera) *fakeCamera {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.next++
	c.dd.Address = b.next
	b.devs = append(b.devs, c)
	return c
}

func (b *fakeBus) open(accept func(*gousb.DeviceDesc) bool) ([]device, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []device
	for _, c := range b.devs {
		if c.isGone() || !accept(c.dd) {
			continue
		}
		c.mu.Lock()
		c.opened++
		c.mu.Unlock()
		out = append(out, c)
	}
	return out, nil
}

func (b *fakeBus) close() error { return nil }

// fakeCamera behaves like a PTP camera on USB (high speed, 512-byte
// packets), down to libusb's errors: a gone device fails every call with
// ErrorNoDevice and transfers in flight with TransferNoDevice; reads with
// nothing pending wait (NAK) until their context is done; a halted
// endpoint stalls until CLEAR_FEATURE.
type fakeCamera struct {
	dd                *gousb.DeviceDesc
	usbSerial         string
	ptpSerial         string
	objectSize        int
	statusUnsupported bool // answer Get Device Status with no data, like QEMU
	resetRenumbers    bool // a port reset makes it a new device (libusb: not found)
	// claimAfterReset, if set, is how claiming the interface fails after
	// a port reset: the camera answers the reset but not what follows.
	claimAfterReset error

	mu       sync.Mutex
	wake     chan struct{} // closed and replaced when something changes
	log      []string
	pending  [][]byte // IN transfers queued, one container each
	events   [][]byte
	gone     bool
	claimed  bool
	halted   map[uint8]bool
	opened   int
	closed   int
	unplugAt int // unplug once this many IN bytes were sent (0: never)
	sent     int
}

func newFakeCamera(usbSerial, ptpSerial string) *fakeCamera {
	return &fakeCamera{
		dd:        stillImageDesc(),
		usbSerial: usbSerial, ptpSerial: ptpSerial,
		objectSize: 100_000,
		wake:       make(chan struct{}),
		halted:     map[uint8]bool{},
	}
}

// stillImageDesc describes a camera with a vendor interface first and the
// Still Image interface second, endpoints in an arbitrary order.
func stillImageDesc() *gousb.DeviceDesc {
	ep := func(addr gousb.EndpointAddress, dir gousb.EndpointDirection, tt gousb.TransferType, mps int) gousb.EndpointDesc {
		return gousb.EndpointDesc{Address: addr, Number: int(addr & 0x0f), Direction: dir, TransferType: tt, MaxPacketSize: mps}
	}
	return &gousb.DeviceDesc{
		Bus: 1, Vendor: 0x04a9, Product: 0x3218, Speed: gousb.SpeedHigh, Path: []int{2},
		Configs: map[int]gousb.ConfigDesc{1: {Number: 1, Interfaces: []gousb.InterfaceDesc{
			{Number: 0, AltSettings: []gousb.InterfaceSetting{{Number: 0, Class: gousb.ClassVendorSpec,
				Endpoints: map[gousb.EndpointAddress]gousb.EndpointDesc{0x84: ep(0x84, gousb.EndpointDirectionIn, gousb.TransferTypeBulk, 512)}}}},
			{Number: 1, AltSettings: []gousb.InterfaceSetting{{Number: 1, Class: gousb.ClassImage, SubClass: 1, Protocol: 1,
				Endpoints: map[gousb.EndpointAddress]gousb.EndpointDesc{
					0x83: ep(0x83, gousb.EndpointDirectionIn, gousb.TransferTypeInterrupt, 64),
					0x02: ep(0x02, gousb.EndpointDirectionOut, gousb.TransferTypeBulk, 512),
					0x81: ep(0x81, gousb.EndpointDirectionIn, gousb.TransferTypeBulk, 512),
				}}}},
		}}},
	}
}

func (c *fakeCamera) record(format string, args ...any) {
	c.log = append(c.log, fmt.Sprintf(format, args...))
}

// changed wakes waiting transfers; c.mu is held.
func (c *fakeCamera) changed() {
	close(c.wake)
	c.wake = make(chan struct{})
}

func (c *fakeCamera) unplug() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gone = true
	c.changed()
}

func (c *fakeCamera) isGone() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gone
}

func (c *fakeCamera) calls() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Join(c.log, ", ")
}

func (c *fakeCamera) desc() *gousb.DeviceDesc { return c.dd }

func (c *fakeCamera) strings() (string, string, string) {
	return "Canon Inc.", "Canon Digital Camera", c.usbSerial
}

func (c *fakeCamera) setControlTimeout(time.Duration) {}

func (c *fakeCamera) control(rType, req uint8, val, idx uint16, data []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gone {
		return 0, gousb.ErrorNoDevice
	}
	switch {
	case rType == classOut && req == reqCancel:
		c.record("cancel % x", data)
		c.pending = nil
		return len(data), nil
	case rType == classOut && req == reqDeviceReset:
		c.record("device reset")
		c.pending = nil
		return 0, nil
	case rType == classIn && req == reqDeviceStatus:
		c.record("device status")
		if c.statusUnsupported {
			return 0, nil
		}
		return copy(data, []byte{4, 0, 0x01, 0x20}), nil
	case rType == endpointIn && req == reqGetStatus:
		st := byte(0)
		if c.halted[uint8(idx)] {
			st = 1
		}
		return copy(data, []byte{st, 0}), nil
	case rType == endpointOut && req == reqClearFeature && val == featureHalt:
		c.record("clear halt %#02x", idx)
		delete(c.halted, uint8(idx))
		c.changed()
		return 0, nil
	}
	return 0, gousb.ErrorPipe
}

func (c *fakeCamera) claim(si stillImage) (endpoints, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gone {
		return endpoints{}, gousb.ErrorNoDevice
	}
	if c.claimed {
		return endpoints{}, gousb.ErrorBusy
	}
	if c.claimAfterReset != nil && len(c.log) > 0 && c.log[len(c.log)-1] == "port reset" {
		return endpoints{}, c.claimAfterReset
	}
	c.claimed = true
	c.record("claim %d.%d.%d", si.config, si.number, si.alternate)
	return endpoints{in: fakeEP{c, 0x81}, out: fakeEP{c, 0x02}, intr: fakeEP{c, 0x83}}, nil
}

func (c *fakeCamera) release() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.claimed {
		c.record("release interface")
		c.record("release config")
	}
	c.claimed = false
	return nil
}

func (c *fakeCamera) reset() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.claimed {
		return fmt.Errorf("can't reset device while it has an active configuration")
	}
	if c.gone {
		return gousb.ErrorNoDevice
	}
	c.record("port reset")
	c.pending = nil
	if c.resetRenumbers {
		return gousb.ErrorNotFound
	}
	return nil
}

func (c *fakeCamera) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.record("close device")
	c.closed++
	return nil
}

// fakeEP is one endpoint of a fakeCamera.
type fakeEP struct {
	c    *fakeCamera
	addr uint8
}

func (e fakeEP) transfer(ctx context.Context, p []byte) (int, error) {
	c := e.c
	for {
		c.mu.Lock()
		wake := c.wake
		switch {
		case c.gone:
			c.mu.Unlock()
			return 0, gousb.TransferNoDevice
		case c.halted[e.addr]:
			c.mu.Unlock()
			return 0, gousb.TransferStall
		case e.addr == 0x02:
			err := c.command(p)
			c.mu.Unlock()
			return len(p), err
		case e.addr == 0x81 && len(c.pending) > 0:
			n := copy(p, c.pending[0])
			if c.unplugAt > 0 && c.sent+n >= c.unplugAt {
				n = c.unplugAt - c.sent
				c.gone = true
				c.changed()
			}
			c.sent += n
			c.pending[0] = c.pending[0][n:]
			if len(c.pending[0]) == 0 {
				c.pending = c.pending[1:]
			}
			c.mu.Unlock()
			if n < len(p) && c.isGone() {
				return n, gousb.TransferNoDevice
			}
			return n, nil
		case e.addr == 0x83 && len(c.events) > 0:
			n := copy(p, c.events[0])
			c.events = c.events[1:]
			c.mu.Unlock()
			return n, nil
		}
		c.mu.Unlock()
		select {
		case <-ctx.Done():
			return 0, gousb.TransferCancelled // what gousb returns
		case <-wake:
		}
	}
}

// command answers one command container; c.mu is held.
func (c *fakeCamera) command(p []byte) error {
	if len(p) == 0 {
		return nil // a zero-length packet
	}
	ct, _, err := ptp.ParseContainer(p)
	if err != nil || ct.Type != ptp.ContainerCommand {
		return nil // data phase of an OUT operation: ignored
	}
	c.record("%v", ptp.OpCode(ct.Code))
	queue := func(t ptp.ContainerType, code uint16, data []byte) {
		b, _ := (&ptp.Container{Type: t, Code: code, TransactionID: ct.TransactionID, Data: data}).MarshalBinary()
		c.pending = append(c.pending, b)
	}
	switch ptp.OpCode(ct.Code) {
	case ptp.OpGetDeviceInfo:
		di := &ptp.DeviceInfo{StandardVersion: 100, Manufacturer: "Canon Inc.", Model: "Canon EOS 600D", SerialNumber: c.ptpSerial,
			OperationsSupported: []ptp.OpCode{ptp.OpGetDeviceInfo, ptp.OpOpenSession, ptp.OpGetObject}}
		b, _ := di.MarshalBinary()
		queue(ptp.ContainerData, ct.Code, b)
		queue(ptp.ContainerResponse, uint16(ptp.RespOK), nil)
	case ptp.OpOpenSession, ptp.OpCloseSession:
		queue(ptp.ContainerResponse, uint16(ptp.RespOK), nil)
	case ptp.OpGetObject:
		queue(ptp.ContainerData, ct.Code, pattern(c.objectSize))
		queue(ptp.ContainerResponse, uint16(ptp.RespOK), nil)
	default:
		queue(ptp.ContainerResponse, uint16(ptp.RespOperationNotSupported), nil)
	}
	c.changed()
	return nil
}

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>9)
	}
	return b
}

func event(code ptp.EventCode, params ...uint32) []byte {
	b := binary.LittleEndian.AppendUint32(nil, uint32(12+4*len(params)))
	b = binary.LittleEndian.AppendUint16(b, uint16(ptp.ContainerEvent))
	b = binary.LittleEndian.AppendUint16(b, uint16(code))
	b = binary.LittleEndian.AppendUint32(b, 0)
	for _, p := range params {
		b = binary.LittleEndian.AppendUint32(b, p)
	}
	return b
}
