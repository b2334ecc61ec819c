package sim

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// PTY is a simulated modem on a pseudo-terminal: its AT port is the
// pty's slave, /dev/pts/N, which a client opens like /dev/ttyUSB2. A reset
// of the modem closes the pty (the node vanishes and the client's reads
// fail) and opens a new one ResetTime later, perhaps under another name:
// the modem re-enumerated.
type PTY struct {
	sim *Sim
	ctx context.Context

	mu      sync.Mutex
	master  *os.File
	holder  *os.File // the slave, held open: without it the master reads EIO until a client opens it
	path    string
	done    chan struct{}
	plugged chan struct{} // closed and replaced whenever Path changes
	closed  bool
}

// ServePTY powers s on behind a new pseudo-terminal.
func ServePTY(ctx context.Context, s *Sim) (*PTY, error) {
	p := &PTY{sim: s, ctx: ctx, plugged: make(chan struct{})}
	s.mu.Lock()
	s.onReset = p.reenumerate
	s.mu.Unlock()
	if err := p.Plug(); err != nil {
		return nil, err
	}
	return p, nil
}

// Path returns the AT port's device node, "" while unplugged.
func (p *PTY) Path() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.path
}

// Changed is closed when Path changes next.
func (p *PTY) Changed() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.plugged
}

// Plug makes the modem appear (power on) on a new pseudo-terminal.
func (p *PTY) Plug() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.master != nil {
		return nil
	}
	m, holder, path, err := openPTY()
	if err != nil {
		return err
	}
	p.master, p.holder, p.path, p.done = m, holder, path, make(chan struct{})
	close(p.plugged)
	p.plugged = make(chan struct{})
	done := p.done
	go func() {
		defer close(done)
		p.sim.Serve(p.ctx, m)
	}()
	return nil
}

// Unplug makes the modem's port vanish, as when it is pulled out.
func (p *PTY) Unplug() {
	p.mu.Lock()
	m, holder, done := p.master, p.holder, p.done
	p.master, p.holder, p.path = nil, nil, ""
	if m != nil {
		close(p.plugged)
		p.plugged = make(chan struct{})
	}
	p.mu.Unlock()
	if m != nil {
		p.sim.powerOff()
		m.Close()
		holder.Close()
		<-done
	}
}

// reenumerate is a reset: the port goes and comes back.
func (p *PTY) reenumerate() {
	p.Unplug()
	select {
	case <-time.After(p.sim.cfg.ResetTime):
	case <-p.ctx.Done():
		return
	}
	p.Plug()
}

// Close unplugs the modem for good.
func (p *PTY) Close() error {
	p.Unplug()
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	return nil
}

// openPTY opens a pseudo-terminal pair in raw mode and returns the
// master, the slave (to hold open) and the slave's path. The slave is set
// raw here, before any client opens it, so the line discipline never
// echoes the modem's own output back to it.
func openPTY() (master, slave *os.File, path string, err error) {
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, "", fmt.Errorf("sim: opening a pseudo-terminal: %w", err)
	}
	// Through SyscallConn, not Fd: Fd would make the master blocking, and
	// closing it could then not interrupt the simulator's read.
	rc, err := m.SyscallConn()
	if err != nil {
		m.Close()
		return nil, nil, "", fmt.Errorf("sim: %w", err)
	}
	var n int
	var ioctlErr error
	if err := rc.Control(func(fd uintptr) {
		var unlock int32
		if _, _, errno := unix.Syscall(unix.SYS_IOCTL, fd, unix.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); errno != 0 {
			ioctlErr = fmt.Errorf("unlocking: %w", errno)
			return
		}
		n, ioctlErr = unix.IoctlGetInt(int(fd), unix.TIOCGPTN)
	}); err != nil || ioctlErr != nil {
		m.Close()
		return nil, nil, "", fmt.Errorf("sim: pseudo-terminal: %v", errors.Join(err, ioctlErr))
	}
	path = fmt.Sprintf("/dev/pts/%d", n)
	slave, err = os.OpenFile(path, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		return nil, nil, "", fmt.Errorf("sim: opening %s: %w", path, err)
	}
	t, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
	if err != nil {
		slave.Close()
		m.Close()
		return nil, nil, "", fmt.Errorf("sim: %s: %w", path, err)
	}
	// cfmakeraw
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB
	t.Cflag |= unix.CS8
	if err := unix.IoctlSetTermios(int(slave.Fd()), unix.TCSETS, t); err != nil {
		slave.Close()
		m.Close()
		return nil, nil, "", fmt.Errorf("sim: %s: %w", path, err)
	}
	return m, slave, path, nil
}
