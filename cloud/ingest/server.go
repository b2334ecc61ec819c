package ingest

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Limits bound what clients may hold of a cloudd HTTP server: time, header
// bytes and connections. The zero value of a field is its default.
type Limits struct {
	// ReadHeaderTimeout bounds sending a request's headers, and waiting
	// for the first request of a connection (default 20 s): a client that
	// trickles its headers (slowloris) is cut off.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a request, headers and body (default
	// 1 min). An upload's body is the exception: tusd moves the deadline
	// along while bytes flow (Config.NetworkTimeout), so a slow link is
	// not cut off.
	ReadTimeout time.Duration
	// WriteTimeout bounds a request from its headers to the end of its
	// answer (default 1 min); tusd extends it for uploads as it does the
	// read deadline.
	WriteTimeout time.Duration
	// IdleTimeout closes a kept-alive connection that sends no new request
	// for that long (default 2 min).
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds a request's headers (default 64 KiB).
	MaxHeaderBytes int
	// MaxConns bounds the connections served at once (default 1024); the
	// next ones wait in the kernel's backlog until one closes.
	MaxConns int
}

func (l Limits) withDefaults() Limits {
	if l.ReadHeaderTimeout <= 0 {
		l.ReadHeaderTimeout = 20 * time.Second
	}
	if l.ReadTimeout <= 0 {
		l.ReadTimeout = time.Minute
	}
	if l.WriteTimeout <= 0 {
		l.WriteTimeout = time.Minute
	}
	if l.IdleTimeout <= 0 {
		l.IdleTimeout = 2 * time.Minute
	}
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = 64 << 10
	}
	if l.MaxConns <= 0 {
		l.MaxConns = 1024
	}
	return l
}

// NewHTTPServer returns the http.Server cloudd serves h with, on its
// public and admin addresses alike: l's timeouts and header limit, and
// its errors (TLS handshakes, panics) logged to log (nil: slog.Default()).
// Serve it on a listener from Listen.
func NewHTTPServer(h http.Handler, l Limits, log *slog.Logger) *http.Server {
	l = l.withDefaults()
	if log == nil {
		log = slog.Default()
	}
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: l.ReadHeaderTimeout,
		ReadTimeout:       l.ReadTimeout,
		WriteTimeout:      l.WriteTimeout,
		IdleTimeout:       l.IdleTimeout,
		MaxHeaderBytes:    l.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// Listen listens on the TCP address addr and accepts at most l.MaxConns
// connections at once.
func Listen(addr string, l Limits) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return LimitListener(ln, l.withDefaults().MaxConns), nil
}

// LimitListener returns ln accepting at most n connections at once: Accept
// waits while n are open.
func LimitListener(ln net.Listener, n int) net.Listener {
	return &limitListener{Listener: ln, sem: make(chan struct{}, n), done: make(chan struct{})}
}

type limitListener struct {
	net.Listener
	sem       chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.sem <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.sem }}, nil
}

func (l *limitListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// CloseWrite half-closes the connection if the underlying one can.
func (c *limitConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// lingerDelay is how long a refused connection stays half-closed before it
// is closed: time for the client to read the answer before its unread
// bytes make the kernel reset the connection (net/http waits as long).
const lingerDelay = 500 * time.Millisecond

// refuse answers r with status and msg and closes the connection without
// reading r's body: a client without a credential gets nothing of the
// server's bandwidth, disk or time beyond its headers. Over HTTP/2, where
// a connection cannot be taken over, the server resets the stream instead
// of reading its body.
func refuse(w http.ResponseWriter, r *http.Request, status int, msg string) {
	h := w.Header()
	h.Set("Connection", "close")
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	body := msg + "\n"
	if r.Body == nil || r.Body == http.NoBody {
		w.WriteHeader(status)
		io.WriteString(w, body)
		return
	}
	conn, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		w.WriteHeader(status)
		io.WriteString(w, body)
		return
	}
	conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	h.Set("Content-Length", strconv.Itoa(len(body)))
	resp := &http.Response{
		StatusCode: status, ProtoMajor: 1, ProtoMinor: 1,
		Header: h, ContentLength: int64(len(body)), Close: true,
		Body: io.NopCloser(strings.NewReader(body)),
	}
	if resp.Write(buf) == nil && buf.Flush() == nil {
		if cw, ok := conn.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
			time.AfterFunc(lingerDelay, func() { conn.Close() })
			return
		}
	}
	conn.Close()
}
