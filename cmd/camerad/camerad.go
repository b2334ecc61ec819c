// Binary camerad finds the PTP camera on USB, keeps a session with it and
// downloads every file it holds into /perm (download mode), resuming
// after the camera was unplugged or re-enumerated, which it notices and
// recovers from by finding the same camera again by its serial number.
// Its status is /run/lapsebox/camerad.json, rewritten atomically.
//
// Example:
//
//	camerad -dir=/perm/lapsebox/download
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/lapsebox/lapsebox/ptp"
	"github.com/lapsebox/lapsebox/ptp/fetch"
	"github.com/lapsebox/lapsebox/ptp/usb"
)

var (
	dir = flag.String("dir", "/perm/lapsebox/download",
		"directory to download the camera's files into, as <dir>/<store>/<path>")
	statusFile = flag.String("status", "/run/lapsebox/camerad.json",
		"status file, rewritten atomically")
	serial = flag.String("serial", "",
		"serial number (USB or PTP) of the camera to use (default: the first found, then the same one)")
	chunk = flag.Int("chunk", 1<<20,
		"bytes per GetPartialObject")
	buffer = flag.Int("buffer", 128<<10,
		"bytes per USB bulk IN transfer (fewer, larger transfers cost less CPU)")
	interval = flag.Duration("interval", 10*time.Second,
		"how often to look for new files on the camera")
	deleteAfter = flag.Bool("delete", false,
		"delete each file from the camera once its copy is verified and synced")
)

// Status is what camerad.json holds.
type Status struct {
	State   string    `json:"state"` // "starting", "waiting for camera", "downloading", "idle"
	Camera  *Camera   `json:"camera,omitempty"`
	Dir     string    `json:"dir"`
	Updated time.Time `json:"updated"`

	// Since camerad started.
	FilesFetched int     `json:"filesFetched"`
	BytesFetched int64   `json:"bytesFetched"` // including those of unfinished downloads
	Resumed      int     `json:"resumed"`      // downloads that continued a partial copy
	Reconnects   int     `json:"reconnects"`   // times the camera was found again after it went away
	CPUSeconds   float64 `json:"cpuSeconds"`

	Current  *Current `json:"current,omitempty"`  // the file being downloaded
	LastPass *Pass    `json:"lastPass,omitempty"` // the last complete pass over the camera

	LastError     string    `json:"lastError,omitempty"`
	LastErrorTime time.Time `json:"lastErrorTime,omitzero"`
}

// Camera identifies the camera in use.
type Camera struct {
	Manufacturer string `json:"manufacturer"`
	Model        string `json:"model"`
	Serial       string `json:"serial"`
	USB          string `json:"usb"`
}

// Current is the file being downloaded.
type Current struct {
	Path        string `json:"path"`
	Size        int64  `json:"size"`
	Done        int64  `json:"done"`
	ResumedFrom int64  `json:"resumedFrom"`
}

// Pass is one walk over the camera.
type Pass struct {
	Objects    int       `json:"objects"`
	Fetched    int       `json:"fetched"`
	Skipped    int       `json:"skipped"`
	Failed     int       `json:"failed"`
	Bytes      int64     `json:"bytes"`
	Seconds    float64   `json:"seconds"`
	CPUSeconds float64   `json:"cpuSeconds"`
	Finished   time.Time `json:"finished"`
}

// state guards the status and writes it.
type state struct {
	mu        sync.Mutex
	st        Status
	lastWrite time.Time
}

// update changes the status and writes it, at most every half second
// unless force.
func (s *state) update(force bool, fn func(*Status)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fn(&s.st)
	if !force && time.Since(s.lastWrite) < 500*time.Millisecond {
		return
	}
	s.lastWrite = time.Now()
	s.st.Updated = s.lastWrite.UTC()
	s.st.CPUSeconds = cpuSeconds()
	if err := writeAtomic(*statusFile, s.st); err != nil {
		log.Printf("writing status: %v", err)
	}
}

func (s *state) fail(err error) {
	log.Print(err)
	s.update(true, func(st *Status) {
		st.LastError, st.LastErrorTime = err.Error(), time.Now().UTC()
	})
}

