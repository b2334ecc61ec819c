package upload

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hashicorp/go-retryablehttp"
)

func resp(code int, body string, h ...string) *http.Response {
	hdr := http.Header{}
	for i := 0; i < len(h); i += 2 {
		hdr.Set(h[i], h[i+1])
	}
	u, _ := url.Parse("https://user:pw@cloud.example/v1/files/x?token=SECRET")
	return &http.Response{StatusCode: code, Status: http.StatusText(code), Header: hdr,
		Body: io.NopCloser(strings.NewReader(body)), Request: &http.Request{Method: "PATCH", URL: u}}
}

func TestResponseError(t *testing.T) {
	if err := ResponseError(resp(204, "")); err != nil {
		t.Errorf("204: %v", err)
	}
	for _, tc := range []struct {
		r         *http.Response
		permanent bool
		after     time.Duration
		msg       string
	}{
		{resp(413, "ERR_MAX_SIZE_EXCEEDED: maximum size exceeded\n"), true, 0, "maximum size exceeded"},
		{resp(401, "bad token"), true, 0, "bad token"},
		{resp(408, ""), false, 0, ""},
		{resp(429, "slow down", "Retry-After", "7"), false, 7 * time.Second, "slow down"},
		{resp(503, "", "Retry-After", "x"), false, 0, ""},
		{resp(500, "boom"), false, 0, "boom"},
	} {
		err := ResponseError(tc.r)
		var he *HTTPError
		if err == nil || IsPermanent(err) != tc.permanent || !errors.As(err, &he) || he.StatusCode != tc.r.StatusCode {
			t.Errorf("%d: %v (permanent %v), want permanent %v", tc.r.StatusCode, err, IsPermanent(err), tc.permanent)
			continue
		}
		if d, _ := IsRetryAfter(err); d != tc.after {
			t.Errorf("%d: retry after %v, want %v", tc.r.StatusCode, d, tc.after)
		}
		if !strings.Contains(err.Error(), tc.msg) || strings.Contains(err.Error(), "SECRET") || strings.Contains(err.Error(), "pw") {
			t.Errorf("%d: %q: want the message %q and no secret", tc.r.StatusCode, err, tc.msg)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"120": 2 * time.Minute, "0": 0, "Thu, 26 Nov 2026 12:00:30 GMT": 30 * time.Second, "Thu, 26 Nov 2026 11:00:00 GMT": 0,
	} {
		if d, ok := RetryAfter(http.Header{"Retry-After": {v}}, now); !ok || d != want {
			t.Errorf("RetryAfter(%q) = %v, %v; want %v", v, d, ok, want)
		}
	}
	for _, v := range []string{"", "-1", "soon"} {
		if _, ok := RetryAfter(http.Header{"Retry-After": {v}}, now); ok {
			t.Errorf("RetryAfter(%q) accepted", v)
		}
	}
}

func TestBackoff(t *testing.T) {
	for attempt := 0; attempt < 40; attempt++ {
		d := Backoff(time.Second, 30*time.Second, attempt, nil)
		want := min(time.Second<<min(attempt, 10), 30*time.Second)
		if d < want/2 || d > want {
			t.Errorf("attempt %d: %v, want in [%v, %v]", attempt, d, want/2, want)
		}
	}
	if d := Backoff(time.Second, 30*time.Second, 0, resp(429, "", "Retry-After", "3")); d != 3*time.Second {
		t.Errorf("with Retry-After 3: %v", d)
	}
}

// TestClient runs the client against a server on 127.0.0.1: retries of
// 503 and 500, none of 404, a long Retry-After returned instead of slept,
// and logs without secrets.
func TestClient(t *testing.T) {
	var calls atomic.Int32
	var script atomic.Value // func(n int) (status int, retryAfter string)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(calls.Add(1))
		code, ra := script.Load().(func(int) (int, string))(n)
		if ra != "" {
			w.Header().Set("Retry-After", ra)
		}
		w.WriteHeader(code)
		io.WriteString(w, "answer "+http.StatusText(code))
	}))
	defer srv.Close()
	var logs bytes.Buffer
	c := NewClient(ClientOptions{MinWait: time.Millisecond, MaxWait: 50 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	get := func() (*http.Response, error) {
		req, _ := retryablehttp.NewRequest("GET", srv.URL+"/x?token=SECRET", nil)
		req.Header.Set("Authorization", "Bearer SECRET")
		return c.Do(req)
	}
	for _, tc := range []struct {
		name   string
		script func(int) (int, string)
		calls  int32
		status int
	}{
		{"503 then 200", func(n int) (int, string) {
			if n < 3 {
				return 503, "0"
			}
			return 200, ""
		}, 3, 200},
		{"500 for ever", func(int) (int, string) { return 500, "" }, 4, 500},
		{"404", func(int) (int, string) { return 404, "" }, 1, 404},
		{"429 for an hour", func(int) (int, string) { return 429, "3600" }, 1, 429},
	} {
		calls.Store(0)
		script.Store(tc.script)
		r, err := get()
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		r.Body.Close()
		if r.StatusCode != tc.status || calls.Load() != tc.calls {
			t.Errorf("%s: %d after %d calls, want %d after %d", tc.name, r.StatusCode, calls.Load(), tc.status, tc.calls)
		}
	}
	// A transport error names the URL in its text: the log must not.
	srv.Close()
	if _, err := get(); err == nil {
		t.Error("no error from a closed server")
	}
	if strings.Contains(logs.String(), "SECRET") {
		t.Errorf("a secret in the logs:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "token=REDACTED") {
		t.Errorf("the logs do not show the redacted URL:\n%s", logs.String())
	}
}

// TestStallGuard runs in a synctest bubble: its sleeps and the guard's
// timers move a fake clock, so a loaded machine cannot stretch a 50 ms
// pause into a stall.
func TestStallGuard(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, g := NewStallGuard(context.Background(), 100*time.Millisecond)
		r, err := g.Body(strings.NewReader(strings.Repeat("x", 10)), "x", 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 1)
		for i := 0; i < 10; i++ { // 500 ms of slow progress: no stall
			time.Sleep(50 * time.Millisecond)
			r.Read(buf)
		}
		synctest.Wait()
		if ctx.Err() != nil {
			t.Fatalf("stalled while making progress: %v", context.Cause(ctx))
		}
		time.Sleep(99 * time.Millisecond)
		synctest.Wait()
		if ctx.Err() != nil {
			t.Fatalf("stalled after 99 ms without progress, before the 100 ms timeout: %v", context.Cause(ctx))
		}
		time.Sleep(50 * time.Millisecond)
		synctest.Wait()
		if err := StallCause(ctx); err == nil || !errors.Is(err, ErrStalled) {
			t.Errorf("no stall after 149 ms without progress: %v", context.Cause(ctx))
		}
		g.Stop()
		ctx2, g2 := NewStallGuard(context.Background(), 50*time.Millisecond)
		g2.Stop()
		time.Sleep(100 * time.Millisecond)
		synctest.Wait()
		if StallCause(ctx2) != nil {
			t.Error("a stopped guard reported a stall")
		}
	})
}
