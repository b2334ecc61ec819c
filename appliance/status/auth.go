package status

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/lapsebox/lapsebox/internal/faillimit"
	"github.com/lapsebox/lapsebox/internal/gokrazyhttp"
)

// passwordGate lets through requests that carry gokrazy's user and the
// device's HTTP password, read the way gokrazy reads it, on every request
// (a password changed on /perm applies at once). A client that keeps
// failing gets 429 until it has waited (internal/faillimit); an image
// built without a password answers 403 to everything: nothing that needs
// the password is served without one.
type passwordGate struct {
	permDir, etcDir string
	logf            func(format string, args ...any)
	now             func() time.Time
	limiter         faillimit.Limiter
}

func (g *passwordGate) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := faillimit.Key(r.RemoteAddr)
		if d := g.limiter.Wait(key, g.now()); d > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(d.Seconds())+1))
			http.Error(w, "too many failed attempts: try again later", http.StatusTooManyRequests)
			return
		}
		pw, err := gokrazyhttp.DevicePassword(g.permDir, g.etcDir)
		if errors.Is(err, gokrazyhttp.ErrNoPassword) {
			http.Error(w, "this device has no HTTP password: its status page is off", http.StatusForbidden)
			return
		}
		if err != nil {
			g.logf("status: %v", err)
			http.Error(w, "the device cannot read its password", http.StatusInternalServerError)
			return
		}
		if !gokrazyhttp.Authorized(r, pw) {
			if _, _, ok := r.BasicAuth(); ok {
				// A browser's first request carries no credentials:
				// only a wrong guess counts.
				g.limiter.Failed(key, g.now())
				g.logf("status: %s %s from %s: wrong user or password", r.Method, r.URL.Path, r.RemoteAddr)
			}
			w.Header().Set("WWW-Authenticate", `Basic realm="lapsebox", charset="UTF-8"`)
			http.Error(w, "unauthorized: user gokrazy and the device's password", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}
