package heartbeat

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/go-retryablehttp"

	"github.com/lapsebox/lapsebox/appliance/config"
	"github.com/lapsebox/lapsebox/appliance/statusfile"
	"github.com/lapsebox/lapsebox/appliance/upload"
)

// Sender sends heartbeats to one central server.
type Sender struct {
	// URL is the server's base URL, Device and Token the device's
	// credential: those of the cloud target.
	URL, Device, Token string
	// Target is the cloud target's name: an upload to it is followed by
	// a heartbeat.
	Target string
	// Sources says where to collect.
	Sources Sources
	// Interval is the time between heartbeats (default 5 minutes);
	// MinGap the least time between two, when uploads come faster
	// (default 1 minute).
	Interval, MinGap time.Duration
	// Poll is how often uploadd.json is looked at for a new upload
	// (default 15 s).
	Poll time.Duration
	// Uploads, if not nil, is signalled after each of uploadd's
	// deliveries (to any target). uploadd.json is then looked at only
	// for a Poll after a signal, every Poll while an upload it told of
	// waits for its heartbeat, and while heartbeats fail: an idle
	// device is not woken every Poll to find nothing.
	Uploads <-chan struct{}
	// Client makes the requests (nil: upload.NewClient, with TLS session
	// resumption).
	Client *retryablehttp.Client
	// Logf logs (nil: log.Printf).
	Logf func(format string, args ...any)
	// Now returns the time (nil: time.Now).
	Now func() time.Time

	base *url.URL
}

// Senders returns a Sender for every cloud target of cfg (one that sends
// no pictures included: it is there to supervise the device).
func Senders(cfg *config.Config, device string, src Sources) []*Sender {
	var out []*Sender
	for _, t := range cfg.Targets {
		if t.Kind != config.Cloud || t.URL == "" {
			continue
		}
		var token string
		if t.Secret != "" {
			token = cfg.Secrets[t.Secret].Reveal()
		}
		out = append(out, &Sender{URL: strings.TrimSuffix(t.URL, "/"), Device: device, Token: token, Target: t.Name, Sources: src})
	}
	return out
}

// Run sends heartbeats to the cloud targets of cfg until ctx is done:
// what uploadd calls. delivered, if not nil, is signalled after each
// delivery, and becomes each Sender's Uploads. Senders that cannot be
// made are logged.
func Run(ctx context.Context, cfg *config.Config, device string, src Sources, delivered <-chan struct{}, logf func(string, ...any)) {
	done := make(chan struct{})
	n := 0
	var uploads []chan struct{}
	for _, s := range Senders(cfg, device, src) {
		s.Logf = logf
		if delivered != nil {
			c := make(chan struct{}, 1)
			uploads = append(uploads, c)
			s.Uploads = c
		}
		n++
		go func() {
			if err := s.Run(ctx); err != nil && ctx.Err() == nil {
				logf("heartbeat: %v", err)
			}
			done <- struct{}{}
		}()
	}
	if delivered != nil {
		go fanOut(ctx, delivered, uploads)
	}
	for range n {
		<-done
	}
}

// fanOut passes each signal on delivered to every channel of to that has
// none waiting, until ctx is done.
func fanOut(ctx context.Context, delivered <-chan struct{}, to []chan struct{}) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-delivered:
			for _, c := range to {
				select {
				case c <- struct{}{}:
				default:
				}
			}
		}
	}
}

func (s *Sender) init() error {
	u, err := url.Parse(s.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("heartbeat: server URL %q: want http(s)://host", upload.Redact(s.URL))
	}
	if s.Device == "" || s.Token == "" {
		return errors.New("heartbeat: no device name or token")
	}
	s.base = u
	if s.Interval <= 0 {
		s.Interval = 5 * time.Minute
	}
	if s.MinGap <= 0 {
		s.MinGap = time.Minute
	}
	if s.Poll <= 0 {
		s.Poll = 15 * time.Second
	}
	if s.Client == nil {
		// A heartbeat every few minutes outlives idle connections: TLS
		// session resumption spares most of a new handshake's bytes.
		s.Client = upload.NewClient(upload.ClientOptions{
			Attempts:  3,
			TLSConfig: &tls.Config{ClientSessionCache: tls.NewLRUClientSessionCache(4)},
		})
	}
	if s.Logf == nil {
		s.Logf = log.Printf
	}
	if s.Now == nil {
		s.Now = time.Now
	}
	return nil
}

