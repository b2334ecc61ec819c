// Package dhcp is the appliance's DHCPv4 client (RFC 2131): it obtains a
// lease on one interface, keeps it renewed, and hands each new lease to
// whoever configures the interface.
//
// It replaces gokrazy's client in the image for three reasons measured in
// the appliance VM: that client checks the interface and its carrier once
// a second (about 2 s of every boot spent waiting on those ticks, and 9 to
// 10 wake-ups a second at rest), and its packet library builds large
// tables at start (13 MiB resident). This one follows the link through
// netlink events and sleeps until its lease needs renewing.
package dhcp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
)

// MessageType is a DHCP message's type (option 53).
type MessageType uint8

// The message types a client sends or receives.
const (
	Discover MessageType = 1
	Offer    MessageType = 2
	Request  MessageType = 3
	Decline  MessageType = 4
	Ack      MessageType = 5
	Nak      MessageType = 6
	Release  MessageType = 7
)

func (t MessageType) String() string {
	names := [...]string{"", "DHCPDISCOVER", "DHCPOFFER", "DHCPREQUEST", "DHCPDECLINE", "DHCPACK", "DHCPNAK", "DHCPRELEASE"}
	if int(t) < len(names) && t != 0 {
		return names[t]
	}
	return fmt.Sprintf("message type %d", uint8(t))
}

// Option codes (RFC 2132) the client sends or reads.
const (
	OptSubnetMask    = 1
	OptRouter        = 3
	OptDNS           = 6
	OptHostname      = 12
	OptDomainName    = 15
	OptBroadcast     = 28
	OptRequestedIP   = 50
	OptLeaseTime     = 51
	OptOverload      = 52
	OptMessageType   = 53
	OptServerID      = 54
	OptParamRequest  = 55
	OptMessage       = 56
	OptRenewalTime   = 58
	OptRebindingTime = 59
	OptClientID      = 61
)

const (
	bootRequest = 1
	bootReply   = 2
	headerLen   = 236
	// minMessageLen is BOOTP's minimum size (RFC 951's 300 bytes); some
	// servers and relays drop shorter requests.
	minMessageLen = 300
	// MaxMessageLen is the largest message the client accepts: what fits
	// a 1500-byte Ethernet frame after IP and UDP headers.
	MaxMessageLen = 1500 - 20 - 8
)

var magicCookie = [4]byte{99, 130, 83, 99}

// Option is one option of a message, in the order it is sent.
type Option struct {
	Code uint8
	Data []byte
}

// Message is a DHCP message (RFC 2131 section 2).
type Message struct {
	Reply bool // BOOTREPLY (from a server), not BOOTREQUEST
	XID   uint32
	Secs  uint16
	// Broadcast asks the server to broadcast its reply.
	Broadcast bool
	ClientIP  netip.Addr // ciaddr: the client's address while it renews
	YourIP    netip.Addr // yiaddr: the address the server offers
	ServerIP  netip.Addr // siaddr
	RelayIP   netip.Addr // giaddr
	HWAddr    net.HardwareAddr
	Options   []Option
}

// Option returns the data of the first option with code, and whether
// there is one.
func (m *Message) Option(code uint8) ([]byte, bool) {
	for _, o := range m.Options {
		if o.Code == code {
			return o.Data, true
		}
	}
	return nil, false
}

// Type returns the message's type (option 53), 0 if it has none.
func (m *Message) Type() MessageType {
	d, ok := m.Option(OptMessageType)
	if !ok || len(d) != 1 {
		return 0
	}
	return MessageType(d[0])
}

