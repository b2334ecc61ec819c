// Package tiff has what the readers of TIFF structures share: an EXIF
// block in a JPEG (appliance/process) and a TIFF-based RAW file's IFDs
// (cloud/gallery) begin alike.
package tiff

import "encoding/binary"

// ByteOrder is the byte order a TIFF header declares ("II*\0": little
// endian, "MM\0*": big endian), or nil if header does not begin as a
// TIFF's.
func ByteOrder(header []byte) binary.ByteOrder {
	if len(header) < 4 {
		return nil
	}
	switch string(header[:4]) {
	case "II*\x00":
		return binary.LittleEndian
	case "MM\x00*":
		return binary.BigEndian
	}
	return nil
}
