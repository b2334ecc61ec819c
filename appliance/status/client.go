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
	u, err := url.Parse(strings.TrimSuffix(baseURL, "/") + "/api/status")
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		shown := "that cannot be parsed" // and may hold a password
		if err == nil {
			shown = u.Redacted()
		}
		return nil, fmt.Errorf("statusd address %s: want an http URL such as http://lapsebox:8080/, without a password (it is sent apart)", shown)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	if password != "" {
		req.SetBasicAuth(gokrazyhttp.User, password)
	}
	client := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("statusd: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("statusd: GET %s: %s", u.Redacted(), resp.Status)
	}
	var snap Snapshot
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxSnapshot)).Decode(&snap); err != nil {
		return nil, fmt.Errorf("statusd: GET %s: not a status snapshot: %w", u.Redacted(), err)
	}
	return &snap, nil
}
