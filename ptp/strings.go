package ptp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf16"
)

// MaxStringLen is the longest string, in UTF-16 code units without the
// terminating NUL, that a PTP string can carry.
const MaxStringLen = 254

// Errors from encoding values that cannot be represented in PTP.
var (
	ErrStringTooLong = errors.New("ptp: string longer than 254 UTF-16 code units")
	ErrStringNUL     = errors.New("ptp: string contains NUL")
)

// errTruncated is wrapped by every DecodeError caused by missing bytes.
var errTruncated = errors.New("truncated")

// DecodeError reports input that a decoder rejected: which dataset, which
// field, and the byte offset of that field in the input.
type DecodeError struct {
	Dataset string // "DeviceInfo", "ObjectInfo", "Container", …
	Field   string // "Filename", "OperationsSupported[3]", …
	Offset  int    // byte offset of the field in the input
	Err     error
}

// Error returns e.g. "ptp: ObjectInfo.Filename at offset 52: truncated: need 25 bytes, have 3".
func (e *DecodeError) Error() string {
	return fmt.Sprintf("ptp: %s.%s at offset %d: %v", e.Dataset, e.Field, e.Offset, e.Err)
}

// Unwrap returns the underlying cause.
func (e *DecodeError) Unwrap() error { return e.Err }

// decoder reads little-endian PTP fields from b, remembering the first error.
type decoder struct {
	dataset string
	b       []byte
	off     int
	err     error
}

func (d *decoder) fail(field string, off int, err error) {
	if d.err == nil {
		d.err = &DecodeError{Dataset: d.dataset, Field: field, Offset: off, Err: err}
	}
}

// take returns the next n bytes, or nil after recording an error.
func (d *decoder) take(field string, n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || len(d.b)-d.off < n {
		d.fail(field, d.off, fmt.Errorf("%w: need %d bytes, have %d", errTruncated, n, len(d.b)-d.off))
		return nil
	}
	p := d.b[d.off : d.off+n]
	d.off += n
	return p
}

func (d *decoder) atEnd() bool { return d.err == nil && d.off == len(d.b) }

func (d *decoder) u8(field string) uint8 {
	if p := d.take(field, 1); p != nil {
		return p[0]
	}
	return 0
}

func (d *decoder) u16(field string) uint16 {
	if p := d.take(field, 2); p != nil {
		return binary.LittleEndian.Uint16(p)
	}
	return 0
}

func (d *decoder) u32(field string) uint32 {
	if p := d.take(field, 4); p != nil {
		return binary.LittleEndian.Uint32(p)
	}
	return 0
}

func (d *decoder) u64(field string) uint64 {
	if p := d.take(field, 8); p != nil {
		return binary.LittleEndian.Uint64(p)
	}
	return 0
}

// str reads a PTP string: a u8 count of UTF-16 code units including the
// terminating NUL, then the code units. The last unit is the terminator's
// place and is not part of the value whatever it holds; the value also ends
// at an earlier NUL. Unpaired surrogates become U+FFFD.
func (d *decoder) str(field string) string {
	start := d.off
	n := int(d.u8(field))
	if n == 0 || d.err != nil {
		return ""
	}
	p := d.take(field, 2*n)
	if p == nil {
		d.err.(*DecodeError).Offset = start
		return ""
	}
	units := make([]uint16, 0, n-1)
	for i := 0; i < n-1; i++ {
		u := binary.LittleEndian.Uint16(p[2*i:])
		if u == 0 {
			break
		}
		units = append(units, u)
	}
	return string(utf16.Decode(units))
}

// optStr reads a trailing string that some devices leave out: at the very
// end of the input it returns "".
func (d *decoder) optStr(field string) string {
	if d.atEnd() {
		return ""
	}
	return d.str(field)
}

// count reads a u32 array count and checks that count elements of size
// bytes each fit in the rest of the input, so that a hostile count cannot
// make the decoder allocate gigabytes.
func (d *decoder) count(field string, size int) int {
	start := d.off
	n := d.u32(field)
	if d.err != nil {
		return 0
	}
	if rest := uint64(len(d.b) - d.off); uint64(n)*uint64(size) > rest {
		d.fail(field, start, fmt.Errorf("%w: %d elements of %d bytes, have %d bytes", errTruncated, n, size, rest))
		return 0
	}
	return int(n)
}

