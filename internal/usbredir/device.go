package usbredir

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf16"
)

// Device is a USB device with one configuration (value 1) whose interfaces
// have one alternate setting each. Serve answers the standard requests from
// its Descriptors and calls the other methods from several goroutines: one
// per endpoint with a transfer in progress, and one per interrupt IN
// endpoint that the guest polls. A method blocked on the device returns
// soon after its ctx is done (QEMU cancelled the transfer, or the device
// was unplugged), with an error wrapping ctx.Err().
//
// Errors: ErrStall stalls the transfer (a bulk endpoint stays halted until
// the host clears the halt); an error wrapping ErrNoDevice unplugs the
// device (Serve sends device_disconnect until Plug); a context error is
// reported as cancelled or timed out; anything else as an I/O error.
type Device interface {
	// Descriptors describes the device. It is read when the device is
	// plugged in and must not change while it is.
	Descriptors() Descriptors

	// Control answers a control request that Serve does not handle
	// itself: class and vendor requests, to the device, an interface or
	// an endpoint. For an IN request (setup.In()) it returns at most
	// setup.Length bytes; for an OUT request data holds the host's
	// setup.Length bytes and the returned bytes are ignored.
	Control(ctx context.Context, setup Setup, data []byte) ([]byte, error)

	// BulkOut takes the data of one bulk OUT transfer to endpoint ep, as
	// QEMU forwards it: one or more packets of the endpoint's
	// MaxPacketSize, the last one possibly short; empty for a zero-length
	// packet.
	BulkOut(ctx context.Context, ep uint8, data []byte) error

	// BulkIn returns the data of one bulk IN transfer from endpoint ep, at
	// most max bytes: it ends when max bytes are sent or with a short
	// packet (a length that is not a multiple of MaxPacketSize, or empty
	// for a zero-length packet). With nothing to send it waits (the device
	// NAKs) until it has or ctx is done.
	BulkIn(ctx context.Context, ep uint8, max int) ([]byte, error)

	// InterruptIn waits for the next transfer on interrupt IN endpoint ep
	// and returns it; Serve cuts it into packets of the endpoint's
	// MaxPacketSize.
	InterruptIn(ctx context.Context, ep uint8) ([]byte, error)
}

// Resetter is implemented by a Device that reacts to a USB port reset
// (the guest resets the port when it enumerates the device and when a
// driver asks for it).
type Resetter interface {
	Reset()
}

// Errors a Device returns, wrapped, to say how a transfer ended.
var (
	// ErrStall stalls the transfer.
	ErrStall = errors.New("usbredir: stall")
	// ErrNoDevice means the device is gone: Serve unplugs it.
	ErrNoDevice = errors.New("usbredir: no device")
)

// Setup is the setup packet of a control request.
type Setup struct {
	RequestType uint8 // bmRequestType: direction, type, recipient
	Request     uint8 // bRequest
	Value       uint16
	Index       uint16
	Length      uint16 // wLength
}

// In reports whether the request reads from the device.
func (s Setup) In() bool { return s.RequestType&0x80 != 0 }

// String formats the setup packet for errors and logs.
func (s Setup) String() string {
	return fmt.Sprintf("bmRequestType %#02x bRequest %#02x wValue %#04x wIndex %#04x wLength %d",
		s.RequestType, s.Request, s.Value, s.Index, s.Length)
}

// Speed is the speed a device runs at.
type Speed uint8

// Speeds, numbered as in the protocol.
const (
	SpeedLow   Speed = 0
	SpeedFull  Speed = 1
	SpeedHigh  Speed = 2
	SpeedSuper Speed = 3
)

// TransferType is an endpoint's type, numbered as in its descriptor.
type TransferType uint8

// Transfer types.
const (
	Control     TransferType = 0
	Isochronous TransferType = 1
	Bulk        TransferType = 2
	Interrupt   TransferType = 3
)

// Endpoint describes an endpoint other than endpoint 0.
type Endpoint struct {
	Address       uint8 // bEndpointAddress: number, 0x80 for IN
	Type          TransferType
	MaxPacketSize uint16
	Interval      uint8 // bInterval: an exponent at high speed
}

// Interface describes an interface; its number is its index in
// Descriptors.Interfaces, and it has one alternate setting (0).
type Interface struct {
	Class, SubClass, Protocol uint8
	Name                      string // iInterface; "" for none
	Endpoints                 []Endpoint
}

// Descriptors describe a device: the device descriptor's fields and its
// one configuration.
type Descriptors struct {
	Speed                     Speed
	Class, SubClass, Protocol uint8 // 0: given by each interface
	VendorID, ProductID       uint16
	Version                   uint16 // bcdDevice
	Manufacturer, Product     string // "" for none
	SerialNumber              string
	MaxPowerMA                int // bMaxPower, in mA
	SelfPowered               bool
	Interfaces                []Interface
}

