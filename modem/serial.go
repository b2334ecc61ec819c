package modem

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tarm/serial"
)

// DefaultReadTimeout is how long one read of the serial port waits for a
// byte. tarm/serial cannot interrupt a read that has no timeout (Close
// waits for it), and its timeouts are capped at 25.5 s; 20 s keeps an
// idle modem to three wake-ups a minute.
const DefaultReadTimeout = 20 * time.Second

// Serial is a modem's AT port opened with github.com/tarm/serial.
//
// tarm/serial reports a read timeout as (0, io.EOF), exactly as it
// reports a device that vanished. Serial tells them apart by the device
// node: a timeout leaves the node in place, an unplugged or reset modem
// takes it away (devtmpfs removes it; a pseudo-terminal's disappears with
// its master). A node that came back under the same name is a different
// device if its device number changed; and reads that end in EOF at once,
// again and again, are a hang-up whatever the node says. Read hides
// timeouts: it returns bytes, ErrGone or ErrClosed.
type Serial struct {
	path    string
	port    *serial.Port
	rdev    uint64
	timeout time.Duration
	closed  atomic.Bool
	fastEOF int
}

// OpenSerial opens the tty at path (115200 baud, 8N1: USB modems ignore
// the rate) with read timeout d (DefaultReadTimeout if zero).
func OpenSerial(path string, d time.Duration) (*Serial, error) {
	if d <= 0 {
		d = DefaultReadTimeout
	}
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return nil, fmt.Errorf("modem: opening %s: %w", path, err)
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFCHR {
		return nil, fmt.Errorf("modem: opening %s: not a character device", path)
	}
	p, err := serial.OpenPort(&serial.Config{Name: path, Baud: 115200, ReadTimeout: d})
	if err != nil {
		return nil, fmt.Errorf("modem: opening %s: %w", path, err)
	}
	// What the modem said while nobody listened (an answer to the last
	// user's closing "AT", old URCs) would be taken for answers.
	p.Flush()
	return &Serial{path: path, port: p, rdev: uint64(st.Rdev), timeout: d}, nil
}

// Path returns the device node's path.
func (s *Serial) Path() string { return s.path }

// Read implements Port.
func (s *Serial) Read(p []byte) (int, error) {
	for {
		start := time.Now()
		n, err := s.port.Read(p)
		if s.closed.Load() {
			return 0, ErrClosed // the answer to Close's "AT", if any
		}
		if n > 0 {
			s.fastEOF = 0
			return n, nil
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return 0, fmt.Errorf("%w: %s: %v", ErrGone, s.path, err)
		}
		if err := s.gone(); err != nil {
			return 0, err
		}
		if time.Since(start) < s.timeout/4 {
			if s.fastEOF++; s.fastEOF >= 3 {
				return 0, fmt.Errorf("%w: %s hung up", ErrGone, s.path)
			}
		} else {
			s.fastEOF = 0
		}
	}
}

// gone checks the device node after a read that returned nothing.
func (s *Serial) gone() error {
	var st syscall.Stat_t
	if err := syscall.Stat(s.path, &st); err != nil {
		return fmt.Errorf("%w: %s vanished", ErrGone, s.path)
	}
	if uint64(st.Rdev) != s.rdev {
		return fmt.Errorf("%w: %s is another device now", ErrGone, s.path)
	}
	return nil
}

// Write implements Port. A failed write (EIO after a hang-up) is ErrGone.
func (s *Serial) Write(p []byte) (int, error) {
	if s.closed.Load() {
		return 0, ErrClosed
	}
	n, err := s.port.Write(p)
	if err != nil {
		return n, fmt.Errorf("%w: %s: %v", ErrGone, s.path, err)
	}
	return n, nil
}

// Close implements Port. tarm/serial's Close waits for a pending read to
// return, so Close first sends the modem an "AT" whose answer ends the
// read at once; a silent modem still lets it go within the read timeout.
func (s *Serial) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.port.Write([]byte("AT\r"))
	if err := s.port.Close(); err != nil && !errors.Is(err, os.ErrClosed) {
		return fmt.Errorf("modem: closing %s: %w", s.path, err)
	}
	return nil
}
