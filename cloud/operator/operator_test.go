package operator

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/lapsebox/lapsebox/cloud/operator/operatortest"
	"github.com/lapsebox/lapsebox/cloud/state"
	"github.com/lapsebox/lapsebox/cloud/state/statetest"
)

func TestMain(m *testing.M) { os.Exit(statetest.Main(m)) }

var ctx = context.Background()

func TestPasswordHash(t *testing.T) {
	h, err := HashPassword("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("hash %q", h)
	}
	if h2, _ := HashPassword("correct horse battery staple"); h2 == h {
		t.Error("two hashes of one password are equal: no salt")
	}
	if ok, rehash, err := CheckPassword(ctx, h, "correct horse battery staple"); !ok || rehash || err != nil {
		t.Errorf("right password: %v %v %v", ok, rehash, err)
	}
	if ok, _, err := CheckPassword(ctx, h, "correct horse battery stapl"); ok || err != nil {
		t.Errorf("wrong password: %v %v", ok, err)
	}
	// A hash made with weaker parameters is good, and asks for a rehash.
	weak := "$argon2id$v=19$m=4096,t=1,p=1$c2FsdHNhbHRzYWx0$" + b64(argon2.IDKey([]byte("pw"), []byte("saltsaltsalt"), 1, 4096, 1, 32))
	if ok, rehash, err := CheckPassword(ctx, weak, "pw"); !ok || !rehash || err != nil {
		t.Errorf("weak hash: %v %v %v", ok, rehash, err)
	}
	for _, bad := range []string{"", "plain", "$2a$10$bcrypthash", "$argon2id$v=19$m=99999999,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=18$m=4096,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", "$argon2id$v=19$m=4096,t=0,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"} {
		if ok, _, err := CheckPassword(ctx, bad, "pw"); ok || err == nil {
			t.Errorf("CheckPassword(%q) = %v, %v", bad, ok, err)
		}
	}
}

// site is Auth in front of a protected page, on a test server.
type site struct {
	srv  *httptest.Server
	db   *state.DB
	auth *Auth
	now  time.Time
}

func newSite(t *testing.T, tls bool) *site {
	s := &site{db: statetest.Open(t, statetest.SQLite(t)), now: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}
	s.auth = &Auth{DB: s.db, Home: "/fleet", Now: func() time.Time { return s.now }, Logger: quiet()}
	mux := http.NewServeMux()
	mux.Handle("/login", s.auth.Handler())
	mux.Handle("/logout", s.auth.Handler())
	mux.Handle("/account/", s.auth.Handler())
	mux.Handle("/fleet", s.auth.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sess := SessionOf(r.Context())
		io.WriteString(w, "fleet of "+sess.Operator+" csrf="+sess.CSRF)
	})))
	if tls {
		s.srv = httptest.NewTLSServer(mux)
	} else {
		s.srv = httptest.NewServer(mux)
	}
	t.Cleanup(s.srv.Close)
	h, _ := HashPassword("a-long-password-1")
	if err := s.db.AddOperator(ctx, "ops", h, s.now); err != nil {
		t.Fatal(err)
	}
	return s
}

// browser is a client with cookies that does not follow redirects.
func (s *site) browser(t *testing.T) *http.Client {
	return operatortest.Browser(s.srv.Client().Transport)
}

var (
	get  = operatortest.Get
	post = operatortest.Post
)

// login logs c in.
func (s *site) login(t *testing.T, c *http.Client, name, password string) (*http.Response, string) {
	t.Helper()
	return operatortest.Login(t, c, s.srv.URL, name, password), ""
}

