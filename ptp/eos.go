package ptp

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
)

// Canon EOS bodies report captures, property values and their allowed
// values as records in the data of the polled GetEvent operation (0x9116)
// rather than on the interrupt endpoint (docs/ptp.md §3.2). Each record
// is u32 size (including these 8 bytes) · u32 code · payload; a record of
// size 8 and code 0 ends the list.

// EOSEvent is one record of a Canon EOS GetEvent reply. Which fields are
// set depends on Code:
//
//	EventEOSObjectAddedEx          Handle, StorageID, Format, Size, Parent, Filename
//	EventEOSRequestObjectTransfer  Handle, Format, Size, Filename
//	EventEOSObjectRemoved          Handle
//	EventEOSPropValueChanged       Prop, Value (the first 4 bytes), ValueData (all)
//	EventEOSAvailListChanged       Prop, ListType, Values
//	EventEOSCameraStatusChanged,
//	EventEOSStorageStatusChanged,
//	EventEOSStorageInfoChanged     Value
//	anything else                  Data (the payload after code)
type EOSEvent struct {
	Code      EventCode
	Handle    uint32
	StorageID uint32
	Parent    uint32
	Format    FormatCode
	Size      uint32
	Filename  string
	Prop      PropCode
	Value     uint32
	ValueData []byte
	ListType  uint32
	Values    []uint32
	Data      []byte
}

// String returns e.g. "EOSRequestObjectTransfer(0x91a3e4f0, IMG_0001.JPG)".
func (e EOSEvent) String() string {
	name := e.Code.Name(VendorCanon)
	switch e.Code {
	case EventEOSObjectAddedEx, EventEOSRequestObjectTransfer:
		return fmt.Sprintf("%s(%#x, %s, %d bytes)", name, e.Handle, e.Filename, e.Size)
	case EventEOSObjectRemoved:
		return fmt.Sprintf("%s(%#x)", name, e.Handle)
	case EventEOSPropValueChanged:
		return fmt.Sprintf("%s(%s = %#x)", name, e.Prop.Name(VendorCanon), e.Value)
	case EventEOSAvailListChanged:
		return fmt.Sprintf("%s(%s, %d values)", name, e.Prop.Name(VendorCanon), len(e.Values))
	case EventEOSCameraStatusChanged, EventEOSStorageStatusChanged, EventEOSStorageInfoChanged:
		return fmt.Sprintf("%s(%#x)", name, e.Value)
	}
	return name
}

// Offsets of the fields of EOS GetEvent records, from the start of the
// record (libgphoto2 ptp-pack.c; docs/ptp.md §3.2).
const (
	eosRecHeader = 8

	eosAddedHandle   = 0x08
	eosAddedStorage  = 0x0C
	eosAddedFormat   = 0x10
	eosAddedSize     = 0x1C
	eosAddedParent   = 0x20
	eosAddedFilename = 0x28

	eosXferHandle   = 0x08
	eosXferFormat   = 0x0C
	eosXferSize     = 0x14
	eosXferFilename = 0x1C

	eosListType   = 0x0C
	eosListCount  = 0x10
	eosListValues = 0x14
)

