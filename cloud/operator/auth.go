// Package operator is the login of cloudd's operators: passwords hashed
// with Argon2id, sessions in the shared fleet state (so any cloudd behind
// a load balancer knows them) under a random cookie that is HttpOnly,
// SameSite=Strict and, over TLS, Secure with the __Host- prefix; every
// form carries a per-session CSRF token and cross-origin posts are
// refused; failed logins slow down per client.
package operator

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	_ "embed"

	"github.com/lapsebox/lapsebox/cloud/state"
	"github.com/lapsebox/lapsebox/internal/faillimit"
)

// Paths the operator pages use.
const (
	LoginPath    = "/login"
	LogoutPath   = "/logout"
	PasswordPath = "/account/password"
)

// MinPasswordLen is the shortest password an operator may choose.
const MinPasswordLen = 12

// Auth logs operators in and out and guards the pages behind it.
type Auth struct {
	DB *state.DB
	// Home is where a login leads (default "/").
	Home string
	// TTL is how long a session lasts (default 12 hours).
	TTL time.Duration
	// Secure marks cookies Secure even on plain HTTP requests: cloudd is
	// behind a proxy that terminates TLS. Requests over TLS always get
	// Secure cookies.
	Secure bool
	// Now returns the time (default time.Now).
	Now func() time.Time
	// Logger receives the logs (nil: slog.Default()).
	Logger *slog.Logger

	fails faillimit.Limiter
	basic basicCache
	// hashed counts the passwords checked against their slow hash.
	hashed atomic.Int64
}

type ctxKey struct{}

// SessionOf returns the session of a request under Require.
func SessionOf(ctx context.Context) state.Session {
	s, _ := ctx.Value(ctxKey{}).(state.Session)
	return s
}

func (a *Auth) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

func (a *Auth) log() *slog.Logger {
	if a.Logger != nil {
		return a.Logger
	}
	return slog.Default()
}

func (a *Auth) secure(r *http.Request) bool { return a.Secure || r.TLS != nil }

// sessionCookie is the session cookie's name: with the __Host- prefix
// when Secure, which browsers accept only from a secure origin, for the
// whole host and not a parent domain.
func (a *Auth) sessionCookie(r *http.Request) string {
	if a.secure(r) {
		return "__Host-lapsebox_session"
	}
	return "lapsebox_session"
}

const loginCookie = "lapsebox_login"

// Handler serves the login, logout and password pages; mount it on
// LoginPath, LogoutPath and PasswordPath. A cross-origin POST (a form
// on another site) is refused before anything else.
func (a *Auth) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+LoginPath, a.loginForm)
	mux.HandleFunc("POST "+LoginPath, a.login)
	mux.Handle("POST "+LogoutPath, a.Require(http.HandlerFunc(a.logout)))
	mux.Handle("GET "+PasswordPath, a.Require(http.HandlerFunc(a.passwordForm)))
	mux.Handle("POST "+PasswordPath, a.Require(http.HandlerFunc(a.changePassword)))
	return http.NewCrossOriginProtection().Handler(mux)
}

// session returns the request's session, if it has a valid one.
func (a *Auth) session(r *http.Request) (state.Session, error) {
	c, err := r.Cookie(a.sessionCookie(r))
	if err != nil || len(c.Value) != 43 {
		return state.Session{}, state.ErrNotFound
	}
	return a.DB.Session(r.Context(), hashID(c.Value), a.now())
}

func hashID(id string) string {
	h := sha256.Sum256([]byte(id))
	return hex.EncodeToString(h[:])
}

// maxForm bounds a form's body.
const maxForm = 16 << 10

// Require serves h only to a logged-in operator: others are sent to the
// login page (GET, HEAD) or refused (403). A request that changes
// anything must come from this origin and carry the session's CSRF token
// in its form field "csrf".
func (a *Auth) Require(h http.Handler) http.Handler {
	return http.NewCrossOriginProtection().Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := a.session(r)
		if err != nil {
			if !errors.Is(err, state.ErrNotFound) {
				a.log().Error("operator: reading a session", "err", err)
			}
			if r.Method == http.MethodGet || r.Method == http.MethodHead {
				http.Redirect(w, r, LoginPath, http.StatusSeeOther)
				return
			}
			http.Error(w, "not logged in", http.StatusForbidden)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			r.Body = http.MaxBytesReader(w, r.Body, maxForm)
			if !sameToken(r.PostFormValue("csrf"), s.CSRF) {
				a.log().Warn("operator: refused a form without the session's CSRF token", "operator", s.Operator, "path", r.URL.Path, "remote", r.RemoteAddr)
				http.Error(w, "this form is not from this session (CSRF token missing or wrong): reload the page", http.StatusForbidden)
				return
			}
		}
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, s)))
	}))
}

