package usbredir

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Packet types (usb_redir_* in usbredirproto.h).
const (
	typeHello                    = 0
	typeDeviceConnect            = 1
	typeDeviceDisconnect         = 2
	typeReset                    = 3
	typeInterfaceInfo            = 4
	typeEPInfo                   = 5
	typeSetConfiguration         = 6
	typeGetConfiguration         = 7
	typeConfigurationStatus      = 8
	typeSetAltSetting            = 9
	typeGetAltSetting            = 10
	typeAltSettingStatus         = 11
	typeStartISOStream           = 12
	typeStopISOStream            = 13
	typeISOStreamStatus          = 14
	typeStartInterruptReceiving  = 15
	typeStopInterruptReceiving   = 16
	typeInterruptReceivingStatus = 17
	typeAllocBulkStreams         = 18
	typeFreeBulkStreams          = 19
	typeBulkStreamsStatus        = 20
	typeCancelDataPacket         = 21
	typeFilterReject             = 22
	typeFilterFilter             = 23
	typeDeviceDisconnectAck      = 24
	typeStartBulkReceiving       = 25
	typeStopBulkReceiving        = 26
	typeBulkReceivingStatus      = 27

	typeControlPacket      = 100
	typeBulkPacket         = 101
	typeISOPacket          = 102
	typeInterruptPacket    = 103
	typeBufferedBulkPacket = 104
)

var typeNames = map[uint32]string{
	typeHello: "hello", typeDeviceConnect: "device_connect", typeDeviceDisconnect: "device_disconnect",
	typeReset: "reset", typeInterfaceInfo: "interface_info", typeEPInfo: "ep_info",
	typeSetConfiguration: "set_configuration", typeGetConfiguration: "get_configuration",
	typeConfigurationStatus: "configuration_status", typeSetAltSetting: "set_alt_setting",
	typeGetAltSetting: "get_alt_setting", typeAltSettingStatus: "alt_setting_status",
	typeStartISOStream: "start_iso_stream", typeStopISOStream: "stop_iso_stream",
	typeISOStreamStatus: "iso_stream_status", typeStartInterruptReceiving: "start_interrupt_receiving",
	typeStopInterruptReceiving: "stop_interrupt_receiving", typeInterruptReceivingStatus: "interrupt_receiving_status",
	typeAllocBulkStreams: "alloc_bulk_streams", typeFreeBulkStreams: "free_bulk_streams",
	typeBulkStreamsStatus: "bulk_streams_status", typeCancelDataPacket: "cancel_data_packet",
	typeFilterReject: "filter_reject", typeFilterFilter: "filter_filter",
	typeDeviceDisconnectAck: "device_disconnect_ack", typeStartBulkReceiving: "start_bulk_receiving",
	typeStopBulkReceiving: "stop_bulk_receiving", typeBulkReceivingStatus: "bulk_receiving_status",
	typeControlPacket: "control_packet", typeBulkPacket: "bulk_packet", typeISOPacket: "iso_packet",
	typeInterruptPacket: "interrupt_packet", typeBufferedBulkPacket: "buffered_bulk_packet",
}

func typeName(t uint32) string {
	if n, ok := typeNames[t]; ok {
		return n
	}
	return fmt.Sprintf("type %d", t)
}

// Transfer status codes (usb_redir_success…).
const (
	statusSuccess   = 0
	statusCancelled = 1
	statusInval     = 2
	statusIOError   = 3
	statusStall     = 4
	statusTimeout   = 5
	statusBabble    = 6
)

// Capability bits.
const (
	capBulkStreams          = 0
	capConnectDeviceVersion = 1
	capFilter               = 2
	capDeviceDisconnectAck  = 3
	capEPInfoMaxPacketSize  = 4
	cap64BitIDs             = 5
	cap32BitBulkLength      = 6
	capBulkReceiving        = 7
)

// ourCaps are the capabilities this side advertises.
const ourCaps = 1<<capConnectDeviceVersion | 1<<capDeviceDisconnectAck |
	1<<capEPInfoMaxPacketSize | 1<<cap64BitIDs | 1<<cap32BitBulkLength

// Sizes.
const (
	versionLen = 64
	// maxTransfer bounds the data of one packet, as libusbredirparser does
	// (128 MiB); a longer length is malformed.
	maxTransfer = 128 << 20
	// maxTypeHeader is the longest type-specific header.
	maxTypeHeader = 288
	// maxHelloCaps bounds the capability words of a hello we accept.
	maxHelloCaps = 64
)