// Run sends a heartbeat at once, then every Interval, and within a Poll
// of each upload to Target but not sooner than MinGap after the
// last. A failed one is tried again after MinGap, or after Interval if
// the server refused it (a wrong token). It returns when ctx is done.
func (s *Sender) Run(ctx context.Context) error {
	if err := s.init(); err != nil {
		return err
	}
	var (
		last, retryAt time.Time
		lastUpload    time.Time
		failing       bool
	)
	t := time.NewTimer(s.Poll)
	defer t.Stop()
	for {
		now := s.Now()
		up := s.lastUpload()
		due := last.IsZero() || now.Sub(last) >= s.Interval ||
			up.After(lastUpload) && now.Sub(last) >= s.MinGap
		if failing {
			due = !now.Before(retryAt)
		}
		if due {
			err := s.Send(ctx)
			switch {
			case err == nil:
				if failing {
					s.Logf("heartbeat: %s: sent again", s.Target)
				}
				last, lastUpload, failing = now, up, false
			case ctx.Err() != nil:
				return nil
			default:
				if !failing {
					s.Logf("heartbeat: %s: %v", s.Target, err)
				}
				failing, retryAt = true, now.Add(s.MinGap)
				if upload.IsPermanent(err) {
					retryAt = now.Add(s.Interval)
				}
			}
		}
		// The next look: a Poll from now, or, when told of uploads and
		// none is waiting, at the Interval or a Poll after the next.
		wait := s.Poll
		if s.Uploads != nil && !failing && !up.After(lastUpload) {
			wait = max(last.Add(s.Interval).Sub(s.Now()), 0)
		}
		next := s.Now().Add(wait)
		t.Reset(wait)
		for waiting := true; waiting; {
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
				waiting = false
			case <-s.Uploads:
				// uploadd.json tells of it within seconds. Never later
				// than planned: deliveries a second apart must not put
				// the look off for good.
				if soon := s.Now().Add(s.Poll); soon.Before(next) {
					next = soon
					t.Reset(s.Poll)
				}
			}
		}
	}
}

// lastUpload is the last success of the cloud target, from uploadd.json.
func (s *Sender) lastUpload() time.Time {
	var up statusfile.Uploads
	if _, err := statusfile.Read(filepath.Join(s.Sources.withDefaults().StatusDir, "uploadd.json"), &up); err != nil {
		return time.Time{}
	}
	for _, t := range up.Targets {
		if t.Name == s.Target {
			return t.LastSuccess
		}
	}
	return time.Time{}
}

// Send collects and sends one heartbeat.
func (s *Sender) Send(ctx context.Context) error {
	if s.base == nil {
		if err := s.init(); err != nil {
			return err
		}
	}
	body, err := Encode(Collect(s.Sources, s.Now()))
	if err != nil {
		return err
	}
	req, err := retryablehttp.NewRequestWithContext(ctx, http.MethodPost, s.base.JoinPath(Path).String(), bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Content-Encoding", "gzip")
	req.Header.Set("Authorization", "Bearer "+s.Token)
	req.Header.Set(deviceHeader, s.Device)
	resp, err := s.Client.Do(req)
	if err != nil {
		return fmt.Errorf("heartbeat: %s", upload.Redact(err.Error()))
	}
	defer resp.Body.Close()
	if err := upload.ResponseError(resp); err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	return nil
}

// deviceHeader names the device to the server (cloud/ingest's
// DeviceHeader).
const deviceHeader = "Lapsebox-Device"
