// Package notify delivers cloudd's alerts: a JSON webhook and e-mail
// over SMTP with STARTTLS and authentication. A Channel makes one
// attempt; retrying is the caller's (cloud/fleet's queue), so that an
// attempt survives a restart of cloudd and is made by one cloudd only.
package notify

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Notice is one alert firing or resolved: the JSON a webhook receives,
// and what an e-mail says.
type Notice struct {
	Device   string    `json:"device"`
	Alert    string    `json:"alert"`    // "silent", "missed", "dark", …
	Event    string    `json:"event"`    // "firing" or "resolved"
	Severity string    `json:"severity"` // "warning" or "critical"
	Message  string    `json:"message"`
	Since    time.Time `json:"since"` // when the condition began
	At       time.Time `json:"at"`    // when it fired or resolved
	// Page is the fleet page's URL, if the server knows it.
	Page string `json:"page,omitempty"`
}

// Subject is a one-line summary: "[lapsebox] FIRING critical: glacier-1
// silent" or "[lapsebox] RESOLVED: glacier-1 silent".
func (n Notice) Subject() string {
	if n.Event == "resolved" {
		return fmt.Sprintf("[lapsebox] RESOLVED: %s %s", n.Device, n.Alert)
	}
	return fmt.Sprintf("[lapsebox] %s %s: %s %s", strings.ToUpper(n.Event), n.Severity, n.Device, n.Alert)
}

// Text is the notice as plain text.
func (n Notice) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\n", n.Message)
	fmt.Fprintf(&b, "device:   %s\nalert:    %s (%s)\nevent:    %s at %s\n", n.Device, n.Alert, n.Severity, n.Event, n.At.UTC().Format(time.RFC3339))
	if !n.Since.IsZero() {
		fmt.Fprintf(&b, "since:    %s\n", n.Since.UTC().Format(time.RFC3339))
	}
	if n.Page != "" {
		fmt.Fprintf(&b, "\n%s\n", n.Page)
	}
	return b.String()
}

// Channel delivers notices.
type Channel interface {
	// Send makes one attempt to deliver n. A PermanentError will fail
	// again however often it is tried.
	Send(ctx context.Context, n Notice) error
}

// PermanentError is a failure retrying cannot fix (a 4xx from the
// webhook, an address the mail server refuses).
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }
