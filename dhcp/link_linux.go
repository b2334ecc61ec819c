package dhcp

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/mdlayher/packet"
	"github.com/vishvananda/netlink"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// WatchCarrier reports the carrier of the interface called name: first
// its state once the interface exists, then each change. An interface
// that goes away counts as one without carrier; when it comes back (a
// modem re-enumerated) it is brought up again. The channel closes when
// ctx ends or netlink fails (err says why).
func WatchCarrier(ctx context.Context, name string, logf func(string, ...any)) (<-chan bool, error) {
	updates := make(chan netlink.LinkUpdate, 16)
	done := make(chan struct{})
	var subErr error
	err := netlink.LinkSubscribeWithOptions(updates, done, netlink.LinkSubscribeOptions{
		ListExisting:  true,
		ErrorCallback: func(err error) { subErr = err },
	})
	if err != nil {
		return nil, fmt.Errorf("dhcp: watching links: %w", err)
	}
	out := make(chan bool)
	go func() {
		defer close(out)
		defer close(done)
		known, last := false, false
		for {
			var u netlink.LinkUpdate
			var ok bool
			select {
			case <-ctx.Done():
				return
			case u, ok = <-updates:
				if !ok {
					if subErr != nil {
						logf("watching %s: %v", name, subErr)
					}
					return
				}
			}
			a := u.Link.Attrs()
			if a.Name != name {
				continue
			}
			up := u.Header.Type != unix.RTM_DELLINK && a.RawFlags&unix.IFF_LOWER_UP != 0
			if u.Header.Type != unix.RTM_DELLINK && a.RawFlags&unix.IFF_UP == 0 {
				// Ours to bring up: nothing else in the image does.
				if err := netlink.LinkSetUp(u.Link); err != nil {
					logf("bringing %s up: %v", name, err)
				}
			}
			if known && up == last {
				continue
			}
			known, last = true, up
			select {
			case out <- up:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

// Listen opens the interface called name for an exchange with DHCP
// servers: a packet socket that sees only UDP datagrams to port 68, so
// that a client works before it has an address.
func Listen(name string) (Conn, error) {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return nil, fmt.Errorf("dhcp: %w", err)
	}
	c, err := packet.Listen(ifi, packet.Datagram, unix.ETH_P_IP, nil)
	if err != nil {
		return nil, fmt.Errorf("dhcp: opening %s: %w", name, err)
	}
	if err := c.SetBPF(clientPortFilter); err != nil {
		c.Close()
		return nil, fmt.Errorf("dhcp: filtering %s: %w", name, err)
	}
	return &packetConn{c: c, hw: ifi.HardwareAddr}, nil
}

// clientPortFilter accepts IPv4 UDP datagrams to port 68 (the socket
// starts at the IP header): everything else the interface carries stays
// in the kernel.
var clientPortFilter = mustAssemble([]bpf.Instruction{
	bpf.LoadAbsolute{Off: 9, Size: 1}, // protocol
	bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: unix.IPPROTO_UDP, SkipTrue: 6},
	bpf.LoadAbsolute{Off: 6, Size: 2}, // flags and fragment offset
	bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: 0x1fff, SkipTrue: 4},
	bpf.LoadMemShift{Off: 0}, // X: the IP header's length
	bpf.LoadIndirect{Off: 2, Size: 2},
	bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: 68, SkipTrue: 1},
	bpf.RetConstant{Val: 0xffff},
	bpf.RetConstant{Val: 0},
})

func mustAssemble(prog []bpf.Instruction) []bpf.RawInstruction {
	raw, err := bpf.Assemble(prog)
	if err != nil {
		panic(err)
	}
	return raw
}

type packetConn struct {
	c  *packet.Conn
	hw net.HardwareAddr
}

var broadcastIP = netip.AddrFrom4([4]byte{255, 255, 255, 255})

func (p *packetConn) Send(m *Message, from netip.Addr) error {
	payload, err := m.Marshal()
	if err != nil {
		return err
	}
	if !from.IsValid() {
		from = netip.IPv4Unspecified()
	}
	_, err = p.c.WriteTo(udpDatagram(from, broadcastIP, 68, 67, payload), &packet.Addr{HardwareAddr: layerBroadcast})
	return err
}

var layerBroadcast = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

func (p *packetConn) Receive() (*Message, error) {
	buf := make([]byte, 1500)
	for {
		n, _, err := p.c.ReadFrom(buf)
		if err != nil {
			return nil, err
		}
		payload, err := udpPayload(buf[:n], 68)
		if err != nil {
			continue // not for us, or mangled: as if never sent
		}
		m, err := Parse(payload)
		if err != nil {
			continue
		}
		return m, nil
	}
}

