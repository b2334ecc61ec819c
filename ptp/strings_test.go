package ptp

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestStrings(t *testing.T) {
	tests := []struct {
		s   string
		enc []byte
	}{
		{"", []byte{0}},
		{"A", []byte{2, 'A', 0, 0, 0}},
		{"é", []byte{2, 0xE9, 0, 0, 0}},
		{"😀", []byte{3, 0x3D, 0xD8, 0x00, 0xDE, 0, 0}}, // a surrogate pair: two units
	}
	for _, tt := range tests {
		b, err := AppendString(nil, tt.s)
		if err != nil || !bytes.Equal(b, tt.enc) {
			t.Errorf("AppendString(%q) = % x, %v; want % x", tt.s, b, err, tt.enc)
		}
		s, n, err := DecodeString(append(tt.enc, 0xEE))
		if err != nil || s != tt.s || n != len(tt.enc) {
			t.Errorf("DecodeString(% x) = %q, %d, %v", tt.enc, s, n, err)
		}
	}
}

func TestStringLimits(t *testing.T) {
	if _, err := AppendString(nil, strings.Repeat("a", MaxStringLen)); err != nil {
		t.Errorf("254 chars: %v", err)
	}
	if _, err := AppendString(nil, strings.Repeat("a", MaxStringLen+1)); !errors.Is(err, ErrStringTooLong) {
		t.Errorf("255 chars: %v", err)
	}
	if _, err := AppendString(nil, strings.Repeat("😀", 128)); !errors.Is(err, ErrStringTooLong) {
		t.Errorf("128 surrogate pairs (256 units): %v", err)
	}
	if _, err := AppendString(nil, "a\x00"); !errors.Is(err, ErrStringNUL) {
		t.Errorf("NUL: %v", err)
	}
}

// TestStringLenient covers strings devices get wrong: the last unit is the
// NUL's place whatever it holds, an earlier NUL ends the value, and unpaired
// surrogates become U+FFFD.
func TestStringLenient(t *testing.T) {
	tests := []struct {
		name string
		enc  []byte
		want string
	}{
		{"no terminator", []byte{2, 'a', 0, 'b', 0}, "a"},
		{"early NUL", []byte{4, 'a', 0, 0, 0, 'b', 0, 0, 0}, "a"},
		{"lone surrogate", []byte{2, 0x3D, 0xD8, 0, 0}, "\uFFFD"},
		{"255 units", append([]byte{255}, bytes.Repeat([]byte{'z', 0}, 255)...), strings.Repeat("z", 254)},
	}
	for _, tt := range tests {
		s, n, err := DecodeString(tt.enc)
		if err != nil || s != tt.want || n != len(tt.enc) {
			t.Errorf("%s: got %q, %d, %v; want %q", tt.name, s, n, err, tt.want)
		}
	}
	if _, _, err := DecodeString([]byte{3, 'a', 0}); !errors.Is(err, errTruncated) {
		t.Errorf("cut string: %v", err)
	}
}

func TestArrays(t *testing.T) {
	b := AppendUint32Array(nil, []uint32{1, 0x00010001})
	if want := []byte{2, 0, 0, 0, 1, 0, 0, 0, 1, 0, 1, 0}; !bytes.Equal(b, want) {
		t.Fatalf("AppendUint32Array = % x", b)
	}
	a, err := DecodeUint32Array(b)
	if err != nil || !reflect.DeepEqual(a, []uint32{1, 0x00010001}) {
		t.Fatalf("DecodeUint32Array = %v, %v", a, err)
	}
	if _, err := DecodeUint32Array(b[:11]); err == nil ||
		err.Error() != "ptp: Array.Elements at offset 0: truncated: 2 elements of 4 bytes, have 7 bytes" {
		t.Errorf("cut array: %v", err)
	}
	a16, err := DecodeUint16Array(AppendUint16Array(nil, []uint16{7, 8}))
	if err != nil || !reflect.DeepEqual(a16, []uint16{7, 8}) {
		t.Errorf("uint16 array: %v, %v", a16, err)
	}
	if a, err := DecodeUint32Array([]byte{0, 0, 0, 0}); err != nil || len(a) != 0 {
		t.Errorf("empty array: %v, %v", a, err)
	}
}

func TestValues(t *testing.T) {
	tests := []struct {
		t   DataType
		v   any
		enc []byte
	}{
		{TypeInt8, int8(-2), []byte{0xFE}},
		{TypeUint16, uint16(0x1234), []byte{0x34, 0x12}},
		{TypeInt32, int32(-1), []byte{0xFF, 0xFF, 0xFF, 0xFF}},
		{TypeUint32, uint32(0xD11C), []byte{0x1C, 0xD1, 0, 0}},
		{TypeUint64, uint64(1), []byte{1, 0, 0, 0, 0, 0, 0, 0}},
		{TypeUint128, Uint128{Lo: 1, Hi: 2}, []byte{1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0}},
		{TypeString, "ab", []byte{3, 'a', 0, 'b', 0, 0, 0}},
		{TypeArray | TypeUint8, []uint8{9, 8}, []byte{2, 0, 0, 0, 9, 8}},
		{TypeArray | TypeInt16, []int16{-1}, []byte{1, 0, 0, 0, 0xFF, 0xFF}},
	}
	for _, tt := range tests {
		b, err := AppendValue(nil, tt.t, tt.v)
		if err != nil || !bytes.Equal(b, tt.enc) {
			t.Errorf("AppendValue(%v, %#v) = % x, %v; want % x", tt.t, tt.v, b, err, tt.enc)
		}
		v, n, err := DecodeValue(tt.t, tt.enc)
		if err != nil || n != len(tt.enc) || !reflect.DeepEqual(v, tt.v) {
			t.Errorf("DecodeValue(%v, % x) = %#v, %d, %v", tt.t, tt.enc, v, n, err)
		}
	}
	if _, err := AppendValue(nil, TypeUint8, uint16(1)); err == nil {
		t.Error("AppendValue accepted a uint16 for Uint8")
	}
	if _, _, err := DecodeValue(TypeUndefined, []byte{1}); err == nil {
		t.Error("DecodeValue accepted TypeUndefined")
	}
}
