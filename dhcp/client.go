package dhcp

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"time"
)

// Conn sends and receives the client's messages on one interface.
type Conn interface {
	// Send broadcasts m from port 68, with from as the IP source (the
	// unspecified address before the client has one).
	Send(m *Message, from netip.Addr) error
	// Receive returns the next DHCP reply sent to port 68. It returns an
	// error once the Conn is closed.
	Receive() (*Message, error)
	// HardwareAddr is the interface's link-layer address.
	HardwareAddr() net.HardwareAddr
	Close() error
}

// Host applies leases to the interface.
type Host interface {
	// Configure gives the interface the lease's address, routes and DNS
	// servers. down is true while the link has no carrier: its routes
	// then rank behind every other interface's.
	Configure(l Lease, down bool) error
	// Unconfigure removes the lease's address: it has ended.
	Unconfigure(l Lease) error
}

// Client keeps a lease on one interface. It opens its Conn only while it
// talks to a server, and otherwise sleeps until the lease needs renewing
// or the carrier changes.
type Client struct {
	Hostname string
	// Open opens the interface for an exchange with servers.
	Open func() (Conn, error)
	Host Host
	// Carrier carries the link's carrier state, first the current one,
	// then each change.
	Carrier <-chan bool
	// Retransmit is the first wait for a reply; each retry doubles it, up
	// to MaxRetransmit (RFC 2131 section 4.1: 4 s doubling to 64 s; the
	// defaults start at 1 s so that a boot on a fresh link is quick).
	Retransmit, MaxRetransmit time.Duration
	Logf                      func(format string, args ...any)

	up    bool
	lease *Lease
	hw    net.HardwareAddr // the interface's, as of the last Open
}

var (
	// errCarrierLost ends an exchange when the link goes down.
	errCarrierLost = errors.New("carrier lost")
	// errCarrierEnded ends Run when the carrier reports stop.
	errCarrierEnded = errors.New("dhcp: the link's carrier reports ended")
)

// carrierDropped takes a carrier report received while the link is up:
// errCarrierLost if the carrier went, errCarrierEnded if the reports
// ended, nil otherwise.
func (c *Client) carrierDropped(up, ok bool) error {
	if !ok {
		return errCarrierEnded
	}
	if !up {
		c.up = false
		return errCarrierLost
	}
	return nil
}

// timerUntil returns a channel that receives at t, or nil (never) for the
// zero time, and the function that stops it.
func timerUntil(t time.Time) (<-chan time.Time, func() bool) {
	if t.IsZero() {
		return nil, func() bool { return false }
	}
	timer := time.NewTimer(time.Until(t))
	return timer.C, timer.Stop
}

// Run keeps a lease until ctx ends. It returns only ctx's error, or an
// error opening the interface or configuring the host.
func (c *Client) Run(ctx context.Context) error {
	if c.Retransmit == 0 {
		c.Retransmit = time.Second
	}
	if c.MaxRetransmit == 0 {
		c.MaxRetransmit = 64 * time.Second
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
	for {
		if !c.up {
			if err := c.waitCarrier(ctx); err != nil {
				return err
			}
			continue
		}
		var err error
		if c.lease == nil {
			err = c.acquire(ctx)
		} else {
			err = c.keep(ctx)
		}
		switch {
		case errors.Is(err, errCarrierLost):
			c.Logf("lost carrier")
			if c.lease != nil {
				if err := c.Host.Configure(*c.lease, true); err != nil {
					return err
				}
			}
		case err != nil:
			return err
		}
	}
}

// waitCarrier waits for the carrier, keeping the lease (if the link
// comes back on the same network it is still good) but giving it up when
// it expires meanwhile.
func (c *Client) waitCarrier(ctx context.Context) error {
	var end time.Time // the zero time (never) without a lease or for an infinite one
	if c.lease != nil {
		end = c.lease.Expiry()
	}
	expiry, stop := timerUntil(end)
	defer stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case up, ok := <-c.Carrier:
		if !ok {
			return errCarrierEnded
		}
		if up && !c.up {
			c.Logf("carrier up")
		}
		c.up = up
		if up && c.lease != nil {
			// Back on a link, perhaps another network: confirm the lease
			// at once rather than at its renewal time.
			return c.confirm(ctx)
		}
		return nil
	case <-expiry:
		return c.expire()
	}
}

// expire gives up the lease: it ended, or a server refused it.
func (c *Client) expire() error {
	c.Logf("giving up %v", c.lease.Addr)
	err := c.Host.Unconfigure(*c.lease)
	c.lease = nil
	return err
}

