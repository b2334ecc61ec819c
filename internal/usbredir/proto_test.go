package usbredir

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"
)

// pkt builds a packet as the usb-guest sends it.
func pkt(n negotiated, typ uint32, id uint64, hdr []byte, data ...byte) []byte {
	return appendPacket(nil, n, typ, id, hdr, data)
}

func withLength(b []byte, length uint32) []byte {
	b = append([]byte{}, b...)
	binary.LittleEndian.PutUint32(b[4:], length)
	return b
}

func TestReadPacketErrors(t *testing.T) {
	const q = negotiated(ourCaps & qemuCaps)
	hello := pkt(0, typeHello, 0, make([]byte, 64), 0, 0, 0, 0)
	ctrlIn := controlHeader(Setup{RequestType: 0x80, Request: 6, Value: 0x100, Length: 18})
	ctrlOut := controlHeader(Setup{RequestType: 0x21, Request: 0x64, Length: 6})
	bulk := func(ep uint8, length int, stream uint32) []byte {
		h := []byte{ep, 0}
		h = binary.LittleEndian.AppendUint16(h, uint16(length))
		h = binary.LittleEndian.AppendUint32(h, stream)
		return binary.LittleEndian.AppendUint16(h, uint16(length>>16))
	}
	for _, tc := range []struct {
		name  string
		n     negotiated
		hello bool
		in    []byte
		want  string // in the error; "" for a valid packet
	}{
		{"hello", 0, true, hello, ""},
		{"hello with odd capabilities", 0, true, pkt(0, typeHello, 0, make([]byte, 64), 1, 2, 3), "not a multiple of 4"},
		{"hello too short", 0, true, pkt(0, typeHello, 0, make([]byte, 10)), "shorter than its 64-byte header"},
		{"hello with many capabilities", 0, true, pkt(0, typeHello, 0, make([]byte, 64), make([]byte, 4*65)...), "capability words"},
		{"not a hello first", 0, true, pkt(0, typeReset, 0, nil), "want hello"},
		{"second hello", q, false, pkt(q, typeHello, 0, make([]byte, 64)), "second hello"},
		{"truncated header", q, false, pkt(q, typeReset, 0, nil)[:10], "truncated packet header"},
		{"truncated body", q, false, pkt(q, typeControlPacket, 1, ctrlIn)[:20], "reading 10 bytes"},
		{"unknown type", q, false, pkt(q, 77, 1, nil), "unknown packet type 77"},
		{"host-only type", q, false, pkt(q, typeDeviceConnect, 1, make([]byte, 10)), "only a usb-host sends"},
		{"reset with data", q, false, withLength(pkt(q, typeReset, 0, []byte{1}), 1), "reset of length 1, want 0"},
		{"huge length", q, false, withLength(pkt(q, typeBulkPacket, 0, nil), 0xffffffff), "longer than"},
		{"set_configuration without header", q, false, pkt(q, typeSetConfiguration, 1, nil), "shorter than its 1-byte header"},
		{"interrupt receiving on OUT endpoint", q, false, pkt(q, typeStartInterruptReceiving, 1, []byte{0x02}), "OUT endpoint 0x02"},
		{"control IN", q, false, pkt(q, typeControlPacket, 1, ctrlIn), ""},
		{"control IN with data", q, false, pkt(q, typeControlPacket, 1, ctrlIn, 1, 2), "IN control packet (id 1) with 2 bytes"},
		{"control OUT", q, false, pkt(q, typeControlPacket, 1, ctrlOut, 1, 0x40, 0, 0, 0, 0), ""},
		{"control OUT short data", q, false, pkt(q, typeControlPacket, 1, ctrlOut, 1, 0x40), "2 bytes of data, length 6"},
		{"control endpoint mismatch", q, false, pkt(q, typeControlPacket, 1, append([]byte{0x80}, ctrlOut[1:]...), 1, 0x40, 0, 0, 0, 0), "endpoint 0x80 with request type 0x21"},
		{"bulk OUT", q, false, pkt(q, typeBulkPacket, 1, bulk(0x02, 2, 0), 1, 2), ""},
		{"bulk OUT short data", q, false, pkt(q, typeBulkPacket, 1, bulk(0x02, 3, 0), 1, 2), "2 bytes of data, length 3"},
		{"bulk IN with data", q, false, pkt(q, typeBulkPacket, 1, bulk(0x81, 512, 0), 1), "bulk IN packet (id 1) on endpoint 0x81 with 1 bytes"},
		{"bulk stream", q, false, pkt(q, typeBulkPacket, 1, bulk(0x81, 512, 3)), "stream 3"},
		{"bulk length beyond the limit", q, false, pkt(q, typeBulkPacket, 1, bulk(0x81, 0xffff_ffff, 0)), "longer than"},
		{"bulk streams", q, false, pkt(q, typeAllocBulkStreams, 1, make([]byte, 8)), "bulk_streams capability"},
		{"filter", q, false, pkt(q, typeFilterFilter, 1, nil, 0), "filter capability"},
		{"bulk receiving", q, false, pkt(q, typeStartBulkReceiving, 1, make([]byte, 10)), "bulk_receiving capability"},
		{"interrupt IN from guest", q, false, pkt(q, typeInterruptPacket, 1, []byte{0x83, 0, 0, 0}), "IN endpoint 0x83"},
		{"interrupt OUT short", q, false, pkt(q, typeInterruptPacket, 1, []byte{0x04, 0, 5, 0}, 1), "1 bytes of data, length 5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := readPacket(bytes.NewReader(tc.in), tc.n, tc.hello)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("readPacket: %v", err)
			case tc.want != "" && err == nil:
				t.Errorf("readPacket accepted it, want an error with %q", tc.want)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Errorf("readPacket: %v, want an error with %q", err, tc.want)
			case tc.want != "" && !errors.Is(err, ErrProtocol):
				t.Errorf("readPacket: %v does not wrap ErrProtocol", err)
			}
		})
	}
	if _, err := readPacket(bytes.NewReader(nil), 0, true); err != io.EOF {
		t.Errorf("readPacket at the end of the stream: %v, want io.EOF", err)
	}
}

