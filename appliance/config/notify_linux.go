package config

import (
	"os"

	"golang.org/x/sys/unix"

	"github.com/lapsebox/lapsebox/internal/inotify"
)

// fileEvents tells, without polling, when the file name in dir may have
// changed: written and closed, renamed or moved over, removed, its mode
// changed; or when dir itself went away (the watch then ends, and so
// does the channel). It reads inotify through Go's poller, so an idle
// service is not woken.
type fileEvents struct {
	f *os.File
	C <-chan struct{}
}

const watchedEvents = unix.IN_CLOSE_WRITE | unix.IN_MOVED_TO | unix.IN_MOVED_FROM | unix.IN_CREATE |
	unix.IN_DELETE | unix.IN_ATTRIB | unix.IN_DELETE_SELF | unix.IN_MOVE_SELF

func watchFile(dir, name string) (*fileEvents, error) {
	f, err := inotify.Watch(dir, watchedEvents)
	if err != nil {
		return nil, err
	}
	c := make(chan struct{}, 1)
	go func() {
		defer close(c)
		buf := make([]byte, 16<<10)
		for {
			n, err := f.Read(buf)
			if err != nil {
				return // closed
			}
			ours, gone := parseEvents(buf[:n], name)
			if ours || gone {
				select {
				case c <- struct{}{}:
				default: // one pending event is enough: the watcher looks at the file
				}
			}
			if gone {
				return
			}
		}
	}()
	return &fileEvents{f: f, C: c}, nil
}

// parseEvents reads a buffer of inotify events: whether one is about
// name, and whether the watched directory is gone.
func parseEvents(b []byte, name string) (ours, gone bool) {
	for _, e := range inotify.Parse(b) {
		switch {
		case e.Mask&(unix.IN_DELETE_SELF|unix.IN_MOVE_SELF|unix.IN_IGNORED) != 0:
			gone = true
		case e.Mask&unix.IN_Q_OVERFLOW != 0:
			ours = true // events were lost: look
		case e.Name == name:
			ours = true
		}
	}
	return ours, gone
}

// Close ends the watch.
func (e *fileEvents) Close() error { return e.f.Close() }
