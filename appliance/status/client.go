package status

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/lapsebox/lapsebox/internal/gokrazyhttp"
)

// maxSnapshot bounds the snapshot Fetch reads: a page's worth of status
// files is tens of KiB.
const maxSnapshot = 4 << 20

// Fetch reads the snapshot a device's statusd serves at /api/status, for
// the host tool. baseURL is statusd's address (http://lapsebox:8080/);
// password, if not empty, is the device's HTTP password. Redirects are not
// followed (the password is for this device only), and errors name the
// URL without credentials.
func Fetch(ctx context.Context, baseURL, password string) (*Snapshot, error) {
	var snap Snapshot
	if err := getJSON(ctx, baseURL, "/api/status", password, "a status snapshot", &snap); err != nil {
		return nil, err
	}
	return &snap, nil
}

// FetchBoot reads what a device's statusd says of its boot partition
// (BootPath), as Fetch reads its snapshot. statusd reads the partition
// to answer: a Pi's takes seconds.
func FetchBoot(ctx context.Context, baseURL, password string) (*BootFiles, error) {
	var b BootFiles
	if err := getJSON(ctx, baseURL, BootPath, password, "statusd's boot files", &b); err != nil {
		return nil, err
	}
	if len(b.SHA256) != 64 || (b.Slot != 0 && b.Slot != 1) {
		return nil, fmt.Errorf("statusd: %s: a sha256 of %d characters and boot slot %d", BootPath, len(b.SHA256), b.Slot)
	}
	return &b, nil
}

// getJSON decodes the JSON statusd serves at path into v, what is the name
// of v for errors.
func getJSON(ctx context.Context, baseURL, path, password, what string, v any) error {
	u, err := url.Parse(strings.TrimSuffix(baseURL, "/") + path)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		shown := "that cannot be parsed" // and may hold a password
		if err == nil {
			shown = u.Redacted()
		}
		return fmt.Errorf("statusd address %s: want an http URL such as http://lapsebox:8080/, without a password (it is sent apart)", shown)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	if password != "" {
		req.SetBasicAuth(gokrazyhttp.User, password)
	}
	client := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("statusd: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return &HTTPError{URL: u.Redacted(), Status: resp.Status, Code: resp.StatusCode}
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxSnapshot)).Decode(v); err != nil {
		return fmt.Errorf("statusd: GET %s: not %s: %w", u.Redacted(), what, err)
	}
	return nil
}

// HTTPError is an answer of statusd other than 200 OK.
type HTTPError struct {
	URL, Status string
	Code        int
}

func (e *HTTPError) Error() string { return fmt.Sprintf("statusd: GET %s: %s", e.URL, e.Status) }