func sameToken(got, want string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

//go:embed login.html
var pagesHTML string

var pages = template.Must(template.New("pages").Parse(pagesHTML))

// form is what the login and password templates show.
type form struct {
	Nonce, CSRF, Error, Operator string
}

// Headers sets the headers of an operator page and returns the nonce its
// <style> and <script> elements must carry: the content security policy
// allows nothing else (no external anything, no inline script without
// the nonce, no framing, forms only to this server).
func Headers(w http.ResponseWriter) string {
	nonce := base64.RawURLEncoding.EncodeToString(random(16))
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", fmt.Sprintf("default-src 'none'; img-src 'self'; style-src 'nonce-%s'; script-src 'nonce-%s'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'", nonce, nonce))
	return nonce
}

func random(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func (a *Auth) render(w http.ResponseWriter, status int, name string, f form) {
	f.Nonce = Headers(w)
	w.WriteHeader(status)
	if err := pages.ExecuteTemplate(w, name, f); err != nil {
		a.log().Error("operator: rendering "+name, "err", err)
	}
}

// loginForm shows the login form with a fresh login CSRF token, also set
// as a cookie: a login posted from another site has neither.
func (a *Auth) loginForm(w http.ResponseWriter, r *http.Request) {
	tok := rand.Text()
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: tok, Path: LoginPath, HttpOnly: true,
		Secure: a.secure(r), SameSite: http.SameSiteStrictMode, MaxAge: 3600})
	a.render(w, http.StatusOK, "login", form{CSRF: tok})
}

func (a *Auth) login(w http.ResponseWriter, r *http.Request) {
	key := faillimit.Key(r.RemoteAddr)
	if d := a.fails.Wait(key, a.now()); d > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(d.Seconds())+1))
		http.Error(w, "too many failed logins from your address: wait and try again", http.StatusTooManyRequests)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	c, err := r.Cookie(loginCookie)
	if err != nil || !sameToken(r.PostFormValue("csrf"), c.Value) {
		http.Error(w, "this login form is not from this server (CSRF token missing or wrong): reload the login page", http.StatusForbidden)
		return
	}
	name, password := r.PostFormValue("name"), r.PostFormValue("password")
	ok, err := a.check(r.Context(), name, password)
	if err != nil {
		a.log().Error("operator: checking a password", "err", err)
		http.Error(w, "login failed: server error", http.StatusInternalServerError)
		return
	}
	if !ok {
		a.fails.Failed(key, a.now())
		a.log().Warn("operator: failed login", "operator", trim(name), "remote", r.RemoteAddr)
		tok := rand.Text()
		http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: tok, Path: LoginPath, HttpOnly: true,
			Secure: a.secure(r), SameSite: http.SameSiteStrictMode, MaxAge: 3600})
		a.render(w, http.StatusUnauthorized, "login", form{CSRF: tok, Error: "Wrong name or password."})
		return
	}
	if err := a.startSession(w, r, name); err != nil {
		a.log().Error("operator: starting a session", "err", err)
		http.Error(w, "login failed: server error", http.StatusInternalServerError)
		return
	}
	a.log().Info("operator: logged in", "operator", name, "remote", r.RemoteAddr)
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Path: LoginPath, MaxAge: -1})
	home := a.Home
	if home == "" {
		home = "/"
	}
	http.Redirect(w, r, home, http.StatusSeeOther)
}

// check verifies name's password, rehashing it if its hash is old. An
// unknown name costs as much time as a wrong password.
func (a *Auth) check(ctx context.Context, name, password string) (bool, error) {
	hash, err := a.DB.PasswordHash(ctx, name)
	known := err == nil
	if errors.Is(err, state.ErrNotFound) || name == "" || len(name) > 64 || len(password) > 1024 {
		hash, known = dummyHash(), false
	} else if err != nil {
		return false, err
	}
	a.hashed.Add(1)
	ok, rehash, err := CheckPassword(ctx, hash, password)
	if err != nil || !ok || !known {
		return false, err
	}
	if rehash {
		if h, err := HashPassword(password); err == nil {
			if err := a.DB.UpgradeHash(ctx, name, hash, h); err != nil {
				a.log().Warn("operator: upgrading a password hash", "operator", name, "err", err)
			}
		}
	}
	return true, nil
}

