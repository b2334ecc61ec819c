// Package inotify watches a directory through Go's poller, so that a
// waiting service is woken only by the events it asked for, and decodes
// what a read returns.
package inotify

import (
	"bytes"
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Event is one inotify event.
type Event struct {
	Mask   uint32 // unix.IN_*
	Cookie uint32 // pairs a MOVED_FROM with its MOVED_TO
	Name   string // the file's name in the directory; "" for the directory itself
}

// Watch returns a file from which the events of mask on dir are read
// (a buffer of unix.SizeofInotifyEvent + unix.NAME_MAX + 1 bytes holds
// one at least); closing it ends the watch.
func Watch(dir string, mask uint32) (*os.File, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("inotify: %w", err)
	}
	if _, err := unix.InotifyAddWatch(fd, dir, mask); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("inotify: watching %s: %w", dir, err)
	}
	return os.NewFile(uintptr(fd), "inotify"), nil
}

// Parse decodes the events in b, as read from a Watch file; a truncated
// event at the end is left out.
func Parse(b []byte) []Event {
	const hdr = unix.SizeofInotifyEvent
	var events []Event
	for len(b) >= hdr {
		e := (*unix.InotifyEvent)(unsafe.Pointer(&b[0]))
		end := hdr + int(e.Len)
		if end > len(b) {
			break
		}
		events = append(events, Event{Mask: e.Mask, Cookie: e.Cookie, Name: string(bytes.TrimRight(b[hdr:end], "\x00"))})
		b = b[end:]
	}
	return events
}