// au16 reads an array of u16: u32 count, then the elements.
func (d *decoder) au16(field string) []uint16 {
	n := d.count(field, 2)
	if d.err != nil || n == 0 {
		return nil
	}
	a := make([]uint16, n)
	for i := range a {
		a[i] = binary.LittleEndian.Uint16(d.b[d.off:])
		d.off += 2
	}
	return a
}

// au32 reads an array of u32: u32 count, then the elements.
func (d *decoder) au32(field string) []uint32 {
	n := d.count(field, 4)
	if d.err != nil || n == 0 {
		return nil
	}
	a := make([]uint32, n)
	for i := range a {
		a[i] = binary.LittleEndian.Uint32(d.b[d.off:])
		d.off += 4
	}
	return a
}

// encoder appends little-endian PTP fields to b, remembering the first error.
type encoder struct {
	dataset string
	b       []byte
	err     error
}

func (e *encoder) u8(v uint8)   { e.b = append(e.b, v) }
func (e *encoder) u16(v uint16) { e.b = binary.LittleEndian.AppendUint16(e.b, v) }
func (e *encoder) u32(v uint32) { e.b = binary.LittleEndian.AppendUint32(e.b, v) }
func (e *encoder) u64(v uint64) { e.b = binary.LittleEndian.AppendUint64(e.b, v) }

func (e *encoder) str(field, s string) {
	b, err := AppendString(e.b, s)
	if err != nil {
		if e.err == nil {
			e.err = fmt.Errorf("ptp: %s.%s: %w", e.dataset, field, err)
		}
		return
	}
	e.b = b
}

func (e *encoder) au16(a []uint16) {
	e.u32(uint32(len(a)))
	for _, v := range a {
		e.u16(v)
	}
}

func (e *encoder) au32(a []uint32) {
	e.u32(uint32(len(a)))
	for _, v := range a {
		e.u32(v)
	}
}

// AppendString appends s as a PTP string: a u8 count of UTF-16 code units
// including the terminating NUL, then the UTF-16LE code units and the NUL.
// The empty string is a single zero byte. Invalid UTF-8 becomes U+FFFD.
func AppendString(b []byte, s string) ([]byte, error) {
	if s == "" {
		return append(b, 0), nil
	}
	units := utf16.Encode([]rune(s))
	if len(units) > MaxStringLen {
		return b, ErrStringTooLong
	}
	for _, u := range units {
		if u == 0 {
			return b, ErrStringNUL
		}
	}
	b = append(b, byte(len(units)+1))
	for _, u := range units {
		b = binary.LittleEndian.AppendUint16(b, u)
	}
	return append(b, 0, 0), nil
}

// DecodeString decodes the PTP string at the start of b and returns it with
// the number of bytes it took.
func DecodeString(b []byte) (string, int, error) {
	d := decoder{dataset: "String", b: b}
	s := d.str("Value")
	return s, d.off, d.err
}

// AppendUint16Array appends a as a PTP array: u32 count, then the elements.
func AppendUint16Array(b []byte, a []uint16) []byte {
	e := encoder{b: b}
	e.au16(a)
	return e.b
}

// AppendUint32Array appends a as a PTP array: u32 count, then the elements.
func AppendUint32Array(b []byte, a []uint32) []byte {
	e := encoder{b: b}
	e.au32(a)
	return e.b
}

// DecodeUint32Array decodes a data phase holding an array of u32, such as
// the answer to GetStorageIDs or GetObjectHandles. Bytes after the array
// are ignored.
func DecodeUint32Array(b []byte) ([]uint32, error) {
	d := decoder{dataset: "Array", b: b}
	a := d.au32("Elements")
	if d.err != nil {
		return nil, d.err
	}
	return a, nil
}

// DecodeUint16Array decodes a data phase holding an array of u16. Bytes
// after the array are ignored.
func DecodeUint16Array(b []byte) ([]uint16, error) {
	d := decoder{dataset: "Array", b: b}
	a := d.au16("Elements")
	if d.err != nil {
		return nil, d.err
	}
	return a, nil
}
