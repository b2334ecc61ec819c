package ptp

import (
	"encoding/binary"
	"fmt"
)

// Int128 is a PTP INT128 value in two's complement.
type Int128 struct{ Lo, Hi uint64 }

// Uint128 is a PTP UINT128 value.
type Uint128 struct{ Lo, Hi uint64 }

// A property value of DataType t is held in an any of the Go type that
// matches t:
//
//	TypeInt8 … TypeUint64    int8, uint8, int16, uint16, int32, uint32, int64, uint64
//	TypeInt128, TypeUint128  Int128, Uint128
//	TypeString               string
//	TypeArray|TypeUint8 …    []uint8 … []Uint128 (a slice of the element's type)
//
// DecodeValue produces exactly these types and AppendValue accepts only
// them, so d.Current.(uint16) is the way to read a UINT16 property.

// DecodeValue decodes one value of type t from the start of b (the data of
// a GetDevicePropValue, for example) and returns it with the number of
// bytes it took.
func DecodeValue(t DataType, b []byte) (v any, n int, err error) {
	d := decoder{dataset: "Value", b: b}
	v = d.value("Value", t)
	if d.err != nil {
		return nil, 0, d.err
	}
	return v, d.off, nil
}

// AppendValue appends v encoded as type t (the data of a
// SetDevicePropValue, for example). v must have the Go type matching t.
func AppendValue(b []byte, t DataType, v any) ([]byte, error) {
	e := encoder{dataset: "Value", b: b}
	e.value("Value", t, v)
	if e.err != nil {
		return b, e.err
	}
	return e.b, nil
}

func decodeArray[T any](d *decoder, field string, size int, elem func([]byte) T) []T {
	n := d.count(field, size)
	if d.err != nil {
		return nil
	}
	a := make([]T, n)
	for i := range a {
		a[i] = elem(d.b[d.off:])
		d.off += size
	}
	return a
}

func le16(p []byte) uint16 { return binary.LittleEndian.Uint16(p) }
func le32(p []byte) uint32 { return binary.LittleEndian.Uint32(p) }
func le64(p []byte) uint64 { return binary.LittleEndian.Uint64(p) }

// value decodes a value of type t.
func (d *decoder) value(field string, t DataType) any {
	if d.err != nil {
		return nil
	}
	if t == TypeString {
		return d.str(field)
	}
	if t.IsArray() {
		switch t.Elem() {
		case TypeInt8:
			return decodeArray(d, field, 1, func(p []byte) int8 { return int8(p[0]) })
		case TypeUint8:
			return decodeArray(d, field, 1, func(p []byte) uint8 { return p[0] })
		case TypeInt16:
			return decodeArray(d, field, 2, func(p []byte) int16 { return int16(le16(p)) })
		case TypeUint16:
			return decodeArray(d, field, 2, le16)
		case TypeInt32:
			return decodeArray(d, field, 4, func(p []byte) int32 { return int32(le32(p)) })
		case TypeUint32:
			return decodeArray(d, field, 4, le32)
		case TypeInt64:
			return decodeArray(d, field, 8, func(p []byte) int64 { return int64(le64(p)) })
		case TypeUint64:
			return decodeArray(d, field, 8, le64)
		case TypeInt128:
			return decodeArray(d, field, 16, func(p []byte) Int128 { return Int128{le64(p), le64(p[8:])} })
		case TypeUint128:
			return decodeArray(d, field, 16, func(p []byte) Uint128 { return Uint128{le64(p), le64(p[8:])} })
		}
	}
	sz := t.size()
	if sz == 0 || t.IsArray() {
		d.fail(field, d.off, fmt.Errorf("unsupported data type %v", t))
		return nil
	}
	p := d.take(field, sz)
	if p == nil {
		return nil
	}
	switch t {
	case TypeInt8:
		return int8(p[0])
	case TypeUint8:
		return p[0]
	case TypeInt16:
		return int16(le16(p))
	case TypeUint16:
		return le16(p)
	case TypeInt32:
		return int32(le32(p))
	case TypeUint32:
		return le32(p)
	case TypeInt64:
		return int64(le64(p))
	case TypeUint64:
		return le64(p)
	case TypeInt128:
		return Int128{le64(p), le64(p[8:])}
	default: // TypeUint128
		return Uint128{le64(p), le64(p[8:])}
	}
}

func appendArray[T any](e *encoder, a []T, elem func(T)) {
	e.u32(uint32(len(a)))
	for _, v := range a {
		elem(v)
	}
}

// value encodes v as type t.
func (e *encoder) value(field string, t DataType, v any) {
	ok := true
	switch t {
	case TypeInt8:
		x, k := v.(int8)
		ok = k
		e.u8(uint8(x))
	case TypeUint8:
		x, k := v.(uint8)
		ok = k
		e.u8(x)
	case TypeInt16:
		x, k := v.(int16)
		ok = k
		e.u16(uint16(x))
	case TypeUint16:
		x, k := v.(uint16)
		ok = k
		e.u16(x)
	case TypeInt32:
		x, k := v.(int32)
		ok = k
		e.u32(uint32(x))
	case TypeUint32:
		x, k := v.(uint32)
		ok = k
		e.u32(x)
	case TypeInt64:
		x, k := v.(int64)
		ok = k
		e.u64(uint64(x))
	case TypeUint64:
		x, k := v.(uint64)
		ok = k
		e.u64(x)
	case TypeInt128:
		x, k := v.(Int128)
		ok = k
		e.u64(x.Lo)
		e.u64(x.Hi)
	case TypeUint128:
		x, k := v.(Uint128)
		ok = k
		e.u64(x.Lo)
		e.u64(x.Hi)
	case TypeString:
		x, k := v.(string)
		ok = k
		e.str(field, x)
	case TypeArray | TypeInt8:
		a, k := v.([]int8)
		ok = k
		appendArray(e, a, func(x int8) { e.u8(uint8(x)) })
	case TypeArray | TypeUint8:
		a, k := v.([]uint8)
		ok = k
		appendArray(e, a, e.u8)
	case TypeArray | TypeInt16:
		a, k := v.([]int16)
		ok = k
		appendArray(e, a, func(x int16) { e.u16(uint16(x)) })
	case TypeArray | TypeUint16:
		a, k := v.([]uint16)
		ok = k
		appendArray(e, a, e.u16)
	case TypeArray | TypeInt32:
		a, k := v.([]int32)
		ok = k
		appendArray(e, a, func(x int32) { e.u32(uint32(x)) })
	case TypeArray | TypeUint32:
		a, k := v.([]uint32)
		ok = k
		appendArray(e, a, e.u32)
	case TypeArray | TypeInt64:
		a, k := v.([]int64)
		ok = k
		appendArray(e, a, func(x int64) { e.u64(uint64(x)) })
	case TypeArray | TypeUint64:
		a, k := v.([]uint64)
		ok = k
		appendArray(e, a, e.u64)
	case TypeArray | TypeInt128:
		a, k := v.([]Int128)
		ok = k
		appendArray(e, a, func(x Int128) { e.u64(x.Lo); e.u64(x.Hi) })
	case TypeArray | TypeUint128:
		a, k := v.([]Uint128)
		ok = k
		appendArray(e, a, func(x Uint128) { e.u64(x.Lo); e.u64(x.Hi) })
	default:
		if e.err == nil {
			e.err = fmt.Errorf("ptp: %s.%s: unsupported data type %v", e.dataset, field, t)
		}
		return
	}
	if !ok && e.err == nil {
		e.err = fmt.Errorf("ptp: %s.%s: value of Go type %T for data type %v", e.dataset, field, v, t)
	}
}