func TestLoginFlow(t *testing.T) {
	s := newSite(t, false)
	c := s.browser(t)
	if resp, _ := get(t, c, s.srv.URL+"/fleet"); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
		t.Fatalf("protected page without a session: %s → %s", resp.Status, resp.Header.Get("Location"))
	}
	resp, page := get(t, c, s.srv.URL+"/login")
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(page, `<style nonce="`) {
		t.Errorf("login page CSP %q", csp)
	}
	if resp, _ := s.login(t, c, "ops", "wrong password"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong password: %s", resp.Status)
	}
	if resp, _ := s.login(t, c, "nobody", "a-long-password-1"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("unknown operator: %s", resp.Status)
	}
	resp, _ = s.login(t, c, "ops", "a-long-password-1")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/fleet" {
		t.Fatalf("login: %s → %s", resp.Status, resp.Header.Get("Location"))
	}
	var cookie *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == "lapsebox_session" {
			cookie = ck
		}
	}
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode || cookie.Path != "/" || len(cookie.Value) != 43 {
		t.Fatalf("session cookie %+v", cookie)
	}
	resp, body := get(t, c, s.srv.URL+"/fleet")
	if resp.StatusCode != 200 || !strings.HasPrefix(body, "fleet of ops csrf=") {
		t.Fatalf("after login: %s %s", resp.Status, body)
	}
	csrf := strings.TrimPrefix(body, "fleet of ops csrf=")
	// A form without the token, with another session's, or posted from
	// another site is refused; the same with the token passes.
	if resp, _ := post(t, c, s.srv.URL+"/fleet", url.Values{}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("POST without CSRF token: %s", resp.Status)
	}
	if resp, _ := post(t, c, s.srv.URL+"/fleet", url.Values{"csrf": {"forged"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("POST with a wrong CSRF token: %s", resp.Status)
	}
	if resp, _ := post(t, c, s.srv.URL+"/fleet", url.Values{"csrf": {csrf}}, "Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site POST: %s", resp.Status)
	}
	if resp, _ := post(t, c, s.srv.URL+"/fleet", url.Values{"csrf": {csrf}}); resp.StatusCode != 200 {
		t.Errorf("POST with the token: %s", resp.Status)
	}
	// A login form posted from another site (no login cookie) is refused.
	other := s.browser(t)
	if resp, _ := post(t, other, s.srv.URL+"/login", url.Values{"csrf": {"x"}, "name": {"ops"}, "password": {"a-long-password-1"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("login without the form's cookie: %s", resp.Status)
	}
	// Logging out ends the session on the server: the old cookie is
	// worth nothing.
	stolen := cookie.Value
	if resp, body := post(t, c, s.srv.URL+"/logout", url.Values{"csrf": {csrf}}); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("logout: %s %s", resp.Status, body)
	}
	req, _ := http.NewRequest("GET", s.srv.URL+"/fleet", nil)
	req.AddCookie(&http.Cookie{Name: "lapsebox_session", Value: stolen})
	if resp, err := other.Do(req); err != nil || resp.StatusCode != http.StatusSeeOther {
		t.Errorf("old cookie after logout: %v %v", resp.Status, err)
	}
	// Sessions expire.
	s.login(t, c, "ops", "a-long-password-1")
	s.now = s.now.Add(13 * time.Hour)
	if resp, _ := get(t, c, s.srv.URL+"/fleet"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("after 13 hours: %s", resp.Status)
	}
}

func TestPasswordChange(t *testing.T) {
	s := newSite(t, false)
	c, c2 := s.browser(t), s.browser(t)
	s.login(t, c, "ops", "a-long-password-1")
	s.login(t, c2, "ops", "a-long-password-1")
	_, page := get(t, c, s.srv.URL+"/account/password")
	csrf := operatortest.CSRF(page)
	for _, tc := range []struct {
		current, next, again string
		status               int
	}{
		{"wrong", "another-long-one", "another-long-one", 401},
		{"a-long-password-1", "short", "short", 400},
		{"a-long-password-1", "another-long-one", "another-long-two", 400},
		{"a-long-password-1", "another-long-one", "another-long-one", 303},
	} {
		resp, _ := post(t, c, s.srv.URL+"/account/password", url.Values{"csrf": {csrf}, "current": {tc.current}, "new": {tc.next}, "again": {tc.again}})
		if resp.StatusCode != tc.status {
			t.Errorf("change %+v: %s", tc, resp.Status)
		}
	}
	// Every session ended, the other browser's too.
	for _, b := range []*http.Client{c, c2} {
		if resp, _ := get(t, b, s.srv.URL+"/fleet"); resp.StatusCode != http.StatusSeeOther {
			t.Errorf("a session survived the password change: %s", resp.Status)
		}
	}
	if resp, _ := s.login(t, c, "ops", "another-long-one"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("login with the new password: %s", resp.Status)
	}
}

// A client guessing passwords is slowed down: after 10 failures even the
// right password waits.
func TestLoginRateLimit(t *testing.T) {
	s := newSite(t, false)
	c := s.browser(t)
	for range 10 {
		s.login(t, c, "ops", "guess")
	}
	resp, _ := s.login(t, c, "ops", "a-long-password-1")
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Errorf("11th attempt: %s", resp.Status)
	}
	s.now = s.now.Add(15 * time.Second)
	if resp, _ := s.login(t, c, "ops", "a-long-password-1"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("after waiting: %s", resp.Status)
	}
}

