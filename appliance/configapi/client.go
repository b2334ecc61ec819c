package configapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/lapsebox/lapsebox/appliance/config"
)

// DefaultPort is statusd's port, which a device URL without one means.
const DefaultPort = "8080"

// Device is a device's configuration endpoint, as the host tool reaches it.
type Device struct {
	// BaseURL is statusd's address ("http://lapsebox:8080/"); a bare host
	// name or a URL without a port means DefaultPort.
	BaseURL string
	// Password is the device's HTTP password (gokrazy's).
	Password string
	// Client makes the requests; nil: one with timeouts that follows no
	// redirect (the password is for this device only).
	Client *http.Client
}

// Rejected is a configuration the device refused as invalid.
type Rejected struct {
	// Name is the file's name, for the messages.
	Name string
	// Problems says what is wrong, in file order.
	Problems []Problem
}

// Error returns one line per problem: "site.json: line 12: targets[0].url:
// required".
func (e *Rejected) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		var b strings.Builder
		b.WriteString(e.Name + ": ")
		if p.Line > 0 {
			fmt.Fprintf(&b, "line %d: ", p.Line)
		}
		if p.Field != "" {
			b.WriteString(p.Field + ": ")
		}
		b.WriteString(p.Message)
		lines[i] = b.String()
	}
	return strings.Join(lines, "\n")
}

// PushResult is what the device did with an accepted configuration.
type PushResult struct {
	// Changed is false if the device had that very file already.
	Changed bool
	// PreviousKept says the file it replaced is kept as config.json.prev.
	PreviousKept bool
	// Targets is the number of upload targets.
	Targets int
}

// Push sends the configuration file data (named name in errors) to the
// device. A configuration the device refuses is a *Rejected listing every
// problem with its line and field.
func (d *Device) Push(ctx context.Context, name string, data []byte) (*PushResult, error) {
	resp, err := d.do(ctx, http.MethodPut, "", data)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var rep reply
	if err := decodeReply(resp, &rep); err != nil {
		return nil, err
	}
	switch {
	case resp.StatusCode == http.StatusOK:
		return &PushResult{Changed: rep.Changed, PreviousKept: rep.PreviousKept, Targets: rep.Targets}, nil
	case resp.StatusCode == http.StatusUnprocessableEntity && len(rep.Problems) > 0:
		return nil, &Rejected{Name: name, Problems: rep.Problems}
	}
	return nil, d.failed(resp, rep)
}

// Pull returns the configuration in use on the device and which file it is
// (SourceHeader); its secrets are "[redacted]" unless secrets is set.
func (d *Device) Pull(ctx context.Context, secrets bool) (data []byte, source string, err error) {
	q := ""
	if secrets {
		q = "secrets=1"
	}
	resp, err := d.do(ctx, http.MethodGet, q, nil)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var rep reply
		if err := decodeReply(resp, &rep); err != nil {
			return nil, "", err
		}
		return nil, "", d.failed(resp, rep)
	}
	data, err = io.ReadAll(io.LimitReader(resp.Body, config.MaxFileSize+1))
	if err != nil {
		return nil, "", fmt.Errorf("config pull: reading the answer: %w", err)
	}
	if len(data) > config.MaxFileSize {
		return nil, "", fmt.Errorf("config pull: the device sent more than %d KiB", config.MaxFileSize>>10)
	}
	return data, resp.Header.Get(SourceHeader), nil
}

// endpoint returns the endpoint's URL.
func (d *Device) endpoint() (*url.URL, error) {
	raw := d.BaseURL
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return nil, fmt.Errorf("device %q: want a host name or an http URL such as http://lapsebox:8080/", d.BaseURL)
	}
	if u.Port() == "" {
		u.Host = net.JoinHostPort(u.Hostname(), DefaultPort)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + Path
	u.RawQuery, u.Fragment = "", ""
	return u, nil
}

func (d *Device) do(ctx context.Context, method, query string, body []byte) (*http.Response, error) {
	u, err := d.endpoint()
	if err != nil {
		return nil, err
	}
	u.RawQuery = query
	req, err := http.NewRequestWithContext(ctx, method, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.SetBasicAuth(User, d.Password)
	hc := d.Client
	if hc == nil {
		hc = &http.Client{
			Timeout:       2 * time.Minute,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("config %s %s: %w", method, u.Redacted(), err)
	}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		resp.Body.Close()
		return nil, fmt.Errorf("config: %s answered %s to %s: redirects are not followed", u.Redacted(), resp.Status, resp.Header.Get("Location"))
	}
	return resp, nil
}

// decodeReply reads a JSON reply; a body that is not one (a proxy's page,
// another server) is reported with the status.
func decodeReply(resp *http.Response, rep *reply) error {
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("config: reading the answer (%s): %w", resp.Status, err)
	}
	if err := json.Unmarshal(b, rep); err != nil {
		if resp.StatusCode == http.StatusUnauthorized {
			// statusd's own password check answers before the
			// endpoint does, in plain text.
			return errRefused
		}
		return fmt.Errorf("config: the device answered %s, not lapsebox's configuration endpoint (%s)", resp.Status, firstLine(b))
	}
	return nil
}

func (d *Device) failed(resp *http.Response, rep reply) error {
	msg := rep.Error
	if msg == "" {
		msg = resp.Status
	}
	switch resp.StatusCode {
	case http.StatusUnauthorized:
		return errRefused
	case http.StatusTooManyRequests:
		return fmt.Errorf("config: %s (retry after %s s)", msg, resp.Header.Get("Retry-After"))
	}
	return fmt.Errorf("config: %s: %s", resp.Status, msg)
}

// errRefused is a 401 from the device.
var errRefused = errors.New("config: the device refused the password (user " + User + "): is it the password of the image this device runs?")

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(string(b), "\n")
	if len(s) > 100 {
		s = s[:100] + "…"
	}
	return strings.ToValidUTF8(s, "?")
}
