package dhcp

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// fakeServer answers as a DHCP server on a shared link (dnsmasq's ways: a
// lease from its pool, NAK for an address it does not hand out, silence
// when it is down). Each Open of the client is a new fakeConn on it.
type fakeServer struct {
	mu        sync.Mutex
	pool      string // the address it hands out
	leaseSecs uint32
	t1, t2    uint32 // 0: not sent
	drop      int    // requests to ignore, as if lost
	silent    bool
	nakNext   int // REQUESTs to refuse
	badAcks   int // ACKs to send without a lease time
	seen      []*Message
	foreign   bool // also answer with another xid and another MAC first
	conn      *fakeConn
}

var serverID = netip.MustParseAddr("10.0.0.1")

func (s *fakeServer) open() (Conn, error) {
	c := &fakeConn{s: s, replies: make(chan *Message, 8), closed: make(chan struct{})}
	s.mu.Lock()
	s.conn = c
	s.mu.Unlock()
	return c, nil
}

func (s *fakeServer) set(f func(s *fakeServer)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

func (s *fakeServer) messages() []*Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*Message(nil), s.seen...)
}

// count returns how many messages of type t the server saw.
func (s *fakeServer) count(t MessageType) int {
	n := 0
	for _, m := range s.messages() {
		if m.Type() == t {
			n++
		}
	}
	return n
}

func (s *fakeServer) answer(m *Message) []*Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seen = append(s.seen, m)
	if s.silent {
		return nil
	}
	if s.drop > 0 {
		s.drop--
		return nil
	}
	reply := func(t MessageType, yiaddr netip.Addr, opts ...Option) *Message {
		return &Message{Reply: true, XID: m.XID, YourIP: yiaddr, HWAddr: m.HWAddr,
			Options: append([]Option{{OptMessageType, []byte{byte(t)}}, {OptServerID, serverID.AsSlice()}}, opts...)}
	}
	pool := netip.MustParseAddr(s.pool)
	var out []*Message
	if s.foreign {
		other := reply(Offer, pool)
		other.XID++
		stranger := reply(Offer, pool)
		stranger.HWAddr = net.HardwareAddr{2, 0, 0, 0, 0, 1}
		out = append(out, other, stranger)
	}
	switch m.Type() {
	case Discover:
		return append(out, reply(Offer, pool))
	case Request:
		want := m.ClientIP
		if d, ok := m.Option(OptRequestedIP); ok {
			want = netip.AddrFrom4([4]byte(d))
		}
		if want != pool || s.nakNext > 0 {
			if s.nakNext > 0 {
				s.nakNext--
			}
			return append(out, reply(Nak, netip.Addr{}, Option{OptMessage, []byte("wrong network")}))
		}
		opts := []Option{{OptSubnetMask, ip4("255.255.255.0")}, {OptRouter, serverID.AsSlice()}}
		if s.badAcks > 0 {
			s.badAcks--
			return append(out, reply(Ack, pool, opts...))
		}
		opts = append(opts, Option{OptLeaseTime, u32(s.leaseSecs)})
		if s.t1 != 0 {
			opts = append(opts, Option{OptRenewalTime, u32(s.t1)}, Option{OptRebindingTime, u32(s.t2)})
		}
		return append(out, reply(Ack, pool, opts...))
	}
	return nil
}

type fakeConn struct {
	s       *fakeServer
	replies chan *Message
	once    sync.Once
	closed  chan struct{}
}

func (c *fakeConn) Send(m *Message, from netip.Addr) error {
	if from != m.ClientIP {
		return errors.New("source address is not ciaddr")
	}
	// Through the wire format, as a server would read it.
	b, err := m.Marshal()
	if err != nil {
		return err
	}
	req, err := Parse(b)
	if err != nil {
		return err
	}
	for _, r := range c.s.answer(req) {
		select {
		case c.replies <- r:
		case <-c.closed:
		}
	}
	return nil
}

func (c *fakeConn) Receive() (*Message, error) {
	select {
	case m := <-c.replies:
		return m, nil
	case <-c.closed:
		return nil, net.ErrClosed
	}
}

func (c *fakeConn) HardwareAddr() net.HardwareAddr { return testMAC }

func (c *fakeConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return nil
}