// ErrProtocol is wrapped by every error about malformed or unexpected
// bytes from the peer.
var ErrProtocol = errors.New("usbredir: protocol error")

func protoErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrProtocol}, args...)...)
}

// packet is one packet from the usb-guest: its type, id, type-specific
// header and data.
type packet struct {
	typ  uint32
	id   uint64
	hdr  []byte
	data []byte
}

// negotiated holds the capabilities both sides have (0 before the hello).
type negotiated uint32

func (n negotiated) has(c int) bool { return n&(1<<c) != 0 }

func (n negotiated) headerLen() int {
	if n.has(cap64BitIDs) {
		return 16
	}
	return 12
}

// guestTypeHeaderLen returns the length of the type-specific header of a
// packet the usb-guest may send, or an error for types it may not send to
// us given the negotiated capabilities.
func (n negotiated) guestTypeHeaderLen(t uint32) (int, error) {
	switch t {
	case typeHello:
		return versionLen, nil
	case typeReset, typeGetConfiguration, typeCancelDataPacket, typeDeviceDisconnectAck:
		return 0, nil
	case typeSetConfiguration, typeGetAltSetting, typeStopISOStream,
		typeStartInterruptReceiving, typeStopInterruptReceiving:
		return 1, nil
	case typeSetAltSetting:
		return 2, nil
	case typeStartISOStream:
		return 3, nil
	case typeControlPacket:
		return 10, nil
	case typeBulkPacket:
		if n.has(cap32BitBulkLength) {
			return 10, nil
		}
		return 8, nil
	case typeInterruptPacket, typeISOPacket:
		return 4, nil
	case typeAllocBulkStreams, typeFreeBulkStreams:
		return 0, protoErr("%s without the bulk_streams capability", typeName(t))
	case typeFilterReject, typeFilterFilter:
		return 0, protoErr("%s without the filter capability", typeName(t))
	case typeStartBulkReceiving, typeStopBulkReceiving:
		return 0, protoErr("%s without the bulk_receiving capability", typeName(t))
	}
	if _, ok := typeNames[t]; ok {
		return 0, protoErr("%s sent by the usb-guest, which only a usb-host sends", typeName(t))
	}
	return 0, protoErr("unknown packet type %d", t)
}

