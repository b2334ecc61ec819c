package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/lapsebox/lapsebox/internal/redact"
)

// Webhook posts each notice as JSON to a URL.
type Webhook struct {
	// URL receives the POSTs (http or https).
	URL string
	// Secret, if set, signs each body: the header Lapsebox-Signature is
	// "sha256=" and the hex HMAC-SHA256 of the body under Secret, so the
	// receiver can tell the notice is ours.
	Secret string
	// Client makes the requests (nil: 30 s timeout, no redirects).
	Client *http.Client
}

// SignatureHeader carries a webhook body's HMAC.
const SignatureHeader = "Lapsebox-Signature"

// NewWebhook checks u and returns a Webhook for it.
func NewWebhook(u, secret string) (*Webhook, error) {
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
		return nil, fmt.Errorf("webhook: URL %q: want http(s)://host/path", redact.String(u))
	}
	return &Webhook{URL: u, Secret: secret}, nil
}

// Send implements Channel.
func (w *Webhook) Send(ctx context.Context, n Notice) error {
	body, err := json.Marshal(n)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("webhook: %s", redact.String(err.Error()))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "lapsebox-cloudd")
	if w.Secret != "" {
		m := hmac.New(sha256.New, []byte(w.Secret))
		m.Write(body)
		req.Header.Set(SignatureHeader, "sha256="+hex.EncodeToString(m.Sum(nil)))
	}
	c := w.Client
	if c == nil {
		c = &http.Client{
			Timeout: 30 * time.Second,
			// A redirect would carry the notice somewhere not configured.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("webhook: %s", redact.String(err.Error()))
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	err = fmt.Errorf("webhook: %s: %s %s", redact.URL(req.URL), resp.Status, strings.Join(strings.Fields(string(msg)), " "))
	if resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != 408 && resp.StatusCode != 429 {
		return &PermanentError{err}
	}
	return err
}

// IsPermanent reports whether err is a PermanentError.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}
