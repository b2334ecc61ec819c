package modem

import (
	"bytes"
	"context"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// WatchDevices tells when the kernel announces a serial port, a USB device
// or a network interface coming or going, from its netlink uevents (there
// is no udev on gokrazy). The channel holds one value: a burst of events
// is one wake-up. It is closed when ctx is done.
func WatchDevices(ctx context.Context) (<-chan struct{}, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_KOBJECT_UEVENT)
	if err != nil {
		return nil, fmt.Errorf("modem: uevent socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: 1}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("modem: uevent socket: %w", err)
	}
	// Through os.File, so that the runtime's poller waits for events
	// and Close ends the wait.
	f := os.NewFile(uintptr(fd), "uevent")
	ch := make(chan struct{}, 1)
	go func() {
		<-ctx.Done()
		f.Close()
	}()
	go func() {
		defer close(ch)
		buf := make([]byte, 8192)
		for {
			n, err := f.Read(buf)
			if err != nil {
				return
			}
			if deviceEvent(buf[:n]) {
				select {
				case ch <- struct{}{}:
				default:
				}
			}
		}
	}()
	return ch, nil
}

// deviceEvent reports whether a uevent ("add@/devices/…\0ACTION=add\0
// SUBSYSTEM=tty\0…") concerns a tty, a USB device or a network interface
// appearing or disappearing.
func deviceEvent(msg []byte) bool {
	var action, subsystem string
	for _, kv := range bytes.Split(msg, []byte{0}) {
		switch {
		case bytes.HasPrefix(kv, []byte("ACTION=")):
			action = string(kv[len("ACTION="):])
		case bytes.HasPrefix(kv, []byte("SUBSYSTEM=")):
			subsystem = string(kv[len("SUBSYSTEM="):])
		}
	}
	switch subsystem {
	case "tty", "usb", "usb-serial", "net":
		return action == "add" || action == "remove" || action == "bind" || action == "change"
	}
	return false
}
