package dhcp

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

var testMAC = net.HardwareAddr{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}

// ack builds a server's DHCPACK as dnsmasq sends it.
func ack(xid uint32, yiaddr string, opts ...Option) *Message {
	return &Message{
		Reply: true, XID: xid, YourIP: netip.MustParseAddr(yiaddr), HWAddr: testMAC,
		Options: append([]Option{{OptMessageType, []byte{byte(Ack)}}}, opts...),
	}
}

func u32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

func ip4(s string) []byte { return netip.MustParseAddr(s).AsSlice() }

func TestMarshalParseRoundTrip(t *testing.T) {
	m := ack(0xdeadbeef, "10.0.2.15",
		Option{OptSubnetMask, ip4("255.255.255.0")},
		Option{OptRouter, ip4("10.0.2.2")},
		Option{OptLeaseTime, u32(86400)},
	)
	m.ClientIP = netip.MustParseAddr("10.0.2.14")
	m.Secs, m.Broadcast = 7, true
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != minMessageLen {
		t.Errorf("marshalled %d bytes, want BOOTP's minimum %d", len(b), minMessageLen)
	}
	got, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Reply || got.XID != m.XID || got.Secs != 7 || !got.Broadcast || got.YourIP != m.YourIP || got.ClientIP != m.ClientIP || !bytes.Equal(got.HWAddr, testMAC) {
		t.Errorf("header: got %+v, want %+v", got, m)
	}
	if got.Type() != Ack || len(got.Options) != len(m.Options) {
		t.Errorf("options: got %v, want %v", got.Options, m.Options)
	}
	if r, _ := got.Option(OptRouter); !bytes.Equal(r, ip4("10.0.2.2")) {
		t.Errorf("router option %v", r)
	}
}

