package upload

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-retryablehttp"

	"github.com/lapsebox/lapsebox/internal/redact"
)

// ClientOptions configures NewClient. The zero value suits a device on a
// cellular link.
type ClientOptions struct {
	// Attempts is how many times one call is tried, the first included
	// (default 4). Across calls the outbox does the backing off.
	Attempts int
	// MinWait and MaxWait bound the wait between attempts (default 1 s
	// and 30 s). A Retry-After longer than MaxWait ends the call with a
	// RetryAfterError instead of blocking it.
	MinWait, MaxWait time.Duration
	// DialTimeout, TLSHandshakeTimeout and ResponseHeaderTimeout bound
	// each phase of a request (default 30 s, 30 s and 2 min). The body
	// itself has no deadline: a slow link may take an hour for a RAW
	// file. Guard bodies with a StallGuard instead.
	DialTimeout, TLSHandshakeTimeout, ResponseHeaderTimeout time.Duration
	// TLSConfig is the TLS configuration (nil: the system's roots).
	TLSConfig *tls.Config
	// Logger receives the client's logs, with secrets removed (nil:
	// slog.Default()).
	Logger *slog.Logger
}

// NewClient returns a retrying HTTP client for an unattended device:
// exponential backoff with jitter, Retry-After honoured for 429, 503 and
// 507, a bounded number of attempts per call, no retries of permanent
// failures, timeouts on every phase but the body, redirects followed only
// on the request's own scheme and host (CheckRedirect), and logs that
// never show a credential. A failed call returns the last response (not an
// error), for ResponseError to describe.
func NewClient(o ClientOptions) *retryablehttp.Client {
	if o.Attempts <= 0 {
		o.Attempts = 4
	}
	if o.MinWait <= 0 {
		o.MinWait = time.Second
	}
	if o.MaxWait <= 0 {
		o.MaxWait = 30 * time.Second
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = 30 * time.Second
	}
	if o.TLSHandshakeTimeout <= 0 {
		o.TLSHandshakeTimeout = 30 * time.Second
	}
	if o.ResponseHeaderTimeout <= 0 {
		o.ResponseHeaderTimeout = 2 * time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	tr := &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   o.DialTimeout,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		TLSClientConfig:       o.TLSConfig,
		TLSHandshakeTimeout:   o.TLSHandshakeTimeout,
		ResponseHeaderTimeout: o.ResponseHeaderTimeout,
		ExpectContinueTimeout: time.Second,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   4,
		ForceAttemptHTTP2:     true,
	}
	return &retryablehttp.Client{
		HTTPClient:   &http.Client{Transport: tr, CheckRedirect: CheckRedirect},
		Logger:       &redactingLogger{l: o.Logger},
		RetryWaitMin: o.MinWait,
		RetryWaitMax: o.MaxWait,
		RetryMax:     o.Attempts - 1,
		CheckRetry:   CheckRetry(o.MaxWait),
		Backoff:      Backoff,
		ErrorHandler: retryablehttp.PassthroughErrorHandler,
	}
}

// CheckRetry returns a retry policy for retryablehttp: retry transport
// errors (but not certificate or scheme errors, nor a refused redirect),
// 5xx other than 501, and 429, 503 or 507 whose Retry-After is at most
// maxWait; never a permanent 4xx, never once the request's context is
// done.
func CheckRetry(maxWait time.Duration) retryablehttp.CheckRetry {
	return func(ctx context.Context, resp *http.Response, err error) (bool, error) {
		if ctx.Err() != nil {
			return false, context.Cause(ctx)
		}
		if IsRefusedRedirect(err) {
			return false, nil
		}
		if err != nil {
			return retryablehttp.DefaultRetryPolicy(ctx, nil, err)
		}
		switch c := resp.StatusCode; {
		case waitStatus(c):
			d, ok := RetryAfter(resp.Header, time.Now())
			return !ok || d <= maxWait, nil
		case c >= 500 && c != http.StatusNotImplemented:
			return true, nil
		}
		return false, nil
	}
}

// Backoff is a retryablehttp backoff: the server's Retry-After for 429,
// 503 and 507, otherwise min·2^attempt capped at max, with "equal jitter" (a random
// half added to a fixed half) so that a fleet that lost its link at the
// same moment does not come back in step.
func Backoff(min, max time.Duration, attempt int, resp *http.Response) time.Duration {
	if resp != nil && waitStatus(resp.StatusCode) {
		if d, ok := RetryAfter(resp.Header, time.Now()); ok {
			return d
		}
	}
	d := max
	if attempt < 30 && min<<attempt < max && min<<attempt > 0 {
		d = min << attempt
	}
	half := d / 2
	return half + rand.N(half+1)
}

// waitStatus reports whether a response with status code asks to come back
// later: 429 Too Many Requests, 503 Service Unavailable and 507
// Insufficient Storage (cloudd's answer to a device over its share of the
// spool), whose Retry-After says when.
func waitStatus(code int) bool {
	return code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable || code == http.StatusInsufficientStorage
}

// RetryAfter parses a Retry-After header (seconds or an HTTP date) and
// reports whether there was a valid one.
func RetryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s < 0 || s > 1<<31 {
			return 0, false
		}
		return time.Duration(s) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	if d := t.Sub(now); d > 0 {
		return d, true
	}
	return 0, true
}