// Over TLS the session cookie is Secure with the __Host- prefix.
func TestSecureCookie(t *testing.T) {
	s := newSite(t, true)
	c := s.browser(t)
	resp, _ := s.login(t, c, "ops", "a-long-password-1")
	var ok bool
	for _, ck := range resp.Cookies() {
		if ck.Name == "__Host-lapsebox_session" && ck.Secure && ck.HttpOnly && ck.Path == "/" && ck.Domain == "" {
			ok = true
		}
	}
	if !ok {
		t.Errorf("cookies over TLS: %v", resp.Cookies())
	}
	if resp, _ := get(t, c, s.srv.URL+"/fleet"); resp.StatusCode != 200 {
		t.Errorf("after login over TLS: %s", resp.Status)
	}
}

func TestBootstrap(t *testing.T) {
	statetest.Run(t, func(t *testing.T, dsn string) {
		db := statetest.Open(t, dsn)
		pw, err := Bootstrap(ctx, db, "admin", time.Now())
		if err != nil || len(pw) < 20 {
			t.Fatalf("Bootstrap = %q, %v", pw, err)
		}
		h, _ := db.PasswordHash(ctx, "admin")
		if ok, _, _ := CheckPassword(ctx, h, pw); !ok {
			t.Error("the printed password does not match")
		}
		if pw2, err := Bootstrap(ctx, db, "admin", time.Now()); pw2 != "" || err != nil {
			t.Errorf("second Bootstrap = %q, %v", pw2, err)
		}
	})
}

// A tool's Basic credentials are checked against the slow hash once per
// basicTTL, not at each of its requests; a changed password, a wrong one
// and an expired memory are checked again.
func TestBasicRemembersCredentials(t *testing.T) {
	s := newSite(t, false)
	mux := http.NewServeMux()
	mux.Handle("/publish", s.auth.RequireBasic(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "published by "+SessionOf(r.Context()).Operator)
	})))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	basic := func(user, pw string) int {
		t.Helper()
		req, _ := http.NewRequest("GET", srv.URL+"/publish", nil)
		req.SetBasicAuth(user, pw)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for i := 0; i < 20; i++ {
		if code := basic("ops", "a-long-password-1"); code != 200 {
			t.Fatalf("request %d: %d", i, code)
		}
	}
	if n := s.auth.hashed.Load(); n != 1 {
		t.Errorf("%d slow checks for 20 requests with the same credentials, want 1", n)
	}
	if code := basic("ops", "a-long-password-2"); code != 401 {
		t.Errorf("wrong password: %d", code)
	}
	if code := basic("ops", "a-long-password-2"); code != 401 || s.auth.hashed.Load() != 3 {
		t.Errorf("a wrong password must be checked each time: %d, %d checks", code, s.auth.hashed.Load())
	}
	// The password changes: the old one is refused at once.
	h, _ := HashPassword("a-new-password-3")
	if err := s.db.SetPassword(ctx, "ops", h, s.now); err != nil {
		t.Fatal(err)
	}
	if code := basic("ops", "a-long-password-1"); code != 401 {
		t.Errorf("the old password after a change: %d", code)
	}
	if code := basic("ops", "a-new-password-3"); code != 200 {
		t.Errorf("the new password: %d", code)
	}
	before := s.auth.hashed.Load()
	s.now = s.now.Add(basicTTL)
	if code := basic("ops", "a-new-password-3"); code != 200 || s.auth.hashed.Load() != before+1 {
		t.Errorf("after %s: %d, %d checks; want a new check", basicTTL, code, s.auth.hashed.Load()-before)
	}
}