// startSession creates a session for name and sets its cookie. A new
// session at each login: a cookie planted before it is worth nothing.
func (a *Auth) startSession(w http.ResponseWriter, r *http.Request, name string) error {
	id := base64.RawURLEncoding.EncodeToString(random(32))
	ttl := a.TTL
	if ttl <= 0 {
		ttl = 12 * time.Hour
	}
	now := a.now()
	s := state.Session{IDSHA256: hashID(id), Operator: name, CSRF: rand.Text(), Created: now, Expires: now.Add(ttl)}
	if err := a.DB.AddSession(r.Context(), s); err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{Name: a.sessionCookie(r), Value: id, Path: "/", HttpOnly: true,
		Secure: a.secure(r), SameSite: http.SameSiteStrictMode, MaxAge: int(ttl.Seconds())})
	return nil
}

func (a *Auth) logout(w http.ResponseWriter, r *http.Request) {
	s := SessionOf(r.Context())
	if err := a.DB.DeleteSession(r.Context(), s.IDSHA256); err != nil {
		a.log().Error("operator: logging out", "err", err)
	}
	http.SetCookie(w, &http.Cookie{Name: a.sessionCookie(r), Path: "/", MaxAge: -1, HttpOnly: true, Secure: a.secure(r), SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, LoginPath, http.StatusSeeOther)
}

func (a *Auth) passwordForm(w http.ResponseWriter, r *http.Request) {
	s := SessionOf(r.Context())
	a.render(w, http.StatusOK, "password", form{CSRF: s.CSRF, Operator: s.Operator})
}

// changePassword sets a new password; every session of the operator
// ends, this one included, and the operator logs in again.
func (a *Auth) changePassword(w http.ResponseWriter, r *http.Request) {
	s := SessionOf(r.Context())
	current, next, again := r.PostFormValue("current"), r.PostFormValue("new"), r.PostFormValue("again")
	fail := func(status int, msg string) {
		a.render(w, status, "password", form{CSRF: s.CSRF, Operator: s.Operator, Error: msg})
	}
	key := faillimit.Key(r.RemoteAddr)
	if d := a.fails.Wait(key, a.now()); d > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(d.Seconds())+1))
		fail(http.StatusTooManyRequests, "Too many wrong passwords from your address: wait and try again.")
		return
	}
	ok, err := a.check(r.Context(), s.Operator, current)
	switch {
	case err != nil:
		a.log().Error("operator: checking a password", "err", err)
		fail(http.StatusInternalServerError, "Server error.")
		return
	case !ok:
		a.fails.Failed(key, a.now())
		fail(http.StatusUnauthorized, "The current password is wrong.")
		return
	case len(next) < MinPasswordLen || len(next) > 1024:
		fail(http.StatusBadRequest, fmt.Sprintf("The new password must have %d to 1024 characters.", MinPasswordLen))
		return
	case next != again:
		fail(http.StatusBadRequest, "The new password and its repetition differ.")
		return
	}
	h, err := HashPassword(next)
	if err == nil {
		err = a.DB.SetPassword(r.Context(), s.Operator, h, a.now())
	}
	if err != nil {
		a.log().Error("operator: setting a password", "operator", s.Operator, "err", err)
		fail(http.StatusInternalServerError, "Server error.")
		return
	}
	a.log().Info("operator: password changed", "operator", s.Operator, "remote", r.RemoteAddr)
	http.SetCookie(w, &http.Cookie{Name: a.sessionCookie(r), Path: "/", MaxAge: -1})
	http.Redirect(w, r, LoginPath, http.StatusSeeOther)
}

func trim(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// Bootstrap creates the operator name with a random password if the
// database has no operator, and returns the password (to be shown once);
// "" if there were operators already.
func Bootstrap(ctx context.Context, db *state.DB, name string, now time.Time) (string, error) {
	ops, err := db.Operators(ctx)
	if err != nil || len(ops) > 0 {
		return "", err
	}
	pw := NewPassword()
	h, err := HashPassword(pw)
	if err != nil {
		return "", err
	}
	if err := db.AddOperator(ctx, name, h, now); err != nil {
		if errors.Is(err, state.ErrExists) { // another cloudd was first
			return "", nil
		}
		return "", err
	}
	return pw, nil
}
