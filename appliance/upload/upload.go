// Package upload defines how photos leave the appliance: a Target delivers
// one file to one destination (the central server, the customer's WebDAV or
// S3 storage, a live-cam page) and says whether a failure is worth retrying.
// The packages below it implement the targets; uploadd drains the outbox
// through them.
package upload

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// Item is one file to deliver.
type Item struct {
	// Name is the file's name at the destination, relative to the
	// target's base ("2026/11/26/20261126120000.jpg").
	Name string
	// Size and SHA256 (hex) describe the exact bytes Open returns; a
	// destination that can check them does.
	Size   int64
	SHA256 string
	// ContentType is the MIME type ("image/jpeg").
	ContentType string
	// CaptureTime is when the photo was taken.
	CaptureTime time.Time
	// Open returns the bytes, from the start, for every attempt.
	Open func() (io.ReadSeekCloser, error)
	// Resume is what the target saved during an earlier, interrupted
	// attempt (say a resumable upload's URL), nil the first time.
	Resume json.RawMessage
}

// Unmetered is implemented by a reader Item.Open returns whose bytes can
// also be read past the uplink's bandwidth share, for what a target reads
// to compute rather than to send (an S3 part's checksum): read through the
// share, they would take the link's time twice. The reader it returns
// shares the offset with the metered one; seek before reading either.
type Unmetered interface {
	Unmetered() io.ReadSeeker
}

// Target delivers items to one destination.
type Target interface {
	// Upload delivers item. It returns nil only once the destination has
	// confirmed the complete bytes under item.Name; a half-written file
	// must never be visible there under that name. save persists resume
	// state (kept in the outbox entry) so that an attempt after a crash or
	// reboot continues without resending acknowledged bytes.
	Upload(ctx context.Context, item Item, save func(resume json.RawMessage) error) error
	// List returns the names the destination holds under prefix, for
	// reconciling it with the store.
	List(ctx context.Context, prefix string) ([]string, error)
}

// PermanentError is a failure retrying will not fix: an HTTP 4xx other
// than 408 and 429, a rejected credential, a path the server refuses. The
// outbox entry is parked with Err's text until the configuration changes.
type PermanentError struct {
	StatusCode int // 0 when not from an HTTP status
	Err        error
}

func (e *PermanentError) Error() string { return "permanent: " + e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// RetryAfterError is a failure the server asked to retry no sooner than
// After (HTTP 429 or 503 with Retry-After).
type RetryAfterError struct {
	After time.Duration
	Err   error
}

func (e *RetryAfterError) Error() string {
	return fmt.Sprintf("%v (retry after %v)", e.Err, e.After)
}
func (e *RetryAfterError) Unwrap() error { return e.Err }

// IsPermanent reports whether err is a PermanentError.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}

// PermanentStatus reports whether an HTTP status means a permanent
// failure: a 4xx other than 408 (timeout) and 429 (too many requests).
func PermanentStatus(code int) bool {
	return code >= 400 && code < 500 && code != 408 && code != 429
}