// hostEvent is one call the client made on its Host.
type hostEvent struct {
	configure bool
	addr      netip.Prefix
	down      bool
}

type fakeHost struct{ events chan hostEvent }

func (h *fakeHost) Configure(l Lease, down bool) error {
	h.events <- hostEvent{true, l.Addr, down}
	return nil
}

func (h *fakeHost) Unconfigure(l Lease) error {
	h.events <- hostEvent{false, l.Addr, false}
	return nil
}

// run starts a client against s; carrier is up at once.
func run(t *testing.T, s *fakeServer) (*fakeHost, chan bool) {
	t.Helper()
	h := &fakeHost{events: make(chan hostEvent, 16)}
	carrier := make(chan bool, 1)
	carrier <- true
	c := &Client{
		Hostname: "lapsebox", Open: s.open, Host: h, Carrier: carrier,
		Retransmit: 20 * time.Millisecond, MaxRetransmit: 100 * time.Millisecond,
		Logf: t.Logf,
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run returned %v, want context.Canceled", err)
		}
	})
	return h, carrier
}

func next(t *testing.T, h *fakeHost, within time.Duration) hostEvent {
	t.Helper()
	select {
	case e := <-h.events:
		return e
	case <-time.After(within):
		t.Fatalf("no host change within %v", within)
		return hostEvent{}
	}
}

func want(t *testing.T, got hostEvent, configure bool, addr string, down bool) {
	t.Helper()
	if got != (hostEvent{configure, netip.MustParsePrefix(addr), down}) {
		t.Errorf("host change %+v, want configure=%v %s down=%v", got, configure, addr, down)
	}
}

func TestAcquireRetransmitsLostDiscovers(t *testing.T) {
	t.Parallel()
	s := &fakeServer{pool: "10.0.0.10", leaseSecs: 3600, drop: 2, foreign: true}
	h, _ := run(t, s)
	want(t, next(t, h, 5*time.Second), true, "10.0.0.10/24", false)
	msgs := s.messages()
	var types []MessageType
	for _, m := range msgs {
		types = append(types, m.Type())
	}
	if len(types) != 4 || types[0] != Discover || types[1] != Discover || types[2] != Discover || types[3] != Request {
		t.Fatalf("server saw %v, want 3 DHCPDISCOVERs (2 lost) and a DHCPREQUEST", types)
	}
	req := msgs[3]
	if ip, _ := req.Option(OptRequestedIP); netip.AddrFrom4([4]byte(ip)) != netip.MustParseAddr("10.0.0.10") {
		t.Errorf("REQUEST asks for %v", ip)
	}
	if id, _ := req.Option(OptServerID); netip.AddrFrom4([4]byte(id)) != serverID {
		t.Errorf("REQUEST names server %v", id)
	}
	if name, _ := req.Option(OptHostname); string(name) != "lapsebox" {
		t.Errorf("REQUEST hostname %q", name)
	}
	if req.ClientIP.IsValid() || req.XID != msgs[2].XID {
		t.Errorf("REQUEST ciaddr %v xid %x, want none and the DISCOVER's %x", req.ClientIP, req.XID, msgs[2].XID)
	}
	if msgs[0].Secs > msgs[2].Secs {
		t.Errorf("secs went backwards: %d, %d", msgs[0].Secs, msgs[2].Secs)
	}
}

func TestNakAtRequestStartsOver(t *testing.T) {
	t.Parallel()
	s := &fakeServer{pool: "10.0.0.10", leaseSecs: 3600, nakNext: 1}
	h, _ := run(t, s)
	want(t, next(t, h, 5*time.Second), true, "10.0.0.10/24", false)
	if discovers := s.count(Discover); discovers != 2 {
		t.Errorf("%d DHCPDISCOVERs, want 2: one, a NAK, one again", discovers)
	}
}

func TestMalformedAckIsIgnored(t *testing.T) {
	t.Parallel()
	s := &fakeServer{pool: "10.0.0.10", leaseSecs: 3600, badAcks: 1}
	h, _ := run(t, s)
	want(t, next(t, h, 5*time.Second), true, "10.0.0.10/24", false)
	if requests := s.count(Request); requests != 2 {
		t.Errorf("%d DHCPREQUESTs, want 2: the first ACK had no lease time", requests)
	}
}