func (p *packetConn) HardwareAddr() net.HardwareAddr { return p.hw }

func (p *packetConn) Close() error { return p.c.Close() }

// udpDatagram builds an IPv4 packet carrying a UDP datagram.
func udpDatagram(src, dst netip.Addr, sport, dport uint16, payload []byte) []byte {
	b := make([]byte, 28+len(payload))
	b[0] = 0x45
	b[1] = 0x10 // low delay, as other DHCP clients
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	b[8] = 64
	b[9] = unix.IPPROTO_UDP
	s, d := src.As4(), dst.As4()
	copy(b[12:16], s[:])
	copy(b[16:20], d[:])
	binary.BigEndian.PutUint16(b[10:], ^checksum(0, b[:20]))
	u := b[20:]
	binary.BigEndian.PutUint16(u[0:], sport)
	binary.BigEndian.PutUint16(u[2:], dport)
	binary.BigEndian.PutUint16(u[4:], uint16(8+len(payload)))
	copy(u[8:], payload)
	// The pseudo-header: addresses, protocol, UDP length.
	pseudo := make([]byte, 12)
	copy(pseudo[0:4], s[:])
	copy(pseudo[4:8], d[:])
	pseudo[9] = unix.IPPROTO_UDP
	binary.BigEndian.PutUint16(pseudo[10:], uint16(len(u)))
	sum := ^checksum(uint32(checksum(0, pseudo)), u)
	if sum == 0 {
		sum = 0xffff
	}
	binary.BigEndian.PutUint16(u[6:], sum)
	return b
}

