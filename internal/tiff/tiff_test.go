package tiff

import (
	"encoding/binary"
	"testing"
)

func TestByteOrder(t *testing.T) {
	for _, c := range []struct {
		in   string
		want binary.ByteOrder
	}{
		{"II*\x00\x08\x00\x00\x00", binary.LittleEndian},
		{"MM\x00*\x00\x00\x00\x08", binary.BigEndian},
		{"II*", nil},
		{"MM*\x00", nil},
		{"\xff\xd8\xff\xe0", nil},
		{"", nil},
	} {
		if got := ByteOrder([]byte(c.in)); got != c.want {
			t.Errorf("ByteOrder(%q) = %v, want %v", c.in, got, c.want)
		}
	}
}
