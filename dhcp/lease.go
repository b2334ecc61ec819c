package dhcp

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Lease is what a server's DHCPACK grants.
type Lease struct {
	Addr      netip.Prefix // the address with the subnet's length
	Router    netip.Addr   // invalid when the server names none
	DNS       []netip.Addr
	Domain    string
	Server    netip.Addr // the server's identifier (option 54)
	Duration  time.Duration
	T1, T2    time.Duration // renewal and rebinding times
	Infinite  bool          // a lease that never expires
	Acquired  time.Time     // when the DHCPACK arrived
	Broadcast netip.Addr
}

// infinite is the lease time that means forever (RFC 2131 section 3.3).
const infinite = 0xffffffff

// LeaseFrom reads the lease an ACK grants, received at now. An ACK
// without a usable address or lease time is an error naming what is
// wrong: the client keeps asking rather than configure a broken address.
func LeaseFrom(ack *Message, now time.Time) (Lease, error) {
	if ack.Type() != Ack {
		return Lease{}, fmt.Errorf("dhcp: %v is not a DHCPACK", ack.Type())
	}
	ip := ack.YourIP
	if !ip.IsValid() || !ip.Is4() || ip.IsUnspecified() || ip.IsMulticast() || ip.IsLoopback() || ip == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return Lease{}, fmt.Errorf("dhcp: DHCPACK offers no usable address (yiaddr %v)", ip)
	}
	l := Lease{Acquired: now}
	bits := 24 // a server that sends no mask: the classful guess gokrazy made
	if d, ok := ack.Option(OptSubnetMask); ok {
		var err error
		if bits, err = maskBits(d); err != nil {
			return Lease{}, err
		}
	}
	l.Addr = netip.PrefixFrom(ip, bits)
	if d, ok := ack.Option(OptRouter); ok {
		routers, err := addrs(d, "router")
		if err != nil {
			return Lease{}, err
		}
		if len(routers) > 0 {
			l.Router = routers[0]
		}
	}
	if d, ok := ack.Option(OptDNS); ok {
		var err error
		if l.DNS, err = addrs(d, "DNS server"); err != nil {
			return Lease{}, err
		}
	}
	if d, ok := ack.Option(OptDomainName); ok {
		// Goes into resolv.conf: one word of host-name characters only.
		dom := strings.TrimRight(string(d), "\x00")
		if !validDomain(dom) {
			return Lease{}, fmt.Errorf("dhcp: domain name %q is not a domain name", dom)
		}
		l.Domain = dom
	}
	if d, ok := ack.Option(OptServerID); ok {
		s, err := addrs(d, "server identifier")
		if err != nil || len(s) != 1 {
			return Lease{}, fmt.Errorf("dhcp: server identifier %v is not one IPv4 address", d)
		}
		l.Server = s[0]
	}
	if d, ok := ack.Option(OptBroadcast); ok {
		if b, err := addrs(d, "broadcast address"); err == nil && len(b) == 1 {
			l.Broadcast = b[0]
		}
	}
	d, ok := ack.Option(OptLeaseTime)
	if !ok || len(d) != 4 {
		return Lease{}, fmt.Errorf("dhcp: DHCPACK has no lease time (option 51)")
	}
	secs := binary.BigEndian.Uint32(d)
	if secs == infinite {
		l.Infinite = true
		return l, nil
	}
	if secs == 0 {
		return Lease{}, fmt.Errorf("dhcp: DHCPACK grants a lease of 0 seconds")
	}
	l.Duration = time.Duration(secs) * time.Second
	// RFC 2131 section 4.4.5's defaults, used also when a server's
	// times are out of order.
	l.T1, l.T2 = l.Duration/2, l.Duration-l.Duration/8
	t1, ok1 := seconds(ack, OptRenewalTime)
	t2, ok2 := seconds(ack, OptRebindingTime)
	if ok2 && t2 > 0 && t2 < l.Duration {
		l.T2 = t2
	}
	if ok1 && t1 > 0 && t1 < l.T2 {
		l.T1 = t1
	}
	if l.T1 >= l.T2 {
		l.T1, l.T2 = l.Duration/2, l.Duration-l.Duration/8
	}
	return l, nil
}

// Expiry returns when the lease ends; the zero time for an infinite one.
func (l Lease) Expiry() time.Time {
	if l.Infinite {
		return time.Time{}
	}
	return l.Acquired.Add(l.Duration)
}

// secondsLeft returns the whole seconds left of a finite lease at now,
// rounded up and at least 1: a lifetime of 0 would make the address
// permanent.
func (l Lease) secondsLeft(now time.Time) int {
	left := l.Expiry().Sub(now)
	return max(1, int((left+time.Second-1)/time.Second))
}

func (l Lease) String() string {
	s := []string{"IP " + l.Addr.String()}
	if l.Router.IsValid() {
		s = append(s, "router "+l.Router.String())
	}
	if len(l.DNS) > 0 {
		s = append(s, fmt.Sprintf("DNS %v", l.DNS))
	}
	if l.Infinite {
		s = append(s, "forever")
	} else {
		s = append(s, fmt.Sprintf("for %v (renew at %v)", l.Duration, l.T1))
	}
	return strings.Join(s, ", ")
}

func seconds(m *Message, code uint8) (time.Duration, bool) {
	d, ok := m.Option(code)
	if !ok || len(d) != 4 {
		return 0, false
	}
	return time.Duration(binary.BigEndian.Uint32(d)) * time.Second, true
}

func maskBits(d []byte) (int, error) {
	if len(d) != 4 {
		return 0, fmt.Errorf("dhcp: subnet mask of %d bytes, want 4", len(d))
	}
	m := binary.BigEndian.Uint32(d)
	bits := 0
	for m&0x80000000 != 0 {
		bits++
		m <<= 1
	}
	if m != 0 || bits == 0 || bits > 30 {
		return 0, fmt.Errorf("dhcp: subnet mask %d.%d.%d.%d is not a usable contiguous mask", d[0], d[1], d[2], d[3])
	}
	return bits, nil
}

func addrs(d []byte, what string) ([]netip.Addr, error) {
	if len(d) == 0 || len(d)%4 != 0 {
		return nil, fmt.Errorf("dhcp: %s option of %d bytes is not a list of IPv4 addresses", what, len(d))
	}
	var out []netip.Addr
	for i := 0; i < len(d); i += 4 {
		out = append(out, netip.AddrFrom4([4]byte(d[i:])))
	}
	return out, nil
}

func validDomain(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.') {
			return false
		}
	}
	return true
}
