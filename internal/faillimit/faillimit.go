// Package faillimit slows down a client that keeps failing to
// authenticate: each client (an IPv4 address or an IPv6 /64, which one
// machine can change at will) may fail Burst times in a row, then once
// every Every. It keeps a guessing client from using the server's CPU
// (a password hash costs some) and shows in the log; the passwords'
// strength is what keeps them safe.
package faillimit

import (
	"math"
	"net"
	"net/netip"
	"sync"
	"time"
)

// Defaults of a Limiter's zero fields.
const (
	DefaultBurst      = 10
	DefaultEvery      = 10 * time.Second
	DefaultMaxClients = 4096
)

// Limiter counts failed attempts per client. The zero value is ready to
// use with the defaults; the fields must not change once it is used.
type Limiter struct {
	// Burst is how many failures in a row a client may make at once.
	Burst int
	// Every is how often a client regains one attempt.
	Every time.Duration
	// MaxClients bounds the clients remembered; past it, newcomers share
	// one count.
	MaxClients int

	mu      sync.Mutex
	clients map[netip.Prefix]*bucket
}

// bucket holds the failures a client has left.
type bucket struct {
	tokens float64
	last   time.Time
}

func (l *Limiter) params() (float64, time.Duration, int) {
	burst, every, maxClients := float64(l.Burst), l.Every, l.MaxClients
	if burst <= 0 {
		burst = DefaultBurst
	}
	if every <= 0 {
		every = DefaultEvery
	}
	if maxClients <= 0 {
		maxClients = DefaultMaxClients
	}
	return burst, every, maxClients
}

func (l *Limiter) refill(b *bucket, now time.Time) {
	burst, every, _ := l.params()
	b.tokens = math.Min(burst, b.tokens+now.Sub(b.last).Seconds()/every.Seconds())
	b.last = now
}

// Key is the client of remoteAddr as a prefix: /32 for IPv4, /64 for
// IPv6; every unparseable address shares one.
func Key(remoteAddr string) netip.Prefix {
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

// Wait returns how long the client must wait before trying again; 0 if
// it may try now.
func (l *Limiter) Wait(key netip.Prefix, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.clients[key]
	if !ok {
		return 0
	}
	l.refill(b, now)
	if b.tokens >= 1 {
		return 0
	}
	_, every, _ := l.params()
	return time.Duration((1 - b.tokens) * float64(every))
}

// Failed records a failed attempt.
func (l *Limiter) Failed(key netip.Prefix, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	burst, _, maxClients := l.params()
	if l.clients == nil {
		l.clients = map[netip.Prefix]*bucket{}
	}
	b, ok := l.clients[key]
	if !ok {
		if len(l.clients) >= maxClients {
			// Forget the clients that have recovered; if too many have
			// not, the newcomers share one bucket.
			for k, c := range l.clients {
				if l.refill(c, now); c.tokens >= burst {
					delete(l.clients, k)
				}
			}
			if len(l.clients) >= maxClients {
				key = netip.Prefix{}
			}
		}
		if b, ok = l.clients[key]; !ok {
			b = &bucket{tokens: burst, last: now}
			l.clients[key] = b
		}
	}
	l.refill(b, now)
	b.tokens--
}

// Len is the number of clients remembered.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.clients)
}