func TestParseRejectsMalformed(t *testing.T) {
	good, err := ack(1, "10.0.0.5", Option{OptLeaseTime, u32(60)}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	mutate := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	for _, tc := range []struct {
		name string
		b    []byte
		want string
	}{
		{"short", good[:100], "shorter than its"},
		{"bad op", mutate(func(b []byte) []byte { b[0] = 9; return b }), "neither request nor reply"},
		{"not ethernet", mutate(func(b []byte) []byte { b[2] = 16; return b }), "not Ethernet"},
		{"option past the end", mutate(func(b []byte) []byte { return append(b[:240], OptRouter, 8, 10, 0) }), "claims 8 bytes, 2 remain"},
		{"option without length", mutate(func(b []byte) []byte { return append(b[:240], OptRouter) }), "has no length"},
		{"overloaded file field truncated", mutate(func(b []byte) []byte {
			b[108], b[109] = OptDNS, 200 // in the file field, longer than it
			return append(b[:240], OptOverload, 1, 1, 255)
		}), "of the file field claims 200 bytes"},
	} {
		if _, err := Parse(tc.b); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
	if _, err := Parse(mutate(func(b []byte) []byte { b[236] = 0; return b })); err != ErrNotDHCP {
		t.Errorf("no magic cookie: %v, want ErrNotDHCP", err)
	}
}

func TestParseOverload(t *testing.T) {
	b, err := ack(1, "10.0.0.5", Option{OptOverload, []byte{3}}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	copy(b[108:], []byte{OptLeaseTime, 4, 0, 0, 0, 60, 255})
	copy(b[44:], []byte{OptRouter, 4, 10, 0, 0, 1, 255})
	m, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	l, err := LeaseFrom(m, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if l.Duration != time.Minute || l.Router != netip.MustParseAddr("10.0.0.1") {
		t.Errorf("lease from overloaded fields: %v", l)
	}
}

func TestMarshalRejects(t *testing.T) {
	for name, m := range map[string]*Message{
		"long option":  {HWAddr: testMAC, Options: []Option{{OptHostname, make([]byte, 256)}}},
		"pad code":     {HWAddr: testMAC, Options: []Option{{0, nil}}},
		"IPv6 ciaddr":  {HWAddr: testMAC, ClientIP: netip.MustParseAddr("::1")},
		"long address": {HWAddr: make([]byte, 17)},
		"too big":      {HWAddr: testMAC, Options: []Option{{1, make([]byte, 255)}, {2, make([]byte, 255)}, {3, make([]byte, 255)}, {4, make([]byte, 255)}, {5, make([]byte, 255)}}},
	} {
		if _, err := m.Marshal(); err == nil {
			t.Errorf("%s: marshalled without error", name)
		}
	}
}

func TestLeaseFrom(t *testing.T) {
	now := time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)
	base := []Option{{OptSubnetMask, ip4("255.255.254.0")}, {OptServerID, ip4("10.0.2.2")}}
	with := func(o ...Option) *Message { return ack(1, "10.0.2.15", append(append([]Option{}, base...), o...)...) }
	l, err := LeaseFrom(with(
		Option{OptLeaseTime, u32(3600)}, Option{OptRouter, ip4("10.0.2.2")},
		Option{OptDNS, append(ip4("10.0.2.3"), ip4("10.0.2.4")...)}, Option{OptDomainName, []byte("site.example")},
	), now)
	if err != nil {
		t.Fatal(err)
	}
	if l.Addr != netip.MustParsePrefix("10.0.2.15/23") || l.Router != netip.MustParseAddr("10.0.2.2") || len(l.DNS) != 2 || l.Domain != "site.example" || l.Server != netip.MustParseAddr("10.0.2.2") {
		t.Errorf("lease %+v", l)
	}
	if l.T1 != 30*time.Minute || l.T2 != 3150*time.Second || !l.Expiry().Equal(now.Add(time.Hour)) {
		t.Errorf("times: T1 %v T2 %v expiry %v; want RFC 2131's defaults, 1 h", l.T1, l.T2, l.Expiry())
	}

	// The address's lifetime is what is left of the lease, not its
	// length: Configure runs again after a carrier loss.
	for at, want := range map[time.Duration]int{0: 3600, 40 * time.Minute: 1200, 40*time.Minute + 500*time.Millisecond: 1200, time.Hour - time.Millisecond: 1, time.Hour: 1, 2 * time.Hour: 1} {
		if got := l.secondsLeft(now.Add(at)); got != want {
			t.Errorf("%v into a 1 h lease: %d s left, want %d", at, got, want)
		}
	}

	l, err = LeaseFrom(with(Option{OptLeaseTime, u32(600)}, Option{OptRenewalTime, u32(100)}, Option{OptRebindingTime, u32(200)}), now)
	if err != nil || l.T1 != 100*time.Second || l.T2 != 200*time.Second {
		t.Errorf("server's T1, T2: %v, %v, %v", l.T1, l.T2, err)
	}
	l, err = LeaseFrom(with(Option{OptLeaseTime, u32(600)}, Option{OptRenewalTime, u32(500)}, Option{OptRebindingTime, u32(900)}), now)
	if err != nil || l.T1 != 500*time.Second || l.T2 != 525*time.Second {
		t.Errorf("T2 past the lease's end: T1 %v, T2 %v (want the server's T1, the default T2), %v", l.T1, l.T2, err)
	}
	l, err = LeaseFrom(with(Option{OptLeaseTime, u32(600)}, Option{OptRenewalTime, u32(550)}, Option{OptRebindingTime, u32(400)}), now)
	if err != nil || l.T1 != 300*time.Second || l.T2 != 400*time.Second {
		t.Errorf("T1 after T2: T1 %v, T2 %v (want the default T1, the server's T2), %v", l.T1, l.T2, err)
	}
	l, err = LeaseFrom(with(Option{OptLeaseTime, u32(infinite)}), now)
	if err != nil || !l.Infinite || !l.Expiry().IsZero() {
		t.Errorf("infinite lease: %+v, %v", l, err)
	}

	for name, tc := range map[string]struct {
		m    *Message
		want string
	}{
		"no lease time":  {with(), "no lease time"},
		"zero lease":     {with(Option{OptLeaseTime, u32(0)}), "0 seconds"},
		"holey mask":     {ack(1, "10.0.2.15", Option{OptSubnetMask, ip4("255.0.255.0")}, Option{OptLeaseTime, u32(60)}), "not a usable contiguous mask"},
		"/32 mask":       {ack(1, "10.0.2.15", Option{OptSubnetMask, ip4("255.255.255.255")}, Option{OptLeaseTime, u32(60)}), "not a usable"},
		"short router":   {with(Option{OptLeaseTime, u32(60)}, Option{OptRouter, []byte{10, 0}}), "router option of 2 bytes"},
		"domain inject":  {with(Option{OptLeaseTime, u32(60)}, Option{OptDomainName, []byte("x\nnameserver 6.6.6.6")}), "is not a domain name"},
		"no address":     {ack(1, "0.0.0.0", Option{OptLeaseTime, u32(60)}), "no usable address"},
		"multicast":      {ack(1, "224.0.0.1", Option{OptLeaseTime, u32(60)}), "no usable address"},
		"an offer":       {&Message{Reply: true, YourIP: netip.MustParseAddr("10.0.0.2"), Options: []Option{{OptMessageType, []byte{byte(Offer)}}}}, "not a DHCPACK"},
		"two server ids": {with(Option{OptLeaseTime, u32(60)}, Option{OptServerID, ip4("1.2.3.4")}), ""},
	} {
		_, err := LeaseFrom(tc.m, now)
		if tc.want == "" {
			if err != nil {
				t.Errorf("%s: %v", name, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", name, err, tc.want)
		}
	}
}

func TestUDPDatagram(t *testing.T) {
	payload := []byte("a DHCP message, odd length")
	src, dst := netip.MustParseAddr("10.0.2.15"), netip.MustParseAddr("255.255.255.255")
	b := udpDatagram(src, dst, 68, 67, payload)
	if c := checksum(0, b[:20]); c != 0xffff {
		t.Errorf("IP header checksum does not verify: sums to %#x", c)
	}
	pseudo := append(append(append([]byte{}, src.AsSlice()...), dst.AsSlice()...), 0, 17, 0, byte(len(b)-20))
	if c := checksum(uint32(checksum(0, pseudo)), b[20:]); c != 0xffff {
		t.Errorf("UDP checksum does not verify: sums to %#x", c)
	}
	if _, err := udpPayload(b, 68); err == nil {
		t.Error("a datagram to port 67 accepted for port 68")
	}
	got, err := udpPayload(b, 67)
	if err != nil || !bytes.Equal(got, payload) {
		t.Errorf("payload %q, %v", got, err)
	}
	frag := append([]byte(nil), b...)
	frag[6] = 0x20 // more fragments
	if _, err := udpPayload(frag, 67); err == nil {
		t.Error("a fragment accepted")
	}
	if _, err := udpPayload(b[:30], 67); err == nil {
		t.Error("a truncated datagram accepted")
	}
}

func FuzzParse(f *testing.F) {
	for _, m := range []*Message{
		ack(1, "10.0.0.5", Option{OptLeaseTime, u32(60)}, Option{OptRouter, ip4("10.0.0.1")}),
		ack(2, "192.168.1.9", Option{OptOverload, []byte{3}}, Option{OptSubnetMask, ip4("255.255.255.0")}),
	} {
		b, err := m.Marshal()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse(b)
		if err != nil {
			return
		}
		// Whatever parses yields a lease or an error, never a panic, and
		// a lease's address is one a host can take.
		if l, err := LeaseFrom(m, time.Now()); err == nil {
			if !l.Addr.IsValid() || l.Addr.Bits() < 1 || l.Addr.Bits() > 30 {
				t.Errorf("lease with address %v", l.Addr)
			}
			if !l.Infinite && (l.T1 <= 0 || l.T1 >= l.T2 || l.T2 >= l.Duration) {
				t.Errorf("lease times T1 %v T2 %v of %v", l.T1, l.T2, l.Duration)
			}
		}
	})
}
