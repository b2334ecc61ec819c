package config

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"log"
	"os"
	"path/filepath"
	"time"
)

// DefaultWatchInterval is how often a Watcher looks at the file when the
// kernel cannot tell it of changes.
const DefaultWatchInterval = 5 * time.Second

// NotifiedInterval is how often a Watcher looks at the file while the
// kernel tells it of changes (inotify): a safety net, not the way changes
// are seen.
const NotifiedInterval = 10 * time.Minute

// Watcher gives a service its site configuration, and the new one each time
// the file changes.
//
// It follows the file itself rather than wait for a signal: the device's
// configuration endpoint (in statusd) cannot signal other services
// through gokrazy, a signal sent while a service restarts is lost, and a
// file changed by other means (breakglass) is picked up the same way. The
// kernel tells it when the file's directory changes (inotify), so that an
// idle service is not woken to look; where it cannot (the directory does
// not exist yet, another OS), it looks at the file's inode, size and time
// stamp every Interval. The file is read only when one of those changed.
// SIGHUP (Reload) still makes it read the file at once.
type Watcher struct {
	// PermDir is the persistent partition ("/perm" on a device).
	PermDir string
	// Interval is how often the file is looked at when the kernel does
	// not tell of its changes (DefaultWatchInterval if 0).
	Interval time.Duration
	// Reload, if not nil, makes the watcher read the file at once and
	// start the service again with it (SIGHUP), changed or not.
	Reload <-chan os.Signal
	// Logf reports which configuration is in use and which was refused
	// (log.Printf if nil).
	Logf func(format string, args ...any)
	// Refused, if not nil, is told every configuration file that could not
	// be used, with the reason, so that a service can show it.
	Refused func(error)

	data  []byte      // the bytes of config.json last looked at, nil if absent
	stamp fs.FileInfo // its stat then, nil if absent
	ev    *fileEvents // the kernel's news of the file's directory; nil: polling
}

// Run calls run with the configuration: config.json, or if that cannot be
// used the configuration it replaced, or the built-in default (see Load).
// Each time the file changes into a different valid configuration, Run
// cancels run's context, waits for it to return and calls it again with the
// new configuration. A changed file that cannot be used is reported
// (Refused) and the service goes on with the configuration it has.
//
// Run returns nil once ctx is done, or the first error run returns on its
// own. If run returns nil on its own, it is called again after Interval.
func (w *Watcher) Run(ctx context.Context, run func(ctx context.Context, c *Config) error) error {
	interval := w.Interval
	if interval <= 0 {
		interval = DefaultWatchInterval
	}
	path := filepath.Join(w.PermDir, Path)
	w.stamp, _ = os.Stat(path)
	u := LoadInUse(w.PermDir)
	cur := u.Config
	w.data = u.File
	if u.Err != nil {
		w.refuse(u.Err, u.Source)
	} else {
		w.logf("site configuration: %s", u.Source)
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	w.follow(path, tick, interval)
	defer func() {
		if w.ev != nil {
			w.ev.Close()
			w.ev = nil
		}
	}()
	for {
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- run(runCtx, cur) }()
		var next *Config
		for next == nil {
			select {
			case err := <-done:
				cancel()
				if err != nil && ctx.Err() == nil {
					return err
				}
				if ctx.Err() != nil {
					return nil
				}
				// Returned on its own: again, but not in a busy loop.
				again := time.NewTimer(interval)
				select {
				case <-ctx.Done():
					again.Stop()
					return nil
				case <-again.C:
				}
				if next = w.check(false); next == nil {
					next = cur
				}
				continue
			case <-ctx.Done():
				cancel()
				<-done
				return nil
			case <-w.Reload:
				w.logf("SIGHUP: reading the site configuration again")
				next = w.check(true)
			case _, ok := <-w.events():
				if !ok {
					// The directory went away: poll until it is back.
					w.ev.Close()
					w.ev = nil
					tick.Reset(interval)
				}
				next = w.check(false)
			case <-tick.C:
				if w.ev == nil {
					w.follow(path, tick, interval)
				}
				next = w.check(false)
			}
			if next != nil {
				cancel()
				if err := <-done; err != nil && ctx.Err() == nil && !errors.Is(err, context.Canceled) {
					return err
				}
				if ctx.Err() != nil {
					return nil
				}
			}
		}
		cancel()
		cur = next
	}
}

// follow asks the kernel to tell of changes in path's directory; if it
// can, tick becomes the slow safety net.
func (w *Watcher) follow(path string, tick *time.Ticker, interval time.Duration) {
	ev, err := watchFile(filepath.Dir(path), filepath.Base(path))
	if err != nil {
		return
	}
	w.ev = ev
	tick.Reset(max(interval, NotifiedInterval))
}

// events is the channel of the kernel's news, nil (never ready) while
// polling.
func (w *Watcher) events() <-chan struct{} {
	if w.ev == nil {
		return nil
	}
	return w.ev.C
}

// check looks at the file and returns the configuration to switch to, or
// nil to keep the current one. force reads the file even if its stat did
// not change, and returns it even if its bytes did not.
func (w *Watcher) check(force bool) *Config {
	path := filepath.Join(w.PermDir, Path)
	st, err := os.Stat(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		if w.stamp != nil || force {
			w.refuse(err, "the configuration in use")
		}
		w.stamp = nil
		return nil
	}
	if !force && sameStamp(st, w.stamp) {
		return nil
	}
	w.stamp = st
	data, err := ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		data, err = nil, nil
	}
	if err != nil {
		w.refuse(err, "the configuration in use")
		return nil
	}
	if !force && bytes.Equal(data, w.data) && (data == nil) == (w.data == nil) {
		return nil
	}
	w.data = data
	if data == nil {
		w.logf("site configuration: %s removed, using the %s", path, DefaultSource)
		return Default()
	}
	c, err := Parse(path, data)
	if err != nil {
		w.refuse(err, "the configuration in use")
		return nil
	}
	w.logf("site configuration: %s changed, starting again with it", path)
	return c
}

func (w *Watcher) refuse(err error, using string) {
	w.logf("site configuration: %v (using %s)", err, using)
	if w.Refused != nil {
		w.Refused(err)
	}
}

func (w *Watcher) logf(format string, args ...any) {
	if w.Logf != nil {
		w.Logf(format, args...)
		return
	}
	log.Printf(format, args...)
}

// sameStamp reports whether a and b (nil: no file) are the same file with
// the same size and time stamp. The endpoint replaces the file by a rename,
// which gives it a new inode; an edit in place changes its time stamp.
func sameStamp(a, b fs.FileInfo) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}
