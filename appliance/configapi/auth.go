package configapi

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/lapsebox/lapsebox/internal/faillimit"
)

// User is the user name of gokrazy's web interface, which the endpoint
// shares.
const User = "gokrazy"

// passwordFile is gokrazy's: it reads /perm/gokr-pw.txt, else
// /etc/gokr-pw.txt, and only when the image has /etc/gokr-pw.txt at all
// (gokrazy.go in github.com/gokrazy/gokrazy: an image built without a
// password accepts no password).
const passwordFile = "gokr-pw.txt"

// errNoPassword: the image has no password, so nothing is accepted over
// the network.
var errNoPassword = errors.New("this device has no HTTP password: configuration over the network is off")

// password returns the device's password the way gokrazy's init reads it.
func (h *Handler) password() (string, error) {
	etc := filepath.Join(h.etcDir(), passwordFile)
	if _, err := os.Stat(etc); errors.Is(err, fs.ErrNotExist) {
		return "", errNoPassword
	}
	b, err := os.ReadFile(filepath.Join(h.PermDir, passwordFile))
	if err != nil {
		b, err = os.ReadFile(etc)
	}
	if err != nil {
		return "", fmt.Errorf("reading the device password: %w", err)
	}
	pw := string(bytes.TrimSpace(b))
	if pw == "" {
		return "", errNoPassword
	}
	return pw, nil
}

// authorized reports whether r carries user "gokrazy" and the password.
// Both are hashed before a constant-time comparison, so that neither their
// content nor their length shows in the time taken.
func authorized(r *http.Request, password string) bool {
	user, pass, ok := r.BasicAuth()
	u, wu := sha256.Sum256([]byte(user)), sha256.Sum256([]byte(User))
	p, wp := sha256.Sum256([]byte(pass)), sha256.Sum256([]byte(password))
	return subtle.ConstantTimeCompare(u[:], wu[:])&subtle.ConstantTimeCompare(p[:], wp[:]) == 1 && ok
}

// Failed attempts: a client may fail failBurst times in a row, then once
// every failEvery (internal/faillimit's defaults). The password is random
// (130 bits for the ones lapsebox makes), so this is not what keeps it
// safe; it keeps a guessing client from using the device's CPU and link,
// and shows in the log.
const (
	failBurst  = faillimit.DefaultBurst
	failEvery  = faillimit.DefaultEvery
	maxClients = faillimit.DefaultMaxClients
)

// limiter counts failed attempts per client.
type limiter struct{ faillimit.Limiter }

func (l *limiter) wait(key netip.Prefix, now time.Time) time.Duration { return l.Wait(key, now) }
func (l *limiter) failed(key netip.Prefix, now time.Time)             { l.Failed(key, now) }

// clientKey is the client's address as a prefix: /32 for IPv4, /64 for
// IPv6.
func clientKey(remoteAddr string) netip.Prefix { return faillimit.Key(remoteAddr) }
