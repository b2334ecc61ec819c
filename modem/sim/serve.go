package sim

import (
	"context"
	"io"
	"math/rand/v2"
	"time"
)

// Serve runs the modem on one connection to its AT port until ctx is done
// or rw fails: the modem powers on (echo on, boot URCs after BootDelay),
// answers commands and sends URCs. Closing rw ends it.
func (s *Sim) Serve(ctx context.Context, rw io.ReadWriter) error {
	out := make(chan string, 4096)
	s.powerOn(out)
	stop := make(chan struct{})
	defer func() {
		close(stop)
		s.mu.Lock()
		mine := s.out == out
		s.mu.Unlock()
		if mine {
			s.powerOff()
		}
	}()
	go s.writeLoop(rw, out, stop)

	buf := make([]byte, 1024)
	var line []byte
	for {
		n, err := rw.Read(buf)
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		s.mu.Lock()
		if s.out == nil && s.lastOut == out {
			s.mu.Unlock()
			continue // powered off for a reset: deaf until it is back
		}
		if s.out != out {
			s.mu.Unlock()
			return nil // another connection took over
		}
		for _, c := range buf[:n] {
			switch {
			case s.inBody && (c == 0x1a || c == 0x1b):
				s.body(string(line), c == 0x1b)
				line = line[:0]
			case s.inBody:
				line = append(line, c)
			case c == '\r':
				if len(line) > 0 {
					s.command(string(line))
				}
				line = line[:0]
			case c == '\n':
			case len(line) < 1024:
				line = append(line, c)
			}
		}
		s.mu.Unlock()
	}
}

// writeLoop writes the modem's output, in pieces when SplitWrites is on.
func (s *Sim) writeLoop(w io.Writer, out chan string, stop chan struct{}) {
	for {
		select {
		case <-stop:
			return
		case b := <-out:
			s.mu.Lock()
			split := s.split
			s.mu.Unlock()
			if !split {
				if _, err := io.WriteString(w, b); err != nil {
					return
				}
				continue
			}
			for len(b) > 0 {
				n := min(len(b), 1+rand.IntN(6))
				if _, err := io.WriteString(w, b[:n]); err != nil {
					return
				}
				b = b[n:]
				time.Sleep(time.Millisecond) // a separate read on the other side
			}
		}
	}
}