// FuzzReadPacket feeds arbitrary streams to the reader: it must not panic,
// and what it accepts must encode back to the same bytes.
func FuzzReadPacket(f *testing.F) {
	const q = negotiated(ourCaps & qemuCaps)
	f.Add(uint32(qemuCaps), pkt(q, typeControlPacket, 1, controlHeader(Setup{RequestType: 0x80, Request: 6, Value: 0x100, Length: 18})))
	f.Add(uint32(qemuCaps), pkt(q, typeBulkPacket, 2, []byte{2, 0, 3, 0, 0, 0, 0, 0, 0, 0}, 1, 2, 3))
	f.Add(uint32(0), pkt(0, typeBulkPacket, 2, []byte{0x81, 0, 0, 2, 0, 0, 0, 0}))
	f.Add(uint32(qemuCaps), append(pkt(q, typeStartInterruptReceiving, 0, []byte{0x83}), pkt(q, typeCancelDataPacket, 9, nil)...))
	f.Add(uint32(qemuCaps), pkt(q, typeSetAltSetting, 5, []byte{0, 0}))
	f.Fuzz(func(t *testing.T, caps uint32, in []byte) {
		n := negotiated(caps & ourCaps)
		r := bytes.NewReader(in)
		for {
			start := len(in) - r.Len()
			p, err := readPacket(r, n, false)
			if err != nil {
				if err != io.EOF && !errors.Is(err, ErrProtocol) {
					t.Fatalf("error not wrapping ErrProtocol: %v", err)
				}
				return
			}
			end := len(in) - r.Len()
			if got := appendPacket(nil, n, p.typ, p.id, p.hdr, p.data); !bytes.Equal(got, in[start:end]) {
				t.Fatalf("packet %s does not encode back:\n got % x\nwant % x", typeName(p.typ), got, in[start:end])
			}
		}
	})
}
