package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/cloud/notify/smtptest"
)

var notice = Notice{Device: "glacier-1", Alert: "silent", Event: "firing", Severity: "critical",
	Message: "no heartbeat for 17m — last seen at 11:43", At: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC),
	Since: time.Date(2026, 11, 26, 11, 43, 0, 0, time.UTC), Page: "https://cloud.example/fleet"}

func newMail(t *testing.T, s *smtptest.Server, password string) *Mail {
	t.Helper()
	m, err := NewMail(s.Addr, "alerts@example.org", password, "lapsebox <alerts@example.org>", []string{"ops@example.org", "oncall@example.org"})
	if err != nil {
		t.Fatal(err)
	}
	m.TLSConfig = s.ClientTLS()
	return m
}

func TestMail(t *testing.T) {
	s := smtptest.Start(t, "alerts@example.org", "pw-1")
	if err := newMail(t, s, "pw-1").Send(context.Background(), notice); err != nil {
		t.Fatal(err)
	}
	msgs := s.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
	m := msgs[0]
	if !m.TLS || m.User != "alerts@example.org" || m.From != "alerts@example.org" || strings.Join(m.To, ",") != "ops@example.org,oncall@example.org" {
		t.Errorf("envelope: %+v", m)
	}
	parsed, err := mail.ReadMessage(strings.NewReader(m.Data))
	if err != nil {
		t.Fatal(err)
	}
	subj, _ := new(mime.WordDecoder).DecodeHeader(parsed.Header.Get("Subject"))
	if subj != "[lapsebox] FIRING critical: glacier-1 silent" {
		t.Errorf("Subject = %q", subj)
	}
	body, _ := io.ReadAll(parsed.Body)
	if !strings.Contains(string(body), "no heartbeat for 17m =E2=80=94 last seen") || !strings.Contains(string(body), "https://cloud.example/fleet") {
		t.Errorf("body:\n%s", body)
	}
	resolved := notice
	resolved.Event = "resolved"
	if resolved.Subject() != "[lapsebox] RESOLVED: glacier-1 silent" {
		t.Errorf("resolved subject %q", resolved.Subject())
	}
}

func TestMailFailures(t *testing.T) {
	ctx := context.Background()
	s := smtptest.Start(t, "alerts@example.org", "pw-1")

	// A temporary refusal is worth retrying; the next attempt goes through.
	s.FailNext(1)
	err := newMail(t, s, "pw-1").Send(ctx, notice)
	if err == nil || IsPermanent(err) || !strings.Contains(err.Error(), "451") {
		t.Errorf("after a 451: %v", err)
	}
	if err := newMail(t, s, "pw-1").Send(ctx, notice); err != nil || len(s.Messages()) != 1 {
		t.Errorf("retry: %v, %d messages", err, len(s.Messages()))
	}

	// A wrong password will stay wrong, and does not show in the error.
	err = newMail(t, s, "wrong-pw").Send(ctx, notice)
	if !IsPermanent(err) || !strings.Contains(err.Error(), "535") || strings.Contains(err.Error(), "wrong-pw") {
		t.Errorf("wrong password: %v", err)
	}

	// A server we do not trust gets nothing.
	m := newMail(t, s, "pw-1")
	m.TLSConfig = nil
	if err := m.Send(ctx, notice); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("untrusted certificate: %v", err)
	}

	// Nor one that offers no STARTTLS.
	plain := smtptest.Start(t, "alerts@example.org", "pw-1")
	plain.DisableSTARTTLS()
	err = newMail(t, plain, "pw-1").Send(ctx, notice)
	if !IsPermanent(err) || !strings.Contains(err.Error(), "STARTTLS") || plain.Attempts() != 0 {
		t.Errorf("without STARTTLS: %v (%d attempts)", err, plain.Attempts())
	}
	if n := len(s.Messages()); n != 1 {
		t.Errorf("%d messages after the failures, want 1", n)
	}

	// A recipient the server refuses is permanent.
	m = newMail(t, s, "pw-1")
	m.To = []string{"nobody@refused.example"}
	if err := m.Send(ctx, notice); !IsPermanent(err) {
		t.Errorf("refused recipient: %v", err)
	}
}

func TestNewMailChecks(t *testing.T) {
	for _, tc := range []struct {
		addr, from string
		to         []string
	}{
		{"smtp.example.org", "a@b.c", []string{"d@e.f"}},
		{"smtp.example.org:587", "not an address", []string{"d@e.f"}},
		{"smtp.example.org:587", "a@b.c", nil},
		{"smtp.example.org:587", "a@b.c", []string{"d@e.f\r\nBcc: x@y.z"}},
	} {
		if _, err := NewMail(tc.addr, "", "", tc.from, tc.to); err == nil {
			t.Errorf("NewMail(%q, %q, %q) accepted", tc.addr, tc.from, tc.to)
		}
	}
}

func TestWebhook(t *testing.T) {
	var (
		calls  atomic.Int32
		status atomic.Int32
		got    atomic.Pointer[Notice]
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		body, _ := io.ReadAll(r.Body)
		m := hmac.New(sha256.New, []byte("hook-secret"))
		m.Write(body)
		if r.Header.Get(SignatureHeader) != "sha256="+hex.EncodeToString(m.Sum(nil)) || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var n Notice
		if err := json.Unmarshal(body, &n); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		got.Store(&n)
		if s := status.Load(); s != 0 {
			http.Error(w, "busy", int(s))
		}
	}))
	defer srv.Close()
	w, err := NewWebhook(srv.URL+"/hook", "hook-secret")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := w.Send(ctx, notice); err != nil {
		t.Fatal(err)
	}
	if n := got.Load(); n == nil || *n != notice {
		t.Errorf("received %+v", n)
	}
	status.Store(http.StatusServiceUnavailable)
	if err := w.Send(ctx, notice); err == nil || IsPermanent(err) {
		t.Errorf("503: %v", err)
	}
	status.Store(http.StatusGone)
	if err := w.Send(ctx, notice); !IsPermanent(err) {
		t.Errorf("410: %v", err)
	}
	bad, _ := NewWebhook(srv.URL+"/hook", "other-secret")
	if err := bad.Send(ctx, notice); !IsPermanent(err) || !strings.Contains(err.Error(), "401") {
		t.Errorf("wrong secret: %v", err)
	}
	for _, u := range []string{"ftp://x/y", "http://", "://"} {
		if _, err := NewWebhook(u, ""); err == nil {
			t.Errorf("NewWebhook(%q) accepted", u)
		}
	}
}

// A webhook that redirects does not take the notice elsewhere.
func TestWebhookNoRedirect(t *testing.T) {
	var elsewhere atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { elsewhere.Add(1) }))
	defer other.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL, http.StatusTemporaryRedirect)
	}))
	defer srv.Close()
	w, _ := NewWebhook(srv.URL, "")
	if err := w.Send(context.Background(), notice); err == nil || elsewhere.Load() != 0 {
		t.Errorf("redirect: %v, %d requests elsewhere", err, elsewhere.Load())
	}
}
