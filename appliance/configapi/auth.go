package configapi

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"
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
// every failEvery. The password is random (130 bits for the ones lapsebox
// makes), so this is not what keeps it safe; it keeps a guessing client
// from using the device's CPU and link, and shows in the log.
const (
	failBurst  = 10
	failEvery  = 10 * time.Second
	maxClients = 4096
)

// limiter counts failed attempts per client: an IPv4 address or an IPv6
// /64, which one machine can change at will.
type limiter struct {
	mu      sync.Mutex
	clients map[netip.Prefix]*bucket
}

// bucket holds the failures a client has left.
type bucket struct {
	tokens float64
	last   time.Time
}

func (b *bucket) refill(now time.Time) {
	b.tokens = math.Min(failBurst, b.tokens+now.Sub(b.last).Seconds()/failEvery.Seconds())
	b.last = now
}

// clientKey is the client's address as a prefix: /32 for IPv4, /64 for
// IPv6; every unparseable address shares one.
func clientKey(remoteAddr string) netip.Prefix {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Prefix{}
	}
	ip = ip.Unmap()
	bits := 32
	if ip.Is6() {
		bits = 64
	}
	p, _ := ip.WithZone("").Prefix(bits)
	return p
}

// wait returns how long the client must wait before trying again; 0 if it
// may try now.
func (l *limiter) wait(key netip.Prefix, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.clients[key]
	if !ok {
		return 0
	}
	b.refill(now)
	if b.tokens >= 1 {
		return 0
	}
	return time.Duration((1 - b.tokens) * float64(failEvery))
}

// failed records a failed attempt.
func (l *limiter) failed(key netip.Prefix, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.clients == nil {
		l.clients = map[netip.Prefix]*bucket{}
	}
	b, ok := l.clients[key]
	if !ok {
		if len(l.clients) >= maxClients {
			// Forget the clients that have recovered; if too many have
			// not, the newcomers share one bucket.
			for k, c := range l.clients {
				if c.refill(now); c.tokens >= failBurst {
					delete(l.clients, k)
				}
			}
			if len(l.clients) >= maxClients {
				key = netip.Prefix{}
			}
		}
		if b, ok = l.clients[key]; !ok {
			b = &bucket{tokens: failBurst, last: now}
			l.clients[key] = b
		}
	}
	b.refill(now)
	b.tokens--
}
