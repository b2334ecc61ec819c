package cellular

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/lapsebox/lapsebox/appliance/statusfile"
)

// Prober proves that the link reaches the central server. An upload to a
// cloud target that succeeded within Fresh is proof enough and costs no
// data; otherwise it fetches URL: any HTTP answer below 500 counts (a 401
// or a 404 still came from the server). Redirects are not followed.
type Prober struct {
	URL string
	// Uploads is uploadd's status file; "" skips the shortcut.
	Uploads string
	Fresh   time.Duration
	Client  *http.Client
}

// Probe implements manager.Config.Probe.
func (p *Prober) Probe(ctx context.Context) error {
	if p.Uploads != "" {
		var up statusfile.Uploads
		if _, err := statusfile.Read(p.Uploads, &up); err == nil {
			for _, t := range up.Targets {
				if t.Kind == "cloud" && time.Since(t.LastSuccess) < p.Fresh {
					return nil
				}
			}
		}
	}
	if p.URL == "" {
		return nil
	}
	c := p.Client
	if c == nil {
		c = &http.Client{Timeout: 30 * time.Second}
	}
	noRedirect := *c
	noRedirect.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL, nil)
	if err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		var ue interface{ Unwrap() error }
		if errors.As(err, &ue) {
			err = ue.Unwrap()
		}
		return fmt.Errorf("probe %s: %w", req.URL.Host, err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	if resp.StatusCode >= 500 {
		return fmt.Errorf("probe %s: %s", req.URL.Host, resp.Status)
	}
	return nil
}