// acquire gets a lease from scratch: DISCOVER, the first OFFER, REQUEST,
// ACK (RFC 2131 section 3.1).
func (c *Client) acquire(ctx context.Context) error {
	conn, msgs, err := c.open()
	if err != nil {
		return err
	}
	defer conn.Close()
	start := time.Now()
	for {
		xid := rand.Uint32()
		offer, err := c.exchange(ctx, conn, msgs, time.Time{}, func() *Message {
			return c.message(xid, start, Discover, netip.Addr{}, nil)
		}, func(m *Message) bool {
			return m.XID == xid && m.Type() == Offer && m.YourIP.IsValid()
		})
		if err != nil {
			return err
		}
		server, _ := offer.Option(OptServerID)
		// A server that does not answer a REQUEST after a few tries:
		// start over, perhaps with another server's offer.
		until := time.Now().Add(c.Retransmit * 15)
		ack, err := c.exchange(ctx, conn, msgs, until, func() *Message {
			return c.message(xid, start, Request, netip.Addr{}, []Option{
				{OptRequestedIP, offer.YourIP.AsSlice()},
				{OptServerID, server},
			})
		}, func(m *Message) bool {
			id, _ := m.Option(OptServerID)
			return c.answers(m, xid) && string(id) == string(server)
		})
		if errors.Is(err, errNoReply) {
			c.Logf("no answer to DHCPREQUEST for %v; discovering again", offer.YourIP)
			continue
		}
		if err != nil {
			return err
		}
		if ack.Type() == Nak {
			c.Logf("%v refused by the server: %s", offer.YourIP, nakMessage(ack))
			continue
		}
		return c.bind(ack)
	}
}

// keep sleeps until the lease's renewal time, then renews it with its
// server, then with any server, until it expires (RFC 2131 section 4.4.5).
func (c *Client) keep(ctx context.Context) error {
	l := *c.lease
	if l.Infinite {
		return c.sleep(ctx, time.Time{})
	}
	if err := c.sleep(ctx, l.Acquired.Add(l.T1)); err != nil {
		return err
	}
	err := c.renew(ctx, l.Expiry())
	if errors.Is(err, errNoReply) {
		return c.expire()
	}
	return err
}

// confirm asks again for the lease's address after the link came back
// (INIT-REBOOT, RFC 2131 section 3.2). Without an answer the lease is
// kept until its time: the server may be the one that went away.
func (c *Client) confirm(ctx context.Context) error {
	conn, msgs, err := c.open()
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := c.Host.Configure(*c.lease, false); err != nil {
		return err
	}
	xid, start := rand.Uint32(), time.Now()
	ip := c.lease.Addr.Addr()
	reply, err := c.exchange(ctx, conn, msgs, time.Now().Add(c.Retransmit*7), func() *Message {
		return c.message(xid, start, Request, netip.Addr{}, []Option{{OptRequestedIP, ip.AsSlice()}})
	}, func(m *Message) bool { return c.answers(m, xid) })
	switch {
	case errors.Is(err, errNoReply):
		c.Logf("no server confirmed %v after the link came back; keeping it", ip)
		return nil
	case err != nil:
		return err
	}
	return c.settle(reply, "after the link came back")
}

// renew sends REQUESTs for the lease's address until an ACK or NAK, or
// until the lease ends.
func (c *Client) renew(ctx context.Context, end time.Time) error {
	conn, msgs, err := c.open()
	if err != nil {
		return err
	}
	defer conn.Close()
	xid, start := rand.Uint32(), time.Now()
	ip := c.lease.Addr.Addr()
	c.Logf("renewing %v", ip)
	reply, err := c.exchange(ctx, conn, msgs, end, func() *Message {
		// Renewing and rebinding: ciaddr set, no requested address nor
		// server identifier (RFC 2131 table 5).
		return c.message(xid, start, Request, ip, nil)
	}, func(m *Message) bool { return c.answers(m, xid) })
	if err != nil {
		return err
	}
	return c.settle(reply, "at renewal")
}

// settle takes a server's answer to a REQUEST for the lease's own
// address, made when: a NAK gives the lease up, an ACK binds it anew.
func (c *Client) settle(reply *Message, when string) error {
	if reply.Type() == Nak {
		c.Logf("%v refused %s: %s", c.lease.Addr.Addr(), when, nakMessage(reply))
		return c.expire()
	}
	return c.bind(reply)
}

// answers reports whether m is the server's answer to the REQUEST xid: a
// NAK, or an ACK whose lease can be used. A malformed ACK is logged and
// ignored, as if lost: the client keeps asking and keeps what it has.
func (c *Client) answers(m *Message, xid uint32) bool {
	if m.XID != xid {
		return false
	}
	switch m.Type() {
	case Nak:
		return true
	case Ack:
		if _, err := LeaseFrom(m, time.Now()); err != nil {
			c.Logf("ignoring DHCPACK: %v", err)
			return false
		}
		return true
	}
	return false
}

