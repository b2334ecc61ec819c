// Package request lets one service ask another for something through a
// file, as lapsebox's services talk through files and never call each
// other: modemd asks camerad for a picture now when an SMS says
// "capture". A request is a small JSON file written atomically into Dir;
// the service asked takes it (reads and removes it) at its next look.
// Asking twice before it looks is one request.
package request

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/lapsebox/lapsebox/internal/durable"
)

// Dir is where requests live on a device (tmpfs: a request does not
// survive a reboot, which is the point of most of them).
const Dir = "/run/lapsebox/requests"

// Capture asks camerad for one picture now, outside the schedule.
const Capture = "capture"

// Request is one request.
type Request struct {
	From   string    `json:"from"`   // the asking service, "modemd"
	Reason string    `json:"reason"` // for the log, "SMS from +33…"
	Time   time.Time `json:"time"`
}

const maxSize = 4096

// Post writes the request name into dir.
func Post(dir, name string, r Request) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("request: %w", err)
	}
	if err := durable.WriteFile(filepath.Join(dir, name+".json"), b); err != nil {
		return fmt.Errorf("request: %s: %w", name, err)
	}
	return nil
}

// Take reads and removes the request name from dir; ok is false when
// there is none. A file that is not a plain, small JSON request is
// removed and reported as an error.
func Take(dir, name string) (r Request, ok bool, err error) {
	path := filepath.Join(dir, name+".json")
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return Request{}, false, nil
	}
	defer os.Remove(path)
	if err != nil {
		return Request{}, false, fmt.Errorf("request: %s: %w", name, err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return Request{}, false, fmt.Errorf("request: %s is not a plain file", name)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxSize+1))
	if err != nil || len(b) > maxSize {
		return Request{}, false, fmt.Errorf("request: %s: unreadable or larger than %d bytes", name, maxSize)
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return Request{}, false, fmt.Errorf("request: %s: %w", name, err)
	}
	return r, true, nil
}
