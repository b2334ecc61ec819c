package updater

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"sync"
	"time"

	"github.com/lapsebox/lapsebox/image/disk"
	"github.com/lapsebox/lapsebox/image/release"
	"github.com/lapsebox/lapsebox/image/update"
	"github.com/lapsebox/lapsebox/internal/gokrazyhttp"
)

// A host's push (lapsebox update) writes the root through gokrazy, as
// ever, but hands new boot files to updated (update.BootSlotPath): they
// go into the boot slot partition 1 does not cover, naming the root
// just written, and the tables are switched to it, as for a pulled
// release written for good (bootslot.go). The push then reboots the
// device through the firmware; the next start brings it to rest on slot
// 0. The request is carried out by the Service's own goroutine (Run),
// which alone touches the state: between two looks for a release, never
// during an install or a trial.

// PushRequest is a push of boot files, checked by PushHandler, for the
// running Service to write.
type PushRequest struct {
	// FS is the boot file system as the image built it, SHA256 its hash.
	FS     []byte
	SHA256 string
	// BootCode is the image's MBR boot code for slot 0, or nil.
	BootCode []byte
	// Done receives the outcome, once.
	Done chan<- error
}

// pushError is a push refused for what it is, or for the device's
// state, as opposed to a failure to write: its text goes to the host.
type pushError struct {
	status int
	msg    string
}

func (e *pushError) Error() string { return e.msg }

// takePush writes the boot files of a push and answers it.
func (s *Service) takePush(p PushRequest) {
	err := s.pushBoot(p)
	if err != nil {
		s.logf("updater: pushed boot files %.12s: %v", p.SHA256, err)
	}
	p.Done <- err
}

func (s *Service) pushBoot(p PushRequest) error {
	if s.state == nil {
		return &pushError{http.StatusServiceUnavailable, "updated cannot use the boot slots (its log says why)"}
	}
	if s.onTrial() {
		return &pushError{http.StatusConflict, "a release runs on trial: commit it or reboot first"}
	}
	nroff, err := s.inactiveRoot()
	if err != nil {
		return &pushError{http.StatusServiceUnavailable, err.Error()}
	}
	slot, err := s.writeBootSlot(bytes.NewReader(p.FS), int64(len(p.FS)), p.SHA256, p.BootCode, nroff)
	var bad badBootFS
	if errors.As(err, &bad) {
		return &pushError{http.StatusBadRequest, fmt.Sprintf("not the boot file system of a lapsebox image: %v", bad.error)}
	}
	if err != nil {
		return err
	}
	s.pushed = true
	s.logf("updater: pushed boot files %.12s written into boot slot %d, naming the root gokrazy took; the tables name that slot", p.SHA256, slot)
	return nil
}

// PushHandler serves update.BootSlotPath: it checks the device's
// password (a client that keeps guessing gets 429 for a while) and the
// pushed boot files, and hands them to the running Service (Requests,
// which Run reads). Serve it to private networks only
// (gokrazyhttp.PrivateOnly), as gokrazy's own handlers are.
type PushHandler struct {
	// Password is gokrazy's HTTP password, which a push carries as
	// gokrazy's own handlers want it (user "gokrazy").
	Password string
	Requests chan<- PushRequest
	// Wait bounds how long a push waits for the Service to be free of a
	// look, an install or a trial (0: 10 s).
	Wait time.Duration
	// Logf logs wrong passwords (nil: log.Printf).
	Logf func(format string, args ...any)

	one   sync.Mutex // a push at a time: each holds up to a slot in memory
	once  sync.Once
	gated http.Handler // serve behind the gate
}

// maxPushedBoot is the largest boot file system a slot holds.
const maxPushedBoot = disk.BootSectors * disk.SectorSize

func (h *PushHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.once.Do(func() {
		gate := &gokrazyhttp.Gate{Password: func() (string, error) { return h.Password, nil },
			Service: "updated", Realm: "lapsebox updated", Off: "this device has no HTTP password: updated takes no pushes",
			Logf: h.Logf}
		if gate.Logf == nil {
			gate.Logf = log.Printf
		}
		h.gated = gate.Wrap(http.HandlerFunc(h.serve))
	})
	h.gated.ServeHTTP(w, r)
}

func (h *PushHandler) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != update.BootSlotPath {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodPut {
		w.Header().Set("Allow", http.MethodPut)
		http.Error(w, "PUT the boot file system", http.StatusMethodNotAllowed)
		return
	}
	want := r.Header.Get(update.BootSHA256Header)
	if !release.IsHash(want) {
		http.Error(w, update.BootSHA256Header+" must be the boot file system's sha256, in hex", http.StatusBadRequest)
		return
	}
	var code []byte
	if c := r.Header.Get(update.BootCodeHeader); c != "" {
		var err error
		if code, err = base64.StdEncoding.DecodeString(c); err != nil || len(code) != disk.BootCodeSize {
			http.Error(w, fmt.Sprintf("%s must be %d bytes of boot code in base64", update.BootCodeHeader, disk.BootCodeSize), http.StatusBadRequest)
			return
		}
	}
	if !h.one.TryLock() {
		http.Error(w, "another push is under way", http.StatusConflict)
		return
	}
	defer h.one.Unlock()
	if r.ContentLength > maxPushedBoot {
		http.Error(w, fmt.Sprintf("a boot slot holds %d bytes, the request has %d", maxPushedBoot, r.ContentLength), http.StatusRequestEntityTooLarge)
		return
	}
	fs, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxPushedBoot))
	if err != nil {
		if errors.As(err, new(*http.MaxBytesError)) {
			http.Error(w, fmt.Sprintf("a boot slot holds %d bytes", maxPushedBoot), http.StatusRequestEntityTooLarge)
		}
		return // the connection broke: nothing was written
	}
	if sum := sha256.Sum256(fs); hex.EncodeToString(sum[:]) != want {
		http.Error(w, fmt.Sprintf("%d bytes arrived with sha256 %x, not %s: nothing written", len(fs), sum, want), http.StatusBadRequest)
		return
	}
	done := make(chan error, 1)
	wait := h.Wait
	if wait == 0 {
		wait = 10 * time.Second
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case h.Requests <- PushRequest{FS: fs, SHA256: want, BootCode: code, Done: done}:
	case <-t.C:
		http.Error(w, "updated is busy (installing a release, or judging one on trial): try again later", http.StatusConflict)
		return
	case <-r.Context().Done():
		return
	}
	if err := <-done; err != nil {
		var pe *pushError
		if errors.As(err, &pe) {
			http.Error(w, pe.msg, pe.status)
			return
		}
		// Disk and /perm errors name device paths: they stay in the log.
		http.Error(w, "writing the boot files failed (updated's log says why)", http.StatusInternalServerError)
		return
	}
	fmt.Fprintln(w, want)
}