// writeAtomic writes v as JSON to a temporary file beside path, syncs it
// and renames it into place: readers see the old or the new file whole.
func writeAtomic(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	_, err = f.Write(append(b, '\n'))
	err = errors.Join(err, f.Sync(), f.Close())
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

func logic() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	s := &state{st: Status{State: "starting", Dir: *dir}}
	s.update(true, func(*Status) {})
	// The status file's age is the heartbeat: keep it fresh while idle.
	go func() {
		for range time.Tick(5 * time.Second) {
			s.update(true, func(*Status) {})
		}
	}()
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		return err
	}
	uctx, err := usb.NewContext(ctx, nil)
	if err != nil {
		return err
	}
	defer uctx.Close()

	sel := usb.Selector{Serial: *serial}
	failures := 0
	for found := 0; ; found++ {
		s.update(true, func(st *Status) { st.State, st.Current = "waiting for camera", nil })
		t, err := uctx.Wait(ctx, sel, time.Second)
		if err != nil {
			return err
		}
		err = session(ctx, s, t, &sel, found > 0)
		if ctx.Err() != nil {
			t.Close()
			return nil
		}
		if err != nil {
			s.fail(err)
		}
		failures++
		if errors.Is(err, ptp.ErrNoDevice) {
			failures = 0
		} else if failures >= 2 {
			// A camera that keeps failing while plugged in: a USB port
			// reset is the strongest remedy short of its power.
			log.Printf("resetting the camera's USB port after %d failed sessions", failures)
			if rerr := t.ResetPort(ctx); rerr != nil {
				s.fail(rerr)
			}
			failures = 0
		}
		t.Close()
		if !errors.Is(err, ptp.ErrNoDevice) {
			// Not unplugged: do not hammer a camera that misbehaves.
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(5 * time.Second):
			}
		}
	}
}

// session opens a PTP session over t and downloads until the camera goes
// away or keeps failing.
func session(ctx context.Context, s *state, t *usb.Transport, sel *usb.Selector, again bool) error {
	info := t.Info()
	conn, err := ptp.Open(ctx, t, &ptp.Options{USBVendorID: info.VendorID, BufferSize: *buffer})
	if err != nil {
		return fmt.Errorf("opening a session with %s: %w", info, err)
	}
	defer func() {
		// The session only: the caller owns t (and may reset its port).
		if conn.SessionID() != 0 {
			cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			conn.CloseSession(cctx)
			cancel()
		}
	}()
	di := conn.DeviceInfo()
	if sel.Serial == "" {
		// Stick to this camera from now on, by the serial the camera
		// itself reports: a USB iSerial may name the port too (QEMU's
		// does), and some cameras have none.
		sel.Serial = di.SerialNumber
		if sel.Serial == "" {
			sel.Serial = info.Serial
		}
	}
	log.Printf("camera %s %s (serial %s) at %s", di.Manufacturer, di.Model, sel.Serial, info)
	s.update(true, func(st *Status) {
		st.Camera = &Camera{Manufacturer: di.Manufacturer, Model: di.Model, Serial: sel.Serial, USB: info.String()}
		if again {
			st.Reconnects++
		}
	})
	failures := 0
	for {
		s.update(true, func(st *Status) { st.State = "downloading" })
		start, cpu := time.Now(), cpuSeconds()
		res, err := fetch.Fetch(ctx, conn, fetch.Dir{Root: *dir}, &fetch.Options{
			ChunkSize: *chunk,
			Delete:    *deleteAfter,
			Progress: func(p fetch.Progress) {
				s.update(p.Complete, func(st *Status) {
					prev := p.Resumed
					if c := st.Current; c != nil && c.Path == p.Object.Path {
						prev = c.Done
					}
					st.BytesFetched += p.Done - prev
					st.Current = &Current{Path: p.Object.Path, Size: p.Object.Size, Done: p.Done, ResumedFrom: p.Resumed}
					if p.Complete {
						st.FilesFetched++
						if p.Resumed > 0 {
							st.Resumed++
						}
						log.Printf("fetched %s (%d bytes, resumed from %d)", p.Object.Path, p.Object.Size, p.Resumed)
					}
				})
			},
		})
		if errors.Is(err, ptp.ErrNoDevice) || ctx.Err() != nil {
			return err
		}
		if err != nil {
			failures++
			s.fail(err)
			if failures >= 3 {
				return fmt.Errorf("%d passes failed in a row; opening the camera again", failures)
			}
		} else {
			failures = 0
			s.update(true, func(st *Status) {
				st.LastPass = &Pass{
					Objects: res.Objects, Fetched: res.Fetched, Skipped: res.Skipped, Failed: res.Failed,
					Bytes: res.Bytes, Seconds: time.Since(start).Seconds(), CPUSeconds: cpuSeconds() - cpu,
					Finished: time.Now().UTC(),
				}
			})
		}
		s.update(true, func(st *Status) { st.State, st.Current = "idle", nil })
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(*interval):
		}
	}
}

func main() {
	flag.Parse()
	if err := logic(); err != nil {
		log.Fatal(err)
	}
}