// readPacket reads one packet from the usb-guest and checks it: a known
// type allowed in this direction, a length that fits the type, data only
// where the type and direction carry data, and a data length that matches
// the length field. hello tells whether the peer's hello is still awaited:
// then the packet must be a hello.
func readPacket(r io.Reader, n negotiated, hello bool) (packet, error) {
	var head [16]byte
	hl := n.headerLen()
	if _, err := io.ReadFull(r, head[:hl]); err != nil {
		if err == io.ErrUnexpectedEOF {
			return packet{}, protoErr("truncated packet header: %w", err)
		}
		return packet{}, err
	}
	p := packet{typ: binary.LittleEndian.Uint32(head[0:])}
	length := binary.LittleEndian.Uint32(head[4:])
	if hl == 16 {
		p.id = binary.LittleEndian.Uint64(head[8:])
	} else {
		p.id = uint64(binary.LittleEndian.Uint32(head[8:]))
	}
	if hello && p.typ != typeHello {
		return p, protoErr("first packet is %s (length %d), want hello", typeName(p.typ), length)
	}
	if !hello && p.typ == typeHello {
		return p, protoErr("second hello")
	}
	thl, err := n.guestTypeHeaderLen(p.typ)
	if err != nil {
		return p, err
	}
	if length < uint32(thl) {
		return p, protoErr("%s of length %d, shorter than its %d-byte header", typeName(p.typ), length, thl)
	}
	if length-uint32(thl) > maxTransfer {
		return p, protoErr("%s of length %d, longer than %d", typeName(p.typ), length, maxTransfer)
	}
	carries := p.typ == typeHello || p.typ == typeControlPacket || p.typ == typeBulkPacket ||
		p.typ == typeInterruptPacket || p.typ == typeISOPacket
	if !carries && length != uint32(thl) {
		return p, protoErr("%s of length %d, want %d", typeName(p.typ), length, thl)
	}
	buf := make([]byte, length)
	if _, err := io.ReadFull(r, buf); err != nil {
		return p, protoErr("%s (id %d): reading %d bytes: %w", typeName(p.typ), p.id, length, unexpected(err))
	}
	p.hdr, p.data = buf[:thl:thl], buf[thl:]
	return p, p.check(n)
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// check verifies the fields of a packet whose lengths are right.
func (p packet) check(n negotiated) error {
	switch p.typ {
	case typeHello:
		if len(p.data)%4 != 0 {
			return protoErr("hello with %d bytes of capabilities, not a multiple of 4", len(p.data))
		}
		if len(p.data) > 4*maxHelloCaps {
			return protoErr("hello with %d capability words", len(p.data)/4)
		}
	case typeStartInterruptReceiving, typeStopInterruptReceiving:
		if p.hdr[0]&0x80 == 0 {
			return protoErr("%s for OUT endpoint %#02x", typeName(p.typ), p.hdr[0])
		}
	case typeControlPacket:
		s := p.setup()
		if ep := p.hdr[0]; ep != s.RequestType&0x80 {
			return protoErr("control packet (id %d) on endpoint %#02x with request type %#02x", p.id, ep, s.RequestType)
		}
		if s.In() && len(p.data) != 0 {
			return protoErr("IN control packet (id %d) with %d bytes of data", p.id, len(p.data))
		}
		if !s.In() && len(p.data) != int(s.Length) {
			return protoErr("OUT control packet (id %d) with %d bytes of data, length %d", p.id, len(p.data), s.Length)
		}
	case typeBulkPacket:
		ep, length := p.bulk(n)
		if length > maxTransfer {
			return protoErr("bulk packet (id %d) of length %d, longer than %d", p.id, length, maxTransfer)
		}
		if ep&0x80 != 0 && len(p.data) != 0 {
			return protoErr("bulk IN packet (id %d) on endpoint %#02x with %d bytes of data", p.id, ep, len(p.data))
		}
		if ep&0x80 == 0 && len(p.data) != length {
			return protoErr("bulk OUT packet (id %d) on endpoint %#02x with %d bytes of data, length %d", p.id, ep, len(p.data), length)
		}
		if stream := binary.LittleEndian.Uint32(p.hdr[4:]); stream != 0 {
			return protoErr("bulk packet (id %d) on stream %d without the bulk_streams capability", p.id, stream)
		}
	case typeInterruptPacket, typeISOPacket:
		ep, length := p.hdr[0], int(binary.LittleEndian.Uint16(p.hdr[2:]))
		if ep&0x80 != 0 {
			return protoErr("%s (id %d) for IN endpoint %#02x sent by the usb-guest", typeName(p.typ), p.id, ep)
		}
		if len(p.data) != length {
			return protoErr("%s (id %d) with %d bytes of data, length %d", typeName(p.typ), p.id, len(p.data), length)
		}
	}
	return nil
}

// setup returns the setup fields of a control packet.
func (p packet) setup() Setup {
	return Setup{
		Request:     p.hdr[1],
		RequestType: p.hdr[2],
		Value:       binary.LittleEndian.Uint16(p.hdr[4:]),
		Index:       binary.LittleEndian.Uint16(p.hdr[6:]),
		Length:      binary.LittleEndian.Uint16(p.hdr[8:]),
	}
}

// bulk returns the endpoint and length of a bulk packet.
func (p packet) bulk(n negotiated) (ep uint8, length int) {
	length = int(binary.LittleEndian.Uint16(p.hdr[2:]))
	if n.has(cap32BitBulkLength) {
		length |= int(binary.LittleEndian.Uint16(p.hdr[8:])) << 16
	}
	return p.hdr[0], length
}

// helloCaps returns the capability bits of a hello packet (the first word;
// later words hold no capability we know).
func (p packet) helloCaps() uint32 {
	if len(p.data) < 4 {
		return 0
	}
	return binary.LittleEndian.Uint32(p.data)
}

// helloVersion returns the peer's version string.
func (p packet) helloVersion() string {
	v := p.hdr
	for i, b := range v {
		if b == 0 {
			return string(v[:i])
		}
	}
	return string(v)
}

// appendPacket appends a packet from the usb-host to b.
func appendPacket(b []byte, n negotiated, typ uint32, id uint64, hdr, data []byte) []byte {
	b = binary.LittleEndian.AppendUint32(b, typ)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(hdr)+len(data)))
	if n.has(cap64BitIDs) {
		b = binary.LittleEndian.AppendUint64(b, id)
	} else {
		b = binary.LittleEndian.AppendUint32(b, uint32(id))
	}
	b = append(b, hdr...)
	return append(b, data...)
}

// helloHeader returns the type header and data of our hello.
func helloHeader(version string) (hdr, data []byte) {
	hdr = make([]byte, versionLen)
	copy(hdr[:versionLen-1], version)
	return hdr, binary.LittleEndian.AppendUint32(nil, ourCaps)
}
