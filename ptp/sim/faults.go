package sim

import (
	"encoding/binary"
	"fmt"

	"github.com/lapsebox/lapsebox/ptp"
)

// FaultKind says what an injected fault does.
type FaultKind int

// Fault kinds.
const (
	// Stall: the device sends At bytes of its reply (data and response
	// containers together), then NAKs until a Cancel or Device Reset. At 0
	// means the operation is never answered.
	Stall FaultKind = iota + 1
	// Garbage: the response container is replaced by bytes that are no
	// container.
	Garbage
	// Disconnect: the camera is unplugged when the command arrives; every
	// call fails with ptp.ErrNoDevice until Replug.
	Disconnect
	// WrongTID: the response carries a later transaction ID than the
	// command.
	WrongTID
	// Busy: the operation is answered DeviceBusy without being run.
	Busy
	// Truncate: the data phase carries only the first half of its payload
	// (in a well-formed container): a truncated dataset.
	Truncate
)

// String returns the kind's name.
func (k FaultKind) String() string {
	switch k {
	case Stall:
		return "Stall"
	case Garbage:
		return "Garbage"
	case Disconnect:
		return "Disconnect"
	case WrongTID:
		return "WrongTID"
	case Busy:
		return "Busy"
	case Truncate:
		return "Truncate"
	}
	return fmt.Sprintf("FaultKind(%d)", int(k))
}

// Fault is a fault to inject into the device's answers.
type Fault struct {
	Kind FaultKind
	// Op is the operation it hits; 0 hits any.
	Op ptp.OpCode
	// Skip lets this many matching operations pass unharmed first.
	Skip int
	// Times is how many matching operations it hits (after Skip). 0: one.
	Times int
	// At (Stall) is the number of reply bytes sent before the stall.
	At int
}

// Inject adds a fault. Faults are checked in the order they were added;
// an operation gets at most one.
func (d *Device) Inject(f Fault) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if f.Times <= 0 {
		f.Times = 1
	}
	d.faults = append(d.faults, &f)
}

// Faults returns the injected faults that have not fired yet.
func (d *Device) Faults() []Fault {
	d.mu.Lock()
	defer d.mu.Unlock()
	var fs []Fault
	for _, f := range d.faults {
		fs = append(fs, *f)
	}
	return fs
}

// fault returns the fault that hits op, if any, and consumes it.
func (d *Device) fault(op ptp.OpCode) *Fault {
	for i, f := range d.faults {
		if f.Op != 0 && f.Op != op {
			continue
		}
		if f.Skip > 0 {
			f.Skip--
			continue
		}
		f.Times--
		if f.Times <= 0 {
			d.faults = append(d.faults[:i:i], d.faults[i+1:]...)
		}
		hit := *f
		return &hit
	}
	return nil
}

// damage applies f to the phases the operation queued, d.in[from:].
func (d *Device) damage(f *Fault, from int, tid uint32) {
	phases := d.in[from:]
	if len(phases) == 0 {
		return
	}
	last := phases[len(phases)-1] // the response
	switch f.Kind {
	case Stall:
		left := int64(f.At)
		for _, ph := range phases {
			if left < ph.size() {
				ph.stallAt = left
				left = 0
			} else {
				left -= ph.size()
			}
		}
	case Garbage:
		g := make([]byte, 16+d.rnd.IntN(48))
		for i := range g {
			g[i] = byte(d.rnd.Uint32())
		}
		// A container type no device uses, so that it cannot pass for one.
		binary.LittleEndian.PutUint16(g[4:], uint16(0x100+d.rnd.IntN(0xFE00)))
		last.head, last.body, last.bodyLen = g, nil, 0
	case WrongTID:
		binary.LittleEndian.PutUint32(last.head[8:], tid+7)
	case Truncate:
		for _, ph := range phases {
			if binary.LittleEndian.Uint16(ph.head[4:]) != uint16(ptp.ContainerData) {
				continue
			}
			payload := ph.size() - ptp.HeaderSize
			keep := payload / 2
			inHead := int64(len(ph.head)) - ptp.HeaderSize
			if keep <= inHead {
				ph.head = append([]byte{}, ph.head[:ptp.HeaderSize+keep]...)
				ph.body, ph.bodyLen = nil, 0
			} else {
				ph.head = append([]byte{}, ph.head...)
				ph.bodyLen = keep - inHead
			}
			binary.LittleEndian.PutUint32(ph.head, uint32(ptp.HeaderSize+keep))
		}
	}
}