// DecodeEOSEvents decodes the data of a Canon EOS GetEvent reply. It stops
// at the terminating record (size 8, code 0) or at the end of b; a record
// whose size is below 8 or runs past the end of b, or too short for its
// code's fields, is a *DecodeError. Bytes after the terminator are ignored.
func DecodeEOSEvents(b []byte) ([]EOSEvent, error) {
	var evs []EOSEvent
	for off := 0; off < len(b); {
		fail := func(field string, at int, format string, args ...any) ([]EOSEvent, error) {
			return evs, &DecodeError{Dataset: "EOSEvent", Field: field, Offset: at, Err: fmt.Errorf(format, args...)}
		}
		if len(b)-off < eosRecHeader {
			return fail("Size", off, "%w: need %d bytes, have %d", errTruncated, eosRecHeader, len(b)-off)
		}
		size := int64(le32(b[off:]))
		code := le32(b[off+4:])
		if size < eosRecHeader {
			return fail("Size", off, "record size %d is shorter than its header", size)
		}
		if size > int64(len(b)-off) {
			return fail("Size", off, "%w: record of %d bytes, have %d", errTruncated, size, len(b)-off)
		}
		if size == eosRecHeader && code == 0 {
			break
		}
		r := b[off : off+int(size)]
		need := func(_ string, n int) bool { return len(r) >= n }
		ev := EOSEvent{Code: EventCode(code)}
		if code > 0xFFFF || code == 0 {
			// A code that is no EventCode: keep it, with the payload, in Data.
			ev.Code = 0
			ev.Data = append([]byte{}, r[4:]...)
			evs = append(evs, ev)
			off += int(size)
			continue
		}
		switch ev.Code {
		case EventEOSObjectAddedEx:
			if !need("Filename", eosAddedFilename) {
				return fail("ObjectAddedEx", off, "%w: record of %d bytes, need %d", errTruncated, size, eosAddedFilename)
			}
			ev.Handle = le32(r[eosAddedHandle:])
			ev.StorageID = le32(r[eosAddedStorage:])
			ev.Format = FormatCode(le16(r[eosAddedFormat:]))
			ev.Size = le32(r[eosAddedSize:])
			ev.Parent = le32(r[eosAddedParent:])
			ev.Filename = cString(r[eosAddedFilename:])
		case EventEOSRequestObjectTransfer:
			if !need("Filename", eosXferFilename) {
				return fail("RequestObjectTransfer", off, "%w: record of %d bytes, need %d", errTruncated, size, eosXferFilename)
			}
			ev.Handle = le32(r[eosXferHandle:])
			ev.Format = FormatCode(le16(r[eosXferFormat:]))
			ev.Size = le32(r[eosXferSize:])
			ev.Filename = cString(r[eosXferFilename:])
		case EventEOSObjectRemoved, EventEOSCameraStatusChanged, EventEOSStorageStatusChanged, EventEOSStorageInfoChanged:
			if !need("Value", 12) {
				return fail("Value", off, "%w: record of %d bytes, need 12", errTruncated, size)
			}
			if ev.Code == EventEOSObjectRemoved {
				ev.Handle = le32(r[8:])
			} else {
				ev.Value = le32(r[8:])
			}
		case EventEOSPropValueChanged:
			if !need("Prop", 12) {
				return fail("Prop", off, "%w: record of %d bytes, need 12", errTruncated, size)
			}
			p := le32(r[8:])
			if p > 0xFFFF {
				return fail("Prop", off+8, "property code %#x does not fit 16 bits", p)
			}
			ev.Prop = PropCode(p)
			ev.ValueData = append([]byte{}, r[12:]...)
			var v [4]byte
			copy(v[:], ev.ValueData)
			ev.Value = le32(v[:])
		case EventEOSAvailListChanged:
			if !need("Count", eosListValues) {
				return fail("AvailListChanged", off, "%w: record of %d bytes, need %d", errTruncated, size, eosListValues)
			}
			p := le32(r[8:])
			if p > 0xFFFF {
				return fail("Prop", off+8, "property code %#x does not fit 16 bits", p)
			}
			ev.Prop = PropCode(p)
			ev.ListType = le32(r[eosListType:])
			n := uint64(le32(r[eosListCount:]))
			if n*4 > uint64(len(r)-eosListValues) {
				// Some properties (ImageFormat) list values wider than 4
				// bytes: keep the raw bytes rather than fail.
				ev.Data = append([]byte{}, r[eosListCount:]...)
				break
			}
			ev.Values = make([]uint32, n)
			for i := range ev.Values {
				ev.Values[i] = le32(r[eosListValues+4*i:])
			}
		default:
			ev.Data = append([]byte{}, r[8:]...)
		}
		evs = append(evs, ev)
		off += int(size)
	}
	return evs, nil
}