func TestRenewal(t *testing.T) {
	t.Parallel()
	s := &fakeServer{pool: "10.0.0.10", leaseSecs: 4, t1: 1, t2: 3}
	h, _ := run(t, s)
	want(t, next(t, h, 5*time.Second), true, "10.0.0.10/24", false)
	before := len(s.messages())
	want(t, next(t, h, 3*time.Second), true, "10.0.0.10/24", false)
	renew := s.messages()[before]
	if renew.Type() != Request || renew.ClientIP != netip.MustParseAddr("10.0.0.10") {
		t.Fatalf("renewal %v with ciaddr %v, want a DHCPREQUEST from 10.0.0.10", renew.Type(), renew.ClientIP)
	}
	if _, ok := renew.Option(OptRequestedIP); ok {
		t.Error("renewal carries a requested address (RFC 2131: not while renewing)")
	}
	if _, ok := renew.Option(OptServerID); ok {
		t.Error("renewal names a server (RFC 2131: not while renewing)")
	}
}

func TestNakAtRenewalMovesToNewAddress(t *testing.T) {
	t.Parallel()
	s := &fakeServer{pool: "10.0.0.10", leaseSecs: 2, t1: 1, t2: 1}
	h, _ := run(t, s)
	want(t, next(t, h, 5*time.Second), true, "10.0.0.10/24", false)
	s.set(func(s *fakeServer) { s.pool = "10.0.0.20" })
	want(t, next(t, h, 3*time.Second), false, "10.0.0.10/24", false)
	want(t, next(t, h, 3*time.Second), true, "10.0.0.20/24", false)
}

func TestLeaseExpiresWithoutServer(t *testing.T) {
	t.Parallel()
	s := &fakeServer{pool: "10.0.0.10", leaseSecs: 2}
	h, _ := run(t, s)
	want(t, next(t, h, 5*time.Second), true, "10.0.0.10/24", false)
	s.set(func(s *fakeServer) { s.silent = true })
	start := time.Now()
	want(t, next(t, h, 4*time.Second), false, "10.0.0.10/24", false)
	if d := time.Since(start); d < time.Second {
		t.Errorf("address removed %v after the server went silent, before the lease's end", d)
	}
	// Then it keeps asking, and takes a lease when a server answers.
	s.set(func(s *fakeServer) { s.silent = false })
	want(t, next(t, h, 3*time.Second), true, "10.0.0.10/24", false)
}

func TestCarrierLossKeepsLeaseAndConfirms(t *testing.T) {
	t.Parallel()
	s := &fakeServer{pool: "10.0.0.10", leaseSecs: 3600}
	h, carrier := run(t, s)
	want(t, next(t, h, 5*time.Second), true, "10.0.0.10/24", false)
	carrier <- false
	want(t, next(t, h, 2*time.Second), true, "10.0.0.10/24", true)
	before := len(s.messages())
	carrier <- true
	want(t, next(t, h, 2*time.Second), true, "10.0.0.10/24", false) // routes back at once
	want(t, next(t, h, 2*time.Second), true, "10.0.0.10/24", false) // the server's ACK
	confirm := s.messages()[before]
	ip, ok := confirm.Option(OptRequestedIP)
	if confirm.Type() != Request || !ok || netip.AddrFrom4([4]byte(ip)) != netip.MustParseAddr("10.0.0.10") || confirm.ClientIP.IsValid() {
		t.Errorf("after the carrier came back: %v for %v, ciaddr %v; want an INIT-REBOOT DHCPREQUEST", confirm.Type(), ip, confirm.ClientIP)
	}
}

func TestCarrierBackOnAnotherNetwork(t *testing.T) {
	t.Parallel()
	s := &fakeServer{pool: "10.0.0.10", leaseSecs: 3600}
	h, carrier := run(t, s)
	want(t, next(t, h, 5*time.Second), true, "10.0.0.10/24", false)
	carrier <- false
	want(t, next(t, h, 2*time.Second), true, "10.0.0.10/24", true)
	s.set(func(s *fakeServer) { s.pool = "10.0.0.20" })
	carrier <- true
	want(t, next(t, h, 2*time.Second), true, "10.0.0.10/24", false)
	want(t, next(t, h, 2*time.Second), false, "10.0.0.10/24", false)
	want(t, next(t, h, 2*time.Second), true, "10.0.0.20/24", false)
}
