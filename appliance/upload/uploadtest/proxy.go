// Package uploadtest helps test upload targets against real servers on
// 127.0.0.1: a TCP proxy that shapes the link and injects faults (dropped
// connections mid-body, stalls), counting the bytes on the wire; an HTTP
// proxy that answers chosen requests with errors (500, 429 with
// Retry-After); and in-memory photos and resume state.
package uploadtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/internal/sockq"
)

// Fault is something that happens to the link when a given number of
// client-to-server bytes have gone through the proxy.
type Fault struct {
	// At is the count of client-to-server bytes (all connections) at
	// which the fault fires; bytes up to At are forwarded first.
	At int64
	// Drop resets every open connection, both sides.
	Drop bool
	// Stall forwards nothing, either way, for this long; connections
	// stay open.
	Stall time.Duration
}

// Proxy is a TCP proxy listening on 127.0.0.1 in front of an upstream
// server. It counts bytes each way, can limit the link's rate, and fires
// Faults. Its methods are safe for concurrent use.
type Proxy struct {
	ln net.Listener

	up, down atomic.Int64 // bytes forwarded to the server, to the client
	nconns   atomic.Int64

	mu          sync.Mutex
	upstream    string
	conns       map[net.Conn]bool // true: the server's side
	faults      []Fault           // by At
	stallUntil  time.Time
	rate        [2]int64     // bytes/s to the server, to the client; 0: unlimited
	linkFree    [2]time.Time // when each direction of the shaped link is idle
	dropped     int
	stalled     int
	closed      bool
	connsClosed sync.WaitGroup
}

// NewProxy starts a proxy on 127.0.0.1 forwarding to upstream
// ("127.0.0.1:port"; "" to set it later with SetUpstream).
func NewProxy(upstream string) (*Proxy, error) {
	// A small receive buffer keeps the queue of a shaped link in the
	// client's socket, where a real bottleneck's queue shows (as bytes
	// not yet acknowledged), not in the proxy's.
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) {
			syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4<<10)
		})
	}}
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("uploadtest: %w", err)
	}
	p := &Proxy{ln: ln, upstream: upstream, conns: map[net.Conn]bool{}}
	go p.serve()
	return p, nil
}

// Addr is the proxy's address, "127.0.0.1:port".
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// URL is "http://" + Addr().
func (p *Proxy) URL() string { return "http://" + p.Addr() }

// SetUpstream sends new connections to addr (a restarted server).
func (p *Proxy) SetUpstream(addr string) {
	p.mu.Lock()
	p.upstream = addr
	p.mu.Unlock()
}

// SetRate limits the link to up bytes/s towards the server and down
// bytes/s back (0: unlimited), shared by all connections like one link.
func (p *Proxy) SetRate(up, down int64) {
	p.mu.Lock()
	p.rate = [2]int64{up, down}
	p.mu.Unlock()
}

// Inject schedules faults.
func (p *Proxy) Inject(fs ...Fault) {
	p.mu.Lock()
	p.faults = append(p.faults, fs...)
	sort.Slice(p.faults, func(i, j int) bool { return p.faults[i].At < p.faults[j].At })
	p.mu.Unlock()
}

// DropAll resets every open connection now.
func (p *Proxy) DropAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.dropLocked()
}

// dropLocked resets the clients' connections, as a lost link looks to
// them, and ends the servers' with a FIN: what reached the server's socket
// before the loss is read, as it would be.
func (p *Proxy) dropLocked() {
	for c, server := range p.conns {
		tc := c.(*net.TCPConn)
		if server {
			tc.CloseWrite()
		} else {
			tc.SetLinger(0)
			tc.Close()
		}
		delete(p.conns, c)
	}
	p.dropped++
}

// BytesUp is the count of bytes forwarded to the server.
func (p *Proxy) BytesUp() int64 { return p.up.Load() }

// BytesDown is the count of bytes forwarded to the client.
func (p *Proxy) BytesDown() int64 { return p.down.Load() }

// Conns is the count of connections accepted.
func (p *Proxy) Conns() int64 { return p.nconns.Load() }

// Drops is how many times connections were dropped (faults and DropAll).
func (p *Proxy) Drops() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.dropped
}

// Stalls is how many stall faults fired.
func (p *Proxy) Stalls() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stalled
}

// Pending is how many injected faults have not fired yet.
func (p *Proxy) Pending() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.faults)
}

// Close stops the proxy and closes every connection.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	err := p.ln.Close()
	p.connsClosed.Wait()
	return err
}

func (p *Proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.nconns.Add(1)
		p.mu.Lock()
		upstream, closed := p.upstream, p.closed
		if !closed {
			p.connsClosed.Add(1)
		}
		p.mu.Unlock()
		if closed {
			c.Close()
			return
		}
		go p.handle(c, upstream)
	}
}

