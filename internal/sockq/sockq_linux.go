// Package sockq reads how many bytes wait in a TCP connection's kernel
// queues: what the peer has not yet acknowledged (a sender's progress is
// the queue draining, not only its writes returning) and what has
// arrived but not been read (a proxy can tell a backlogged sender from
// one that paused). Both are known on Linux only.
package sockq

import (
	"net"
	"syscall"
	"unsafe"
)

// Unacked returns the bytes c has queued that the peer has not
// acknowledged yet, sent or not (the SIOCOUTQ ioctl).
func Unacked(c net.Conn) (int, bool) { return ioctl(c, syscall.TIOCOUTQ) }

// Unread returns the bytes waiting to be read on c (the SIOCINQ ioctl).
func Unread(c net.Conn) (int, bool) { return ioctl(c, syscall.TIOCINQ) }

func ioctl(c net.Conn, req uintptr) (int, bool) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return 0, false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return 0, false
	}
	var n int32
	var errno syscall.Errno
	if err := rc.Control(func(fd uintptr) {
		_, _, errno = syscall.Syscall(syscall.SYS_IOCTL, fd, req, uintptr(unsafe.Pointer(&n)))
	}); err != nil || errno != 0 {
		return 0, false
	}
	return int(n), true
}