// udpPayload returns the payload of the IPv4 UDP datagram in b if it is
// addressed to port, with an error saying why not otherwise.
func udpPayload(b []byte, port uint16) ([]byte, error) {
	if len(b) < 20 || b[0]>>4 != 4 {
		return nil, errors.New("not IPv4")
	}
	ihl := int(b[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(b[2:]))
	if ihl < 20 || total < ihl+8 || total > len(b) {
		return nil, fmt.Errorf("IPv4 header of %d bytes, total %d, in %d bytes", ihl, total, len(b))
	}
	if b[9] != unix.IPPROTO_UDP || binary.BigEndian.Uint16(b[6:])&0x1fff != 0 || b[6]&0x20 != 0 {
		return nil, errors.New("not an unfragmented UDP datagram")
	}
	u := b[ihl:total]
	if binary.BigEndian.Uint16(u[2:]) != port {
		return nil, errors.New("another port")
	}
	n := int(binary.BigEndian.Uint16(u[4:]))
	if n < 8 || n > len(u) {
		return nil, fmt.Errorf("UDP length %d in %d bytes", n, len(u))
	}
	return u[8:n], nil
}

func checksum(sum uint32, b []byte) uint16 {
	for len(b) >= 2 {
		sum += uint32(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return uint16(sum)
}

// LinkHost configures an interface through netlink as gokrazy's DHCP
// client did, so that the rest of the image sees the same system: the
// address, the subnet's route and a default route at the interface's
// priority (eth* 1, others 5, plus ExtraPriority; 1024 while the carrier
// is down, so that another interface wins), the DNS servers in
// ResolvConf, and a SIGHUP to init so that gokrazy listens on the new
// address.
type LinkHost struct {
	Name          string
	ExtraPriority int
	// ResolvConf is the resolver configuration to write (gokrazy's
	// /etc/resolv.conf points at /tmp/resolv.conf); empty: none.
	ResolvConf string
	// NotifyInit sends init SIGHUP after each change.
	NotifyInit bool
	Logf       func(string, ...any)
}

// Priority is the metric of the interface's routes while it has carrier.
func (h *LinkHost) Priority() int {
	p := 5 // wlan0, usb0 and others
	if strings.HasPrefix(h.Name, "eth") {
		p = 1
	}
	return p + h.ExtraPriority
}

// downPriority ranks a link without carrier behind every other.
const downPriority = 1024

// Configure implements Host.
func (h *LinkHost) Configure(l Lease, down bool) error {
	link, err := netlink.LinkByName(h.Name)
	if err != nil {
		return fmt.Errorf("dhcp: configuring %s: %w", h.Name, err)
	}
	addr := &netlink.Addr{IPNet: prefixNet(l.Addr)}
	if l.Broadcast.IsValid() {
		addr.Broadcast = l.Broadcast.AsSlice()
	}
	if !l.Infinite {
		// The kernel removes the address at the lease's end even if this
		// client is not there to. Configure runs again on a lease already
		// partly spent (carrier lost, confirmed): the time left, not the
		// lease's length.
		secs := l.secondsLeft(time.Now())
		addr.ValidLft, addr.PreferedLft = secs, secs
	}
	if err := netlink.AddrReplace(link, addr); err != nil {
		return fmt.Errorf("dhcp: setting %v on %s: %w", l.Addr, h.Name, err)
	}
	prio := h.Priority()
	if down {
		prio = downPriority
	}
	if err := h.setPriority(link, prio); err != nil {
		return err
	}
	if l.Router.IsValid() {
		_, all, _ := net.ParseCIDR("0.0.0.0/0")
		r := &netlink.Route{LinkIndex: link.Attrs().Index, Dst: all, Gw: l.Router.AsSlice(), Priority: prio}
		if err := netlink.RouteReplace(r); err != nil {
			return fmt.Errorf("dhcp: default route via %v on %s: %w", l.Router, h.Name, err)
		}
	}
	if len(l.DNS) > 0 && h.ResolvConf != "" {
		if err := h.writeResolvConf(l); err != nil {
			return err
		}
	}
	h.notify()
	return nil
}

// Unconfigure implements Host.
func (h *LinkHost) Unconfigure(l Lease) error {
	link, err := netlink.LinkByName(h.Name)
	if err != nil {
		return nil // gone, and its address with it
	}
	if l.Router.IsValid() {
		routes, _ := netlink.RouteList(link, netlink.FAMILY_V4)
		for _, r := range routes {
			if r.Dst == nil && r.Gw.Equal(l.Router.AsSlice()) {
				netlink.RouteDel(&r)
			}
		}
	}
	if err := netlink.AddrDel(link, &netlink.Addr{IPNet: prefixNet(l.Addr)}); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
		return fmt.Errorf("dhcp: removing %v from %s: %w", l.Addr, h.Name, err)
	}
	h.notify()
	return nil
}

// setPriority gives every IPv4 route of link the metric prio.
func (h *LinkHost) setPriority(link netlink.Link, prio int) error {
	routes, err := netlink.RouteList(link, netlink.FAMILY_V4)
	if err != nil {
		return fmt.Errorf("dhcp: listing the routes of %s: %w", h.Name, err)
	}
	for _, r := range routes {
		if r.Priority == prio {
			continue
		}
		moved := r
		moved.Flags = 0 // the kernel refuses some flags it reports
		moved.Priority = prio
		if err := netlink.RouteReplace(&moved); err != nil {
			return fmt.Errorf("dhcp: route %v on %s to metric %d: %w", r.Dst, h.Name, prio, err)
		}
		if err := netlink.RouteDel(&r); err != nil {
			return fmt.Errorf("dhcp: removing route %v on %s at metric %d: %w", r.Dst, h.Name, r.Priority, err)
		}
	}
	return nil
}

// resolvMarker marks a resolv.conf this client wrote. gokrazy's client
// wrote "generated by gokrazy/dhcp"; either is ours to replace, anything
// else that says "generated by" was written by another program (a VPN)
// and is left alone.
const resolvMarker = "# generated by lapsebox dhcp"

func (h *LinkHost) writeResolvConf(l Lease) error {
	if b, err := os.ReadFile(h.ResolvConf); err == nil {
		if bytes.Contains(b, []byte("generated by")) && !bytes.Contains(b, []byte(resolvMarker)) && !bytes.Contains(b, []byte("generated by gokrazy/dhcp")) {
			h.Logf("%s was written by another program; leaving it", h.ResolvConf)
			return nil
		}
	}
	var s strings.Builder
	s.WriteString(resolvMarker + " for " + h.Name + "\n")
	if l.Domain != "" {
		fmt.Fprintf(&s, "domain %s\nsearch %s\n", l.Domain, l.Domain)
	}
	for _, d := range l.DNS {
		fmt.Fprintf(&s, "nameserver %v\n", d)
	}
	tmp, err := os.CreateTemp(filepath.Dir(h.ResolvConf), ".resolv.conf-*")
	if err != nil {
		return fmt.Errorf("dhcp: writing resolver configuration: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(s.String()); err != nil {
		tmp.Close()
		return fmt.Errorf("dhcp: writing resolver configuration: %w", err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), h.ResolvConf)
}

func (h *LinkHost) notify() {
	if !h.NotifyInit {
		return
	}
	if err := syscall.Kill(1, syscall.SIGHUP); err != nil {
		h.Logf("telling init of the new address: %v", err)
	}
}

func prefixNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), 32)}
}
