package operator

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/lapsebox/lapsebox/cloud/state"
	"github.com/lapsebox/lapsebox/internal/faillimit"
)

// RequireBasic serves h to a request carrying an operator's name and
// password in HTTP Basic authentication: for tools (the host tool
// publishing a release), not browsers, so it needs no session or CSRF
// token. Failures count against the address as failed logins do.
//
// A tool sends the same credentials with each of its requests (a
// release's publication makes hundreds), and the password's hash is
// deliberately slow: credentials that passed are remembered for
// basicTTL, by an HMAC under a key drawn at start of name, password and
// the stored hash, so that a changed password or a removed operator is
// asked for again.
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
			if ok, err = a.checkBasic(r.Context(), name, password); err != nil {
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

// basicTTL is how long credentials that passed are taken without a new
// check of the password; basicMax bounds how many are remembered.
const (
	basicTTL = 5 * time.Minute
	basicMax = 64
)

// basicCache remembers credentials that passed, by their HMAC.
type basicCache struct {
	once sync.Once
	key  []byte
	mu   sync.Mutex
	seen map[[sha256.Size]byte]time.Time // → expiry
}

func (c *basicCache) mac(name, password, hash string) [sha256.Size]byte {
	c.once.Do(func() {
		c.key = make([]byte, 32)
		rand.Read(c.key)
		c.seen = map[[sha256.Size]byte]time.Time{}
	})
	m := hmac.New(sha256.New, c.key)
	for _, s := range []string{name, password, hash} {
		m.Write([]byte(strconv.Itoa(len(s)) + ":" + s))
	}
	var sum [sha256.Size]byte
	m.Sum(sum[:0])
	return sum
}

// checkBasic is check with the memory of credentials that passed.
func (a *Auth) checkBasic(ctx context.Context, name, password string) (bool, error) {
	hash, err := a.DB.PasswordHash(ctx, name)
	if err != nil {
		return a.check(ctx, name, password) // unknown name: as slow as a wrong password
	}
	c := &a.basic
	sum := c.mac(name, password, hash)
	now := a.now()
	c.mu.Lock()
	exp, ok := c.seen[sum]
	c.mu.Unlock()
	if ok && now.Before(exp) {
		return true, nil
	}
	if ok, err := a.check(ctx, name, password); !ok || err != nil {
		return ok, err
	}
	// check may have rehashed the password: remember the hash it left.
	if h, err := a.DB.PasswordHash(ctx, name); err == nil && h != hash {
		sum = c.mac(name, password, h)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.seen {
		if !now.Before(e) || len(c.seen) >= basicMax {
			delete(c.seen, k)
		}
	}
	c.seen[sum] = now.Add(basicTTL)
	return true, nil
}
