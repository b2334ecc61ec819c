package gokrazyhttp

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestGate checks what the gate answers for each password the device may
// have and each the client may send; an empty password lets nothing
// through, not even empty credentials.
func TestGate(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("in")) })
	for _, tt := range []struct {
		name     string
		password func() (string, error)
		user, pw string // "": no credentials
		status   int
		says     string
	}{
		{"the right password", func() (string, error) { return "secret", nil }, User, "secret", 200, "in"},
		{"a wrong one", func() (string, error) { return "secret", nil }, User, "secreT", 401, "unauthorized"},
		{"another user", func() (string, error) { return "secret", nil }, "root", "secret", 401, "unauthorized"},
		{"no credentials", func() (string, error) { return "secret", nil }, "", "", 401, "unauthorized"},
		{"a device without a password", func() (string, error) { return "", ErrNoPassword }, User, "", 403, "the page is off"},
		{"an empty password", func() (string, error) { return "", nil }, User, "", 403, "the page is off"},
		{"a password that cannot be read", func() (string, error) { return "", errors.New("EIO") }, User, "secret", 500, "cannot read"},
	} {
		g := &Gate{Password: tt.password, Service: "test", Realm: "lapsebox test", Off: "the page is off", Logf: t.Logf}
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/", nil)
		if tt.user != "" {
			req.SetBasicAuth(tt.user, tt.pw)
		}
		g.Wrap(ok).ServeHTTP(rec, req)
		if rec.Code != tt.status || !strings.Contains(rec.Body.String(), tt.says) {
			t.Errorf("%s: HTTP %d %q, want %d saying %q", tt.name, rec.Code, rec.Body.String(), tt.status, tt.says)
		}
		if rec.Code == 401 && rec.Header().Get("WWW-Authenticate") != `Basic realm="lapsebox test", charset="UTF-8"` {
			t.Errorf("%s: WWW-Authenticate %q", tt.name, rec.Header().Get("WWW-Authenticate"))
		}
	}
}
