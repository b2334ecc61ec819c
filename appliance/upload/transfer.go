package upload

import (
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/hashicorp/go-retryablehttp"
)

// Transfer holds what every target's configuration has in common: how it
// makes requests, gives up on a stalled one, and logs. Each target's
// Config embeds it.
type Transfer struct {
	// Client makes the requests (nil: NewClient with defaults, logging
	// to Logger). Requests that carry photo bytes are not retried by it
	// but resumed or retried by the target's Upload.
	Client *retryablehttp.Client
	// StallTimeout aborts a request that moves no bytes for that long
	// (default 2 min), to be resumed or retried.
	StallTimeout time.Duration
	// Rounds is how many requests or attempts in a row may fail without
	// progress before Upload gives up and leaves the photo to the outbox
	// (default: the target's; see its Config).
	Rounds int
	// Logger receives the target's logs (nil: slog.Default()).
	Logger *slog.Logger
}

// WithDefaults returns t with every unset field set; rounds is the
// target's default for Rounds.
func (t Transfer) WithDefaults(rounds int) Transfer {
	if t.StallTimeout <= 0 {
		t.StallTimeout = 2 * time.Minute
	}
	if t.Rounds <= 0 {
		t.Rounds = rounds
	}
	if t.Logger == nil {
		t.Logger = slog.Default()
	}
	if t.Client == nil {
		t.Client = NewClient(ClientOptions{Logger: t.Logger})
	}
	return t
}

// Drain reads what is left of resp's body, up to 64 KiB so that a short
// answer leaves the connection reusable and a long one does not hold the
// link, and closes it.
func Drain(resp *http.Response) {
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}
