package configapi

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"time"

	"github.com/lapsebox/lapsebox/internal/faillimit"
	"github.com/lapsebox/lapsebox/internal/gokrazyhttp"
)

// User is the user name of gokrazy's web interface, which the endpoint
// shares.
const User = gokrazyhttp.User

// errNoPassword: the image has no password, so nothing is accepted over
// the network.
var errNoPassword = fmt.Errorf("%w: configuration over the network is off", gokrazyhttp.ErrNoPassword)

// password returns the device's password the way gokrazy's init reads it.
func (h *Handler) password() (string, error) {
	pw, err := gokrazyhttp.DevicePassword(h.PermDir, h.etcDir())
	if errors.Is(err, gokrazyhttp.ErrNoPassword) {
		return "", errNoPassword
	}
	return pw, err
}

// authorized reports whether r carries user "gokrazy" and the password.
func authorized(r *http.Request, password string) bool { return gokrazyhttp.Authorized(r, password) }

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