// maxRedirects bounds the redirects one request follows.
const maxRedirects = 10

// CheckRedirect is the clients' redirect policy (http.Client's
// CheckRedirect): a redirect is followed only to the scheme and host (port
// included) of the request that started it, at most maxRedirects times.
// A device's credential goes with its requests, and it must reach only
// the server it was configured for: not another host, not the same host
// over plain HTTP. Go's client keeps an Authorization header across
// redirects between ports of one host and from https to http.
func CheckRedirect(req *http.Request, via []*http.Request) error {
	if len(via) == 0 {
		return nil
	}
	if !SameOrigin(via[0].URL, req.URL) {
		return &RedirectError{From: RedactURL(via[0].URL), To: RedactURL(req.URL)}
	}
	if len(via) >= maxRedirects {
		return fmt.Errorf("stopped after %d redirects", maxRedirects)
	}
	return nil
}

// RedirectError is a redirect (or a Location) to another scheme or host
// than the configured server's, refused.
type RedirectError struct {
	From, To string // redacted
}

func (e *RedirectError) Error() string {
	return fmt.Sprintf("refused to go from %s to %s: the device sends its credentials only to the scheme and host it was configured with", e.From, e.To)
}

// SameOrigin reports whether u has base's scheme and host, port included
// (a missing port is the scheme's default).
func SameOrigin(base, u *url.URL) bool {
	return base != nil && u != nil &&
		strings.EqualFold(base.Scheme, u.Scheme) &&
		strings.EqualFold(base.Hostname(), u.Hostname()) &&
		port(base) == port(u)
}

func port(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
		return "443"
	case "http":
		return "80"
	}
	return ""
}

// HTTPError is a response the destination refused, with the server's own
// explanation.
type HTTPError struct {
	Method     string
	URL        string // without credentials or query
	StatusCode int
	Status     string // "413 Request Entity Too Large"
	Message    string // the start of the body, on one line
}

func (e *HTTPError) Error() string {
	s := fmt.Sprintf("%s %s: %s", e.Method, e.URL, e.Status)
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// ResponseError maps a response to an error: nil for a 2xx; a
// *RetryAfterError for 429, 503 or 507 with a Retry-After; a *PermanentError for
// other 4xx but 408 and 429; an *HTTPError, worth retrying, for the rest.
// Every error but nil wraps an *HTTPError that carries the server's message.
// It reads (at most 4 KiB of) the body for that message but does not close
// it.
func ResponseError(resp *http.Response) error {
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	e := &HTTPError{StatusCode: resp.StatusCode, Status: resp.Status}
	if e.Status == "" {
		e.Status = strconv.Itoa(resp.StatusCode)
	}
	if r := resp.Request; r != nil {
		e.Method = r.Method
		e.URL = RedactURL(r.URL)
	}
	if resp.Body != nil {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		e.Message = oneLine(string(b))
	}
	if waitStatus(resp.StatusCode) {
		if d, ok := RetryAfter(resp.Header, time.Now()); ok {
			return &RetryAfterError{After: d, Err: e}
		}
	}
	if PermanentStatus(resp.StatusCode) {
		return &PermanentError{StatusCode: resp.StatusCode, Err: e}
	}
	return e
}

// oneLine makes a server's message fit a log line and an outbox entry.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// RedactURL is redact.URL: u without user information or query values.
func RedactURL(u *url.URL) string { return redact.URL(u) }

// Redact is redact.String: s with the credentials of its URLs and bearer
// tokens removed.
func Redact(s string) string { return redact.String(s) }

// redactingLogger is retryablehttp's leveled logger on top of slog, with
// every value passed through Redact.
type redactingLogger struct{ l *slog.Logger }

func (r *redactingLogger) log(level slog.Level, msg string, kv []any) {
	if !r.l.Enabled(context.Background(), level) {
		return
	}
	args := make([]any, len(kv))
	for i, v := range kv {
		switch v := v.(type) {
		case string:
			args[i] = Redact(v)
		case *url.URL:
			args[i] = RedactURL(v)
		case http.Header:
			args[i] = "[headers]"
		case error:
			args[i] = Redact(v.Error())
		case fmt.Stringer:
			args[i] = Redact(v.String())
		default:
			args[i] = v
		}
	}
	r.l.Log(context.Background(), level, "http: "+msg, args...)
}

func (r *redactingLogger) Error(msg string, kv ...any) { r.log(slog.LevelWarn, msg, kv) }
func (r *redactingLogger) Info(msg string, kv ...any)  { r.log(slog.LevelInfo, msg, kv) }
func (r *redactingLogger) Debug(msg string, kv ...any) { r.log(slog.LevelDebug, msg, kv) }
func (r *redactingLogger) Warn(msg string, kv ...any)  { r.log(slog.LevelWarn, msg, kv) }

// IsRefusedRedirect reports whether err is a refused redirect or Location
// (a *RedirectError): trying again at once would only be refused again.
func IsRefusedRedirect(err error) bool {
	var re *RedirectError
	return errors.As(err, &re)
}

// IsRetryAfter reports whether err asks to wait, and for how long.
func IsRetryAfter(err error) (time.Duration, bool) {
	var ra *RetryAfterError
	if errors.As(err, &ra) {
		return ra.After, true
	}
	return 0, false
}