func (p *Proxy) handle(client net.Conn, upstream string) {
	defer p.connsClosed.Done()
	server, err := net.DialTimeout("tcp", upstream, 5*time.Second)
	if err != nil {
		client.(*net.TCPConn).SetLinger(0)
		client.Close()
		return
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		client.Close()
		server.Close()
		return
	}
	p.conns[client], p.conns[server] = false, true
	p.mu.Unlock()
	done := make(chan struct{})
	go func() {
		p.pipe(server, client, 0)
		close(done)
	}()
	p.pipe(client, server, 1)
	<-done
	p.mu.Lock()
	delete(p.conns, client)
	delete(p.conns, server)
	p.mu.Unlock()
	client.Close()
	server.Close()
}

// pipe copies src to dst; dir 0 is towards the server. At the end of src
// it half-closes dst, so the far side reads everything sent before.
func (p *Proxy) pipe(dst, src net.Conn, dir int) {
	buf := make([]byte, 16<<10)
	waited := time.Now() // when a read last found no bytes waiting
	for {
		// On a shaped link, read no more than goes out next, so that
		// the queue stays in the sender's socket.
		p.mu.Lock()
		rate := p.rate[dir]
		p.mu.Unlock()
		want := len(buf)
		if rate > 0 && int(rate/20)+1 < want {
			want = int(rate/20) + 1
		}
		ready := time.Now()
		queued, known := sockq.Unread(src)
		n, err := src.Read(buf[:want])
		// A read that finds bytes waiting finds the sender still
		// backlogged, as it has been since the last read that found
		// none: the time the proxy spent away meanwhile (a sleep that
		// overslept, the write to the far side, a wait for a CPU) is
		// its own lateness, which the link does not lose. A read that
		// found none followed a pause of the sender, which the link
		// does not make up. (Outside Linux, a read that returns at
		// once is taken to have found bytes waiting.)
		since := time.Now()
		if !known {
			queued = 0
			if since.Sub(ready) < 500*time.Microsecond {
				queued = n
			}
		}
		if queued > 0 {
			since = ready.Add(-maxLateness)
			if waited.After(since) {
				since = waited
			}
		} else {
			waited = since
		}
		b := buf[:n]
		for len(b) > 0 {
			k := p.admit(dir, len(b), since)
			if _, werr := dst.Write(b[:k]); werr != nil {
				if dir == 1 {
					// The client is gone: let the server finish
					// its answer rather than reset it.
					src.SetReadDeadline(time.Now().Add(5 * time.Second))
					io.Copy(io.Discard, src)
				} else {
					src.Close()
				}
				return
			}
			if dir == 0 {
				p.up.Add(int64(k))
				p.fire()
			} else {
				p.down.Add(int64(k))
			}
			b = b[k:]
		}
		if err != nil {
			if tc, ok := dst.(*net.TCPConn); ok && (err == io.EOF || !errors.Is(err, net.ErrClosed)) {
				tc.CloseWrite()
			}
			return
		}
	}
}

// maxLateness bounds the proxy's own delays that a shaped link makes up
// for (see pipe).
const maxLateness = 50 * time.Millisecond

// admit waits until the link may carry up to n bytes in direction dir and
// returns how many: no more than reach the next fault, and small slices of
// a shaped link, so that it stays smooth. The bytes were there to send
// from since on: a link that fell free before then was idle until then,
// one that fell free after was busy until it fell free.
func (p *Proxy) admit(dir, n int, since time.Time) int {
	for {
		p.mu.Lock()
		if wait := time.Until(p.stallUntil); wait > 0 {
			p.mu.Unlock()
			time.Sleep(wait)
			continue
		}
		if dir == 0 && len(p.faults) > 0 {
			if left := p.faults[0].At - p.up.Load(); left > 0 && int64(n) > left {
				n = int(left)
			}
		}
		rate := p.rate[dir]
		if rate <= 0 {
			p.mu.Unlock()
			return n
		}
		if max := int(rate/20) + 1; n > max {
			n = max // 50 ms worth
		}
		start := since
		if p.linkFree[dir].After(start) {
			start = p.linkFree[dir]
		}
		p.linkFree[dir] = start.Add(time.Duration(int64(n) * int64(time.Second) / rate))
		until := p.linkFree[dir]
		p.mu.Unlock()
		time.Sleep(time.Until(until))
		return n
	}
}

// fire runs the faults whose byte count has been reached.
func (p *Proxy) fire() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.faults) > 0 && p.faults[0].At <= p.up.Load() {
		f := p.faults[0]
		p.faults = p.faults[1:]
		if f.Stall > 0 {
			p.stallUntil = time.Now().Add(f.Stall)
			p.stalled++
		}
		if f.Drop {
			p.dropLocked()
		}
	}
}

// StartProxy is NewProxy for a test: it fails t if the proxy cannot
// start, and closes it when t ends.
func StartProxy(t testing.TB, upstream string) *Proxy {
	t.Helper()
	p, err := NewProxy(upstream)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}
