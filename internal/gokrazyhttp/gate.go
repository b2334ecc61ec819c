package gokrazyhttp

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/lapsebox/lapsebox/internal/faillimit"
)

// Gate lets through requests that carry User and the device's HTTP
// password. A client that keeps failing gets 429 until it has waited
// (internal/faillimit); a device without a password (ErrNoPassword)
// answers 403 to everything: nothing that needs the password is served
// without one.
type Gate struct {
	// Password returns the device's password, at every request: a
	// password changed on /perm then applies at once
	// (DevicePassword), or a fixed one.
	Password func() (string, error)
	// Service names who answers, in the log ("status: ..."); Realm is
	// the WWW-Authenticate realm; Off is the 403 answer without a
	// password.
	Service, Realm, Off string
	Logf                func(format string, args ...any)
	// Now returns the time (nil: time.Now).
	Now func() time.Time

	limiter faillimit.Limiter
}

// Wrap returns h behind the gate.
func (g *Gate) Wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now
		if g.Now != nil {
			now = g.Now
		}
		key := faillimit.Key(r.RemoteAddr)
		if d := g.limiter.Wait(key, now()); d > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(d.Seconds())+1))
			http.Error(w, "too many failed attempts: try again later", http.StatusTooManyRequests)
			return
		}
		pw, err := g.Password()
		if errors.Is(err, ErrNoPassword) || (err == nil && pw == "") {
			http.Error(w, g.Off, http.StatusForbidden)
			return
		}
		if err != nil {
			g.Logf("%s: %v", g.Service, err)
			http.Error(w, "the device cannot read its password", http.StatusInternalServerError)
			return
		}
		if !Authorized(r, pw) {
			if _, _, ok := r.BasicAuth(); ok {
				// A browser's first request carries no credentials:
				// only a wrong guess counts.
				g.limiter.Failed(key, now())
				g.Logf("%s: %s %s from %s: wrong user or password", g.Service, r.Method, r.URL.Path, r.RemoteAddr)
			}
			w.Header().Set("WWW-Authenticate", `Basic realm="`+g.Realm+`", charset="UTF-8"`)
			http.Error(w, "unauthorized: user gokrazy and the device's password", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}
