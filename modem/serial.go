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
	"golang.org/x/sys/unix"
)

// DefaultReadTimeout is how long Serial waits for the modem before it
// checks that the device is still there (a safety net: a vanished device
// wakes the wait at once).
const DefaultReadTimeout = 5 * time.Minute

// tarmTimeout is tarm/serial's own read timeout. Reads happen only once
// input is waiting, so it is never waited out but for a hang-up; it
// must not be zero, or Close would wait for a read that never ends.
const tarmTimeout = time.Second

// Serial is a modem's AT port opened with github.com/tarm/serial.
//
// tarm/serial's reads are blocking system calls on a descriptor the Go
// runtime cannot wait on, and Close waits for a read in progress. So
// Serial only reads once input is waiting: it opens the tty a second
// time, non-blocking, purely to let the runtime's poller wake it when the
// tty has input or hangs up; an idle modem costs no thread in a system
// call and no wake-ups. tarm/serial is opened with a short read timeout
// all the same, so that no read can outlive Close.
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
	waiter  *os.File // the same tty, for the runtime's poller
	rc      syscall.RawConn
	rdev    uint64
	timeout time.Duration
	closed  atomic.Bool
	fastEOF int
}

// OpenSerial opens the tty at path (115200 baud, 8N1: USB modems ignore
// the rate). Read checks the device is still there every d of silence
// (DefaultReadTimeout if zero).
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
	p, err := serial.OpenPort(&serial.Config{Name: path, Baud: 115200, ReadTimeout: min(d, tarmTimeout)})
	if err != nil {
		return nil, fmt.Errorf("modem: opening %s: %w", path, err)
	}
	// What the modem said while nobody listened (an answer to the last
	// user's closing "AT", old URCs) would be taken for answers.
	p.Flush()
	w, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOCTTY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		p.Close()
		return nil, fmt.Errorf("modem: opening %s: %w", path, err)
	}
	rc, err := w.SyscallConn()
	if err != nil {
		w.Close()
		p.Close()
		return nil, fmt.Errorf("modem: opening %s: %w", path, err)
	}
	return &Serial{path: path, port: p, waiter: w, rc: rc, rdev: uint64(st.Rdev), timeout: d}, nil
}

// Path returns the device node's path.
func (s *Serial) Path() string { return s.path }

// wait parks until the tty has input, hangs up, or d passes.
func (s *Serial) wait(d time.Duration) error {
	s.waiter.SetReadDeadline(time.Now().Add(d))
	err := s.rc.Read(func(fd uintptr) bool {
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(pfd, 0)
		return err != nil || (n > 0 && pfd[0].Revents != 0)
	})
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return nil // silence: Read checks the device
	}
	return err
}

// Read implements Port.
func (s *Serial) Read(p []byte) (int, error) {
	for {
		if err := s.wait(s.timeout); err != nil {
			if s.closed.Load() {
				return 0, ErrClosed
			}
			return 0, fmt.Errorf("%w: %s: %v", ErrGone, s.path, err)
		}
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
		if time.Since(start) < tarmTimeout/4 {
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

// Close implements Port. Closing the waiter ends a Read that waits for
// input; tarm/serial's Close waits for a read in progress, which lasts at
// most its short timeout.
func (s *Serial) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.waiter.Close()
	if err := s.port.Close(); err != nil && !errors.Is(err, os.ErrClosed) {
		return fmt.Errorf("modem: closing %s: %w", s.path, err)
	}
	return nil
}
