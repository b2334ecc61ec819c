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
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/lapsebox/lapsebox/appliance/statusfile"
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

// Post writes the request name into dir.
func Post(dir, name string, r Request) error {
	if err := durable.WriteJSON(filepath.Join(dir, name+".json"), r); err != nil {
		return fmt.Errorf("request: %s: %w", name, err)
	}
	return nil
}

// Take reads and removes the request name from dir; ok is false when
// there is none. A file that is not a plain JSON document (a link, a
// FIFO, something large) is removed and reported as an error; it is read
// with the status files' safeguards.
func Take(dir, name string) (r Request, ok bool, err error) {
	path := filepath.Join(dir, name+".json")
	b, _, err := statusfile.ReadRaw(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Request{}, false, nil
	}
	defer os.Remove(path)
	if err != nil {
		return Request{}, false, fmt.Errorf("request: %w", err)
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return Request{}, false, fmt.Errorf("request: %s: %w", name, err)
	}
	return r, true, nil
}