// cString returns the NUL-terminated string at the start of b (all of b if
// it has no NUL).
func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// AppendEOSEvents appends evs as the data of a GetEvent reply, with the
// terminating record, to b. It is the inverse of DecodeEOSEvents (used by
// the camera simulator). Filenames must not contain NUL.
func AppendEOSEvents(b []byte, evs []EOSEvent) ([]byte, error) {
	for i, ev := range evs {
		start := len(b)
		b = append(b, 0, 0, 0, 0)
		b = binary.LittleEndian.AppendUint32(b, uint32(ev.Code))
		put := func(off int, v uint32) {
			for len(b)-start < off+4 {
				b = append(b, 0)
			}
			binary.LittleEndian.PutUint32(b[start+off:], v)
		}
		pad := func(off int) {
			for len(b)-start < off {
				b = append(b, 0)
			}
		}
		name := func(s string) error {
			if bytes.IndexByte([]byte(s), 0) >= 0 {
				return fmt.Errorf("ptp: EOSEvent[%d].Filename contains NUL", i)
			}
			b = append(append(b, s...), 0)
			return nil
		}
		switch {
		case ev.Code == 0 && len(ev.Data) >= 4:
			// An undecodable code kept in Data by DecodeEOSEvents.
			b = append(b[:start+4], ev.Data...)
		case ev.Code == 0:
			return b, fmt.Errorf("ptp: EOSEvent[%d]: code 0 is the terminator", i)
		case ev.Code == EventEOSObjectAddedEx:
			put(eosAddedHandle, ev.Handle)
			put(eosAddedStorage, ev.StorageID)
			put(eosAddedFormat, uint32(ev.Format))
			put(eosAddedSize, ev.Size)
			put(eosAddedParent, ev.Parent)
			pad(eosAddedFilename)
			if err := name(ev.Filename); err != nil {
				return b, err
			}
		case ev.Code == EventEOSRequestObjectTransfer:
			put(eosXferHandle, ev.Handle)
			put(eosXferFormat, uint32(ev.Format))
			put(eosXferSize, ev.Size)
			pad(eosXferFilename)
			if err := name(ev.Filename); err != nil {
				return b, err
			}
		case ev.Code == EventEOSObjectRemoved:
			put(8, ev.Handle)
		case ev.Code == EventEOSCameraStatusChanged || ev.Code == EventEOSStorageStatusChanged || ev.Code == EventEOSStorageInfoChanged:
			put(8, ev.Value)
		case ev.Code == EventEOSPropValueChanged:
			put(8, uint32(ev.Prop))
			if ev.ValueData != nil {
				b = append(b, ev.ValueData...)
			} else {
				put(12, ev.Value)
			}
		case ev.Code == EventEOSAvailListChanged:
			put(8, uint32(ev.Prop))
			put(eosListType, ev.ListType)
			if ev.Values == nil && ev.Data != nil {
				b = append(b, ev.Data...)
				break
			}
			put(eosListCount, uint32(len(ev.Values)))
			for _, v := range ev.Values {
				b = binary.LittleEndian.AppendUint32(b, v)
			}
		default:
			b = append(b, ev.Data...)
		}
		binary.LittleEndian.PutUint32(b[start:], uint32(len(b)-start))
	}
	b = binary.LittleEndian.AppendUint32(b, eosRecHeader)
	return binary.LittleEndian.AppendUint32(b, 0), nil
}

// EOSGetEvent runs the Canon EOS GetEvent operation (0x9116) once and
// returns its records; an empty list means no more events. Call it until
// it returns none to drain the camera's queue.
func (c *Conn) EOSGetEvent(ctx context.Context) ([]EOSEvent, error) {
	op := Operation{Code: OpEOSGetEvent}
	data, _, err := c.get(ctx, op)
	if err != nil {
		return nil, err
	}
	evs, err := DecodeEOSEvents(data)
	if err != nil {
		return evs, c.opError(op, err)
	}
	return evs, nil
}

