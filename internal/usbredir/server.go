package usbredir

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// Server serves one Device to the usb-redir chardev that connects to its
// listener, typically QEMU with
//
//	-chardev socket,id=cam,host=127.0.0.1,port=N,reconnect=1
//	-device usb-redir,chardev=cam,bus=ehci.0
//
// QEMU connects as a client and, with reconnect, connects again when the
// Server restarts. A new connection replaces the previous one. Whether
// the device is plugged in is the Server's state: it holds across
// connections.
type Server struct {
	// Device is the device to serve.
	Device Device
	// Logf receives one line per notable event (nil: none).
	Logf func(format string, args ...any)

	mu        sync.Mutex
	unplugged bool
	conn      *Conn
	accepted  int
	changed   chan struct{}
}

// Serve accepts connections on ln until ctx is done (it then closes ln and
// returns nil) or Accept fails.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		nc, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("usbredir: accepting on %s: %w", ln.Addr(), err)
		}
		s.mu.Lock()
		if s.conn != nil {
			s.logf("usbredir: new connection from %s replaces the previous one", nc.RemoteAddr())
			s.conn.rw.Close()
		}
		c := NewConn(nc, s.Device, &Options{Unplugged: s.unplugged, Logf: s.Logf})
		s.conn = c
		s.accepted++
		s.notifyLocked()
		s.mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := c.Run(ctx)
			if err != nil {
				s.logf("usbredir: connection from %s: %v", nc.RemoteAddr(), err)
			} else {
				s.logf("usbredir: connection from %s closed", nc.RemoteAddr())
			}
			s.mu.Lock()
			if s.conn == c {
				s.conn = nil
			}
			s.notifyLocked()
			s.mu.Unlock()
		}()
	}
}

func (s *Server) logf(format string, args ...any) {
	if s.Logf != nil {
		s.Logf(format, args...)
	}
}

func (s *Server) notifyLocked() {
	if s.changed != nil {
		close(s.changed)
		s.changed = nil
	}
}

// Conn returns the current connection, nil if QEMU is not connected.
func (s *Server) Conn() *Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conn
}

// Accepted returns the number of connections accepted so far.
func (s *Server) Accepted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted
}

// WaitConnected waits until a peer is connected and the device plugged in
// (or the Server unplugged), or ctx is done.
func (s *Server) WaitConnected(ctx context.Context) error {
	for {
		s.mu.Lock()
		c := s.conn
		if s.changed == nil {
			s.changed = make(chan struct{})
		}
		ch := s.changed
		s.mu.Unlock()
		if c != nil {
			c.mu.Lock()
			ok := c.helloDone && (c.plugged || !c.want)
			c.mu.Unlock()
			if ok {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("usbredir: waiting for the usb-guest to connect: %w", ctx.Err())
		case <-ch:
		case <-afterPoll():
		}
	}
}

// Unplug disconnects the device, now and on later connections, until Plug.
func (s *Server) Unplug() {
	s.mu.Lock()
	s.unplugged = true
	c := s.conn
	s.mu.Unlock()
	if c != nil {
		c.Unplug()
	}
}

// Plug connects the device again after Unplug; see Conn.Plug.
func (s *Server) Plug(ctx context.Context) error {
	s.mu.Lock()
	s.unplugged = false
	c := s.conn
	s.mu.Unlock()
	if c == nil {
		return nil // plugged in when QEMU connects
	}
	err := c.Plug(ctx)
	if errors.Is(err, context.Canceled) && s.Conn() != c {
		return nil // the connection was replaced meanwhile
	}
	return err
}

// afterPoll paces WaitConnected, which also watches the connection's
// state.
func afterPoll() <-chan time.Time { return time.After(50 * time.Millisecond) }