// Validate reports what makes the descriptors unusable.
func (d *Descriptors) Validate() error {
	if d.Speed > SpeedHigh {
		return fmt.Errorf("usbredir: device %04x:%04x: speed %d not supported (low, full or high)", d.VendorID, d.ProductID, d.Speed)
	}
	if len(d.Interfaces) == 0 || len(d.Interfaces) > 32 {
		return fmt.Errorf("usbredir: device %04x:%04x: %d interfaces, want 1 to 32", d.VendorID, d.ProductID, len(d.Interfaces))
	}
	seen := map[uint8]bool{}
	for i, intf := range d.Interfaces {
		for _, e := range intf.Endpoints {
			if e.Address&0x0f == 0 || e.Address&0x70 != 0 {
				return fmt.Errorf("usbredir: interface %d: bad endpoint address %#02x", i, e.Address)
			}
			if seen[e.Address] {
				return fmt.Errorf("usbredir: interface %d: endpoint %#02x described twice", i, e.Address)
			}
			seen[e.Address] = true
			switch e.Type {
			case Bulk:
			case Interrupt:
				if e.Interval == 0 {
					return fmt.Errorf("usbredir: interface %d: interrupt endpoint %#02x with bInterval 0", i, e.Address)
				}
			default:
				return fmt.Errorf("usbredir: interface %d: endpoint %#02x of type %d not supported (bulk or interrupt)", i, e.Address, e.Type)
			}
			if e.MaxPacketSize == 0 || e.MaxPacketSize > 1024 {
				return fmt.Errorf("usbredir: interface %d: endpoint %#02x with wMaxPacketSize %d", i, e.Address, e.MaxPacketSize)
			}
		}
	}
	if d.MaxPowerMA < 0 || d.MaxPowerMA > 500 {
		return fmt.Errorf("usbredir: device %04x:%04x: bMaxPower of %d mA", d.VendorID, d.ProductID, d.MaxPowerMA)
	}
	return nil
}

// endpoint returns the endpoint with address ep and its interface.
func (d *Descriptors) endpoint(ep uint8) (Endpoint, int, bool) {
	for i, intf := range d.Interfaces {
		for _, e := range intf.Endpoints {
			if e.Address == ep {
				return e, i, true
			}
		}
	}
	return Endpoint{}, 0, false
}

// Descriptor types.
const (
	dtDevice          = 1
	dtConfig          = 2
	dtString          = 3
	dtInterface       = 4
	dtEndpoint        = 5
	dtDeviceQualifier = 6
)

// strings returns the string table: index 1 on; "" entries get index 0.
func (d *Descriptors) strings() (table []string, manufacturer, product, serial uint8, intf []uint8) {
	add := func(s string) uint8 {
		if s == "" {
			return 0
		}
		table = append(table, s)
		return uint8(len(table))
	}
	manufacturer, product, serial = add(d.Manufacturer), add(d.Product), add(d.SerialNumber)
	for _, i := range d.Interfaces {
		intf = append(intf, add(i.Name))
	}
	return table, manufacturer, product, serial, intf
}

func (d *Descriptors) bcdUSB() uint16 {
	if d.Speed == SpeedHigh {
		return 0x0200
	}
	return 0x0110
}

// deviceDescriptor returns the 18-byte device descriptor.
func (d *Descriptors) deviceDescriptor() []byte {
	_, m, p, s, _ := d.strings()
	b := []byte{18, dtDevice}
	b = binary.LittleEndian.AppendUint16(b, d.bcdUSB())
	b = append(b, d.Class, d.SubClass, d.Protocol, 64)
	b = binary.LittleEndian.AppendUint16(b, d.VendorID)
	b = binary.LittleEndian.AppendUint16(b, d.ProductID)
	b = binary.LittleEndian.AppendUint16(b, d.Version)
	return append(b, m, p, s, 1)
}

// qualifierDescriptor returns the 10-byte device qualifier descriptor of a
// high-speed device.
func (d *Descriptors) qualifierDescriptor() []byte {
	b := []byte{10, dtDeviceQualifier}
	b = binary.LittleEndian.AppendUint16(b, d.bcdUSB())
	return append(b, d.Class, d.SubClass, d.Protocol, 64, 1, 0)
}

// configDescriptor returns the configuration descriptor with its
// interface and endpoint descriptors.
func (d *Descriptors) configDescriptor() []byte {
	_, _, _, _, names := d.strings()
	attr := uint8(0x80)
	if d.SelfPowered {
		attr |= 0x40
	}
	b := []byte{9, dtConfig, 0, 0, uint8(len(d.Interfaces)), 1, 0, attr, uint8((d.MaxPowerMA + 1) / 2)}
	for i, intf := range d.Interfaces {
		b = append(b, 9, dtInterface, uint8(i), 0, uint8(len(intf.Endpoints)), intf.Class, intf.SubClass, intf.Protocol, names[i])
		for _, e := range intf.Endpoints {
			b = append(b, 7, dtEndpoint, e.Address, uint8(e.Type))
			b = binary.LittleEndian.AppendUint16(b, e.MaxPacketSize)
			b = append(b, e.Interval)
		}
	}
	binary.LittleEndian.PutUint16(b[2:], uint16(len(b)))
	return b
}

// stringDescriptor returns string descriptor i (0: the language list), and
// false if there is none.
func (d *Descriptors) stringDescriptor(i uint8) ([]byte, bool) {
	if i == 0 {
		return []byte{4, dtString, 0x09, 0x04}, true // en-US
	}
	table, _, _, _, _ := d.strings()
	if int(i) > len(table) {
		return nil, false
	}
	u := utf16.Encode([]rune(table[i-1]))
	if len(u) > 126 {
		u = u[:126] // bLength is one byte
	}
	b := []byte{uint8(2 + 2*len(u)), dtString}
	for _, c := range u {
		b = binary.LittleEndian.AppendUint16(b, c)
	}
	return b, true
}