// bind configures the host with ack's lease (one answers accepted).
func (c *Client) bind(ack *Message) error {
	l, err := LeaseFrom(ack, time.Now())
	if err != nil {
		return err
	}
	if c.lease != nil && c.lease.Addr != l.Addr {
		if err := c.Host.Unconfigure(*c.lease); err != nil {
			return err
		}
	}
	if err := c.Host.Configure(l, false); err != nil {
		return err
	}
	if c.lease == nil || c.lease.Addr != l.Addr {
		c.Logf("DHCPACK: %v", l)
	} else {
		c.Logf("%v renewed for %v", l.Addr, l.Duration)
	}
	c.lease = &l
	return nil
}

// sleep waits until t (forever for the zero time), for the carrier to
// drop, or for ctx.
func (c *Client) sleep(ctx context.Context, t time.Time) error {
	wake, stop := timerUntil(t)
	defer stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-wake:
			return nil
		case up, ok := <-c.Carrier:
			if err := c.carrierDropped(up, ok); err != nil {
				return err
			}
		}
	}
}

// errNoReply ends an exchange whose deadline passed without an answer.
var errNoReply = errors.New("no reply")

// exchange sends the message build makes, and again after each
// retransmission delay, until a message accept takes arrives, until (if
// not zero), the carrier drops, or ctx ends.
func (c *Client) exchange(ctx context.Context, conn Conn, msgs <-chan *Message, until time.Time, build func() *Message, accept func(*Message) bool) (*Message, error) {
	deadline, stop := timerUntil(until)
	defer stop()
	wait := c.Retransmit
	for {
		m := build()
		if err := conn.Send(m, m.ClientIP); err != nil {
			// A send that fails (the interface is going away) is retried
			// like a lost one.
			c.Logf("sending %v: %v", m.Type(), err)
		}
		// ±10 % so that devices that lost power together do not ask
		// together (RFC 2131 asks for ±1 s at its 4 s start).
		reply, err := c.await(ctx, deadline, wait+time.Duration((rand.Float64()*0.2-0.1)*float64(wait)), msgs, accept)
		if reply != nil || err != nil {
			return reply, err
		}
		wait = min(wait*2, c.MaxRetransmit)
	}
}

// await waits up to retry for a reply accept takes; it returns nil, nil
// when retry passes first, and an error when deadline passes, the carrier
// drops or ctx ends.
func (c *Client) await(ctx context.Context, deadline <-chan time.Time, retry time.Duration, msgs <-chan *Message, accept func(*Message) bool) (*Message, error) {
	timer := time.NewTimer(retry)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-deadline:
			return nil, errNoReply
		case up, ok := <-c.Carrier:
			if err := c.carrierDropped(up, ok); err != nil {
				return nil, err
			}
		case reply, ok := <-msgs:
			if !ok {
				return nil, errors.New("dhcp: the interface stopped delivering replies")
			}
			if reply.Reply && string(reply.HWAddr) == string(c.hw) && accept(reply) {
				return reply, nil
			}
		case <-timer.C:
			return nil, nil
		}
	}
}

// open opens the interface and delivers its replies on a channel until
// it is closed.
func (c *Client) open() (Conn, <-chan *Message, error) {
	conn, err := c.Open()
	if err != nil {
		return nil, nil, err
	}
	c.hw = conn.HardwareAddr()
	msgs := make(chan *Message, 4)
	go func() {
		defer close(msgs)
		for {
			m, err := conn.Receive()
			if err != nil {
				return
			}
			select {
			case msgs <- m:
			default: // a flood: drop rather than block the socket
			}
		}
	}()
	return conn, msgs, nil
}

// message builds a request of type t; ciaddr is the client's address
// while it renews.
func (c *Client) message(xid uint32, start time.Time, t MessageType, ciaddr netip.Addr, opts []Option) *Message {
	m := &Message{
		XID:      xid,
		Secs:     uint16(min(time.Since(start)/time.Second, 0xffff)),
		ClientIP: ciaddr,
		HWAddr:   c.hw,
		Options:  []Option{{OptMessageType, []byte{byte(t)}}},
	}
	m.Options = append(m.Options, opts...)
	m.Options = append(m.Options,
		Option{OptClientID, append([]byte{1}, c.hw...)},
		Option{OptParamRequest, []byte{OptSubnetMask, OptRouter, OptDNS, OptDomainName, OptBroadcast, OptLeaseTime, OptRenewalTime, OptRebindingTime}},
	)
	if c.Hostname != "" && len(c.Hostname) <= 255 {
		m.Options = append(m.Options, Option{OptHostname, []byte(c.Hostname)})
	}
	return m
}

func nakMessage(m *Message) string {
	if d, ok := m.Option(OptMessage); ok {
		return fmt.Sprintf("DHCPNAK %q", d)
	}
	return "DHCPNAK"
}
