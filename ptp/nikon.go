package ptp

import (
	"context"
	"encoding/binary"
	"fmt"
)

// Nikon DSLRs report events by the polled GetEvent operation (0x90C7):
// its data is u16 count, then count × {u16 code, u32 parameter}
// (docs/ptp.md §3.5).

// DecodeNikonEvents decodes the data of a Nikon GetEvent reply. Each event
// has one parameter. Bytes after the list are ignored.
func DecodeNikonEvents(b []byte) ([]Event, error) {
	d := decoder{dataset: "NikonEvents", b: b}
	n := int(d.u16("Count"))
	if d.err != nil {
		return nil, d.err
	}
	if n*6 > len(b)-d.off {
		d.fail("Count", 0, fmt.Errorf("%w: %d events, have %d bytes", errTruncated, n, len(b)-d.off))
		return nil, d.err
	}
	evs := make([]Event, n)
	for i := range evs {
		evs[i] = Event{Code: EventCode(d.u16("Code")), Params: []uint32{d.u32("Param")}}
	}
	return evs, nil
}

// AppendNikonEvents appends evs as the data of a Nikon GetEvent reply to b:
// the first parameter of each event is sent (0 if it has none).
func AppendNikonEvents(b []byte, evs []Event) ([]byte, error) {
	if len(evs) > 0xFFFF {
		return b, fmt.Errorf("ptp: %d Nikon events, at most 65535", len(evs))
	}
	b = binary.LittleEndian.AppendUint16(b, uint16(len(evs)))
	for _, ev := range evs {
		var p uint32
		if len(ev.Params) > 0 {
			p = ev.Params[0]
		}
		b = binary.LittleEndian.AppendUint16(b, uint16(ev.Code))
		b = binary.LittleEndian.AppendUint32(b, p)
	}
	return b, nil
}

// NikonGetEvent runs the Nikon GetEvent operation (0x90C7) once and
// returns the events the camera queued since the last call.
func (c *Conn) NikonGetEvent(ctx context.Context) ([]Event, error) {
	op := Operation{Code: OpNikonGetEvent}
	data, _, err := c.get(ctx, op)
	if err != nil {
		return nil, err
	}
	evs, err := DecodeNikonEvents(data)
	if err != nil {
		return nil, c.opError(op, err)
	}
	return evs, nil
}

// NikonSDRAMHandle is the handle a Nikon body gives the first object it
// keeps in its SDRAM buffer when ObjectAddedInSDRAM carries none.
const NikonSDRAMHandle = 0xFFFF0001
