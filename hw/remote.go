package hw

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
)

// DefaultSocket is where watchdogd, the one process that holds the GPIO
// lines, takes power-cycle requests from the other services.
const DefaultSocket = "/run/lapsebox/watchdogd.sock"

// The protocol over the socket: one JSON request line, one JSON response
// line once the cycle is over (or refused), then the connection closes.
type relayRequest struct {
	Relay string `json:"relay"`
	OffMs int64  `json:"offMs"`
	From  string `json:"from"`
}

type relayResponse struct {
	Start   time.Time `json:"start,omitzero"`
	End     time.Time `json:"end,omitzero"`
	Refused string    `json:"refused,omitempty"`
	Error   string    `json:"error,omitempty"`
}

// maxRequest bounds a request line.
const maxRequest = 1 << 10

// Remote is a Relay owned by another process: it asks watchdogd over its
// socket and returns once the power cycle is over, or with a
// *RefusedError saying why it did not happen (the caps, no relay wired).
type Remote struct {
	Device string // the relay: "camera", "modem"
	From   string // who asks: "camerad"
	Socket string // DefaultSocket if ""
}

// Name implements Relay.
func (r *Remote) Name() string { return r.Device }

// PowerCycle implements Relay. A request watchdogd accepted runs to its
// end even if ctx ends first: the power always comes back. It waits at
// most the longest cut and half a minute, so that a hung watchdogd does
// not hang the caller.
func (r *Remote) PowerCycle(ctx context.Context, off time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, MaxOff+30*time.Second)
	defer cancel()
	socket := r.Socket
	if socket == "" {
		socket = DefaultSocket
	}
	fail := func(err error) error {
		return fmt.Errorf("hw: power cycle of %s through %s: %w", r.Device, socket, err)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", socket)
	if err != nil {
		return fail(err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	b, _ := json.Marshal(relayRequest{Relay: r.Device, OffMs: off.Milliseconds(), From: r.From})
	if _, err := conn.Write(append(b, '\n')); err != nil {
		return fail(err)
	}
	line, err := bufio.NewReader(conn).ReadBytes('\n')
	if err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return fail(err)
	}
	var resp relayResponse
	if err := json.Unmarshal(line, &resp); err != nil {
		return fail(fmt.Errorf("bad response: %w", err))
	}
	switch {
	case resp.Refused != "":
		return &RefusedError{Relay: r.Device, Reason: resp.Refused}
	case resp.Error != "":
		return fail(errors.New(resp.Error))
	}
	return nil
}

// Cycler is a relay whose cycles say who asked for them (GPIORelay,
// Unwired).
type Cycler interface {
	Relay
	Cycle(ctx context.Context, from string, off time.Duration) error
}

// Unwired stands for a relay the site has not wired: a request is
// recorded (in Recorder's file, so that it shows that a power cycle was
// wanted) and refused.
type Unwired struct {
	Recorder
	Why string // "no hardware section in the site configuration"
}

// Cycle implements Cycler.
func (u *Unwired) Cycle(ctx context.Context, from string, off time.Duration) error {
	if err := u.Recorder.PowerCycle(ctx, off); err != nil {
		return err
	}
	return &RefusedError{Relay: u.Device, Reason: "no relay wired (" + u.Why + "); request recorded"}
}

// RelayServer answers Remote's requests with the relays of this process.
type RelayServer struct {
	Relays map[string]Cycler
	// Logf reports each request and its outcome (nil: none).
	Logf func(format string, args ...any)
	// ReadTimeout bounds the wait for a request line (default 5 s).
	ReadTimeout time.Duration

	wg sync.WaitGroup
}

var (
	relayNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)
	fromRE      = regexp.MustCompile(`^[A-Za-z0-9._-]{0,32}$`)
)

// Serve answers requests on ln until ctx is done, then closes ln and
// waits for the cycles in progress: the power comes back before Serve
// returns.
func (s *RelayServer) Serve(ctx context.Context, ln net.Listener) error {
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	defer s.wg.Wait()
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("hw: relay server: %w", err)
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer conn.Close()
			s.handle(ctx, conn)
		}()
	}
}

func (s *RelayServer) logf(format string, args ...any) {
	if s.Logf != nil {
		s.Logf(format, args...)
	}
}

func (s *RelayServer) handle(ctx context.Context, conn net.Conn) {
	timeout := s.ReadTimeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	conn.SetReadDeadline(time.Now().Add(timeout))
	reply := func(r relayResponse) {
		b, _ := json.Marshal(r)
		conn.SetWriteDeadline(time.Now().Add(timeout))
		conn.Write(append(b, '\n'))
	}
	line, err := bufio.NewReader(&limitedConn{conn, maxRequest + 1}).ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) || len(line) > maxRequest {
			reply(relayResponse{Error: fmt.Sprintf("request longer than %d bytes", maxRequest)})
			return
		}
		s.logf("relay request: %v", err)
		return
	}
	var req relayRequest
	dec := json.NewDecoder(strings.NewReader(string(line)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		reply(relayResponse{Error: fmt.Sprintf("bad request: %v", err)})
		return
	}
	switch {
	case !relayNameRE.MatchString(req.Relay):
		reply(relayResponse{Error: fmt.Sprintf("bad relay name %q", truncate(req.Relay))})
		return
	case !fromRE.MatchString(req.From):
		reply(relayResponse{Error: fmt.Sprintf("bad requester name %q", truncate(req.From))})
		return
	case req.OffMs < 0 || req.OffMs > MaxOff.Milliseconds():
		reply(relayResponse{Error: fmt.Sprintf("off time %d ms: want 0 to %d", req.OffMs, MaxOff.Milliseconds())})
		return
	}
	relay, ok := s.Relays[req.Relay]
	if !ok {
		names := make([]string, 0, len(s.Relays))
		for n := range s.Relays {
			names = append(names, n)
		}
		slices.Sort(names)
		reason := fmt.Sprintf("no relay named %q (relays: %s)", req.Relay, strings.Join(names, ", "))
		s.logf("power cycle of %s for %s refused: %s", req.Relay, req.From, reason)
		reply(relayResponse{Refused: reason})
		return
	}
	start := time.Now()
	err = relay.Cycle(ctx, req.From, time.Duration(req.OffMs)*time.Millisecond)
	var refused *RefusedError
	switch {
	case errors.As(err, &refused):
		s.logf("power cycle of %s for %s refused: %s", req.Relay, req.From, refused.Reason)
		reply(relayResponse{Refused: refused.Reason})
	case err != nil:
		s.logf("power cycle of %s for %s: %v", req.Relay, req.From, err)
		reply(relayResponse{Start: start, End: time.Now(), Error: err.Error()})
	default:
		s.logf("power cycle of %s for %s: done in %.1fs", req.Relay, req.From, time.Since(start).Seconds())
		reply(relayResponse{Start: start, End: time.Now()})
	}
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// limitedConn reads at most n bytes.
type limitedConn struct {
	net.Conn
	n int
}

func (l *limitedConn) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, bufio.ErrBufferFull
	}
	if len(p) > l.n {
		p = p[:l.n]
	}
	n, err := l.Conn.Read(p)
	l.n -= n
	return n, err
}