// EOSSetDevicePropValueEx sets Canon EOS property p (0x9110). value is the
// encoded value: a u32 for integer properties whatever their width, ASCII
// and a NUL for strings, the u32 list of EOSImageFormat for the image
// format properties.
func (c *Conn) EOSSetDevicePropValueEx(ctx context.Context, p PropCode, value []byte) error {
	data := make([]byte, 0, 8+len(value))
	data = binary.LittleEndian.AppendUint32(data, uint32(8+len(value)))
	data = binary.LittleEndian.AppendUint32(data, uint32(p))
	data = append(data, value...)
	_, err := c.Do(ctx, Operation{Code: OpEOSSetDevicePropValueEx}, data, nil)
	return err
}

// DecodeEOSSetPropValue decodes the data of an EOSSetDevicePropValueEx
// request into the property code and the value bytes (the device's side of
// EOSSetDevicePropValueEx).
func DecodeEOSSetPropValue(b []byte) (PropCode, []byte, error) {
	if len(b) < 8 {
		return 0, nil, &DecodeError{Dataset: "EOSSetPropValue", Field: "Size", Err: fmt.Errorf("%w: need 8 bytes, have %d", errTruncated, len(b))}
	}
	n := le32(b)
	if n < 8 || uint64(n) > uint64(len(b)) {
		return 0, nil, &DecodeError{Dataset: "EOSSetPropValue", Field: "Size", Err: fmt.Errorf("size %d for %d bytes", n, len(b))}
	}
	p := le32(b[4:])
	if p > 0xFFFF {
		return 0, nil, &DecodeError{Dataset: "EOSSetPropValue", Field: "Prop", Offset: 4, Err: fmt.Errorf("property code %#x does not fit 16 bits", p)}
	}
	return PropCode(p), b[8:n], nil
}

// EOSImageFile describes one file of a Canon EOS image format setting:
// its kind (EOSImageJPEG or EOSImageRAW), size (0 large, 1 medium, 2 small)
// and compression (2 normal, 3 fine, 4 lossless RAW).
type EOSImageFile struct {
	Kind, Size, Compression uint32
}

// Kinds of EOSImageFile.
const (
	EOSImageJPEG = 1
	EOSImageRAW  = 6
)

// EOSImageFormat is the value of the Canon EOS image format properties
// (0xD120…0xD122): one file per picture (JPEG or RAW) or two (RAW+JPEG).
type EOSImageFormat []EOSImageFile

// DecodeEOSImageFormat decodes an image format value: u32 count, then per
// file u32 entry size (0x10), kind, size, compression.
func DecodeEOSImageFormat(b []byte) (EOSImageFormat, error) {
	d := decoder{dataset: "EOSImageFormat", b: b}
	n := d.count("Count", 16)
	if d.err != nil {
		return nil, d.err
	}
	f := make(EOSImageFormat, 0, n)
	for i := 0; i < n; i++ {
		at := d.off
		sz := d.u32("EntrySize")
		if sz != 16 {
			d.fail("EntrySize", at, fmt.Errorf("entry size %d, want 16", sz))
			return nil, d.err
		}
		f = append(f, EOSImageFile{Kind: d.u32("Kind"), Size: d.u32("Size"), Compression: d.u32("Compression")})
	}
	return f, nil
}

// AppendBinary appends the encoded image format to b.
func (f EOSImageFormat) AppendBinary(b []byte) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(len(f)))
	for _, x := range f {
		b = binary.LittleEndian.AppendUint32(b, 16)
		b = binary.LittleEndian.AppendUint32(b, x.Kind)
		b = binary.LittleEndian.AppendUint32(b, x.Size)
		b = binary.LittleEndian.AppendUint32(b, x.Compression)
	}
	return b
}

// Canon EOS property codes used by the driver beyond those in codes.go.
const (
	PropEOSOwner        PropCode = 0xD115
	PropEOSSerialNumber PropCode = 0xD1AF // requested with EOSRequestDevicePropValue
)