// Marshal encodes m, padded to BOOTP's minimum size.
func (m *Message) Marshal() ([]byte, error) {
	if len(m.HWAddr) > 16 {
		return nil, fmt.Errorf("dhcp: hardware address %v is longer than 16 bytes", m.HWAddr)
	}
	b := make([]byte, headerLen, minMessageLen)
	b[0] = bootRequest
	if m.Reply {
		b[0] = bootReply
	}
	b[1] = 1 // Ethernet
	b[2] = byte(len(m.HWAddr))
	binary.BigEndian.PutUint32(b[4:], m.XID)
	binary.BigEndian.PutUint16(b[8:], m.Secs)
	if m.Broadcast {
		b[10] = 0x80
	}
	for i, a := range []netip.Addr{m.ClientIP, m.YourIP, m.ServerIP, m.RelayIP} {
		if a.IsValid() {
			if !a.Is4() {
				return nil, fmt.Errorf("dhcp: address %v is not IPv4", a)
			}
			v := a.As4()
			copy(b[12+4*i:], v[:])
		}
	}
	copy(b[28:44], m.HWAddr)
	b = append(b, magicCookie[:]...)
	for _, o := range m.Options {
		if o.Code == 0 || o.Code == 255 {
			return nil, fmt.Errorf("dhcp: option code %d is reserved for padding and the end", o.Code)
		}
		if len(o.Data) > 255 {
			return nil, fmt.Errorf("dhcp: option %d has %d bytes, more than 255", o.Code, len(o.Data))
		}
		b = append(b, o.Code, byte(len(o.Data)))
		b = append(b, o.Data...)
	}
	b = append(b, 255)
	if len(b) > MaxMessageLen {
		return nil, fmt.Errorf("dhcp: message of %d bytes does not fit a frame (%d)", len(b), MaxMessageLen)
	}
	for len(b) < minMessageLen {
		b = append(b, 0)
	}
	return b, nil
}

// ErrNotDHCP is returned by Parse for a datagram that is not a DHCP
// message at all (no magic cookie): BOOTP or other traffic on port 68.
var ErrNotDHCP = errors.New("dhcp: not a DHCP message")

// Parse decodes a DHCP message. Options in the sname and file fields
// (overload, option 52) are read too. A message whose header or options
// run past its end is an error that says where.
func Parse(b []byte) (*Message, error) {
	if len(b) < headerLen+len(magicCookie) {
		return nil, fmt.Errorf("dhcp: message of %d bytes is shorter than its %d-byte header", len(b), headerLen+len(magicCookie))
	}
	if [4]byte(b[headerLen:headerLen+4]) != magicCookie {
		return nil, ErrNotDHCP
	}
	m := &Message{
		XID:       binary.BigEndian.Uint32(b[4:]),
		Secs:      binary.BigEndian.Uint16(b[8:]),
		Broadcast: b[10]&0x80 != 0,
	}
	switch b[0] {
	case bootRequest:
	case bootReply:
		m.Reply = true
	default:
		return nil, fmt.Errorf("dhcp: op %d is neither request nor reply", b[0])
	}
	if b[1] != 1 || b[2] != 6 {
		return nil, fmt.Errorf("dhcp: hardware type %d, address length %d: not Ethernet", b[1], b[2])
	}
	addrs := []*netip.Addr{&m.ClientIP, &m.YourIP, &m.ServerIP, &m.RelayIP}
	for i, a := range addrs {
		if v := netip.AddrFrom4([4]byte(b[12+4*i:])); !v.IsUnspecified() {
			*a = v
		}
	}
	m.HWAddr = net.HardwareAddr(append([]byte(nil), b[28:34]...))
	overload, err := m.parseOptions(b[headerLen+4:], "options")
	if err != nil {
		return nil, err
	}
	if overload&1 != 0 {
		if _, err := m.parseOptions(b[108:236], "file field"); err != nil {
			return nil, err
		}
	}
	if overload&2 != 0 {
		if _, err := m.parseOptions(b[44:108], "sname field"); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// parseOptions appends the options in b to m and returns the value of
// an overload option among them.
func (m *Message) parseOptions(b []byte, where string) (overload byte, err error) {
	for i := 0; i < len(b); {
		code := b[i]
		switch code {
		case 0:
			i++
			continue
		case 255:
			return overload, nil
		}
		if i+1 >= len(b) {
			return 0, fmt.Errorf("dhcp: option %d at byte %d of the %s has no length", code, i, where)
		}
		n := int(b[i+1])
		if i+2+n > len(b) {
			return 0, fmt.Errorf("dhcp: option %d at byte %d of the %s claims %d bytes, %d remain", code, i, where, n, len(b)-i-2)
		}
		data := b[i+2 : i+2+n]
		if code == OptOverload && len(data) == 1 {
			overload = data[0]
		}
		m.Options = append(m.Options, Option{Code: code, Data: append([]byte(nil), data...)})
		i += 2 + n
	}
	// Many servers pad without an end option; what was read is whole.
	return overload, nil
}
