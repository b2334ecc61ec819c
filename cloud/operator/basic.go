package operator

import (
	"context"
	"net/http"
	"strconv"

	"github.com/lapsebox/lapsebox/cloud/state"
	"github.com/lapsebox/lapsebox/internal/faillimit"
)

// RequireBasic serves h to a request carrying an operator's name and
// password in HTTP Basic authentication: for tools (the host tool
// publishing a release), not browsers, so it needs no session or CSRF
// token. Failures count against the address as failed logins do.
func (a *Auth) RequireBasic(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := faillimit.Key(r.RemoteAddr)
		if d := a.fails.Wait(key, a.now()); d > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(d.Seconds())+1))
			http.Error(w, "too many failed logins from your address: wait and try again", http.StatusTooManyRequests)
			return
		}
		name, password, ok := r.BasicAuth()
		if ok {
			var err error
			if ok, err = a.check(r.Context(), name, password); err != nil {
				a.log().Error("operator: checking a password", "err", err)
				http.Error(w, "server error", http.StatusInternalServerError)
				return
			}
		}
		if !ok {
			a.fails.Failed(key, a.now())
			a.log().Warn("operator: refused Basic credentials", "operator", trim(name), "remote", r.RemoteAddr, "path", trim(r.URL.Path))
			w.Header().Set("WWW-Authenticate", `Basic realm="cloudd operators"`)
			http.Error(w, "an operator's name and password are needed (HTTP Basic)", http.StatusUnauthorized)
			return
		}
		s := state.Session{Operator: name}
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, s)))
	})
}
