package uploadtest

import (
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
)

// HTTPFault answers matching requests itself instead of the server.
type HTTPFault struct {
	// Method matches the request's method ("" any).
	Method string
	// Times is how many matching requests get the fault (0: one).
	Times int
	// Status, Header and Body are the answer (Header may hold a
	// Retry-After).
	Status int
	Header http.Header
	Body   string
	// ReadBody reads the request's body (lost, not forwarded) before
	// answering, as a server that fails at the end of a PATCH would.
	ReadBody bool
}

// HTTPProxy is a reverse proxy listening on 127.0.0.1 in front of an
// upstream HTTP server, answering some requests with injected faults. It
// keeps the request's Host, so the URLs a server hands out point back at
// the proxy.
type HTTPProxy struct {
	ln  net.Listener
	srv *http.Server
	rp  atomic.Pointer[httputil.ReverseProxy]

	mu       sync.Mutex
	faults   []*HTTPFault
	requests map[string]int // by method
	injected int
}

// NewHTTPProxy starts a proxy on 127.0.0.1 forwarding to upstream (a base
// URL, "http://127.0.0.1:port"; "" to set it later with SetUpstream).
func NewHTTPProxy(upstream string) (*HTTPProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("uploadtest: %w", err)
	}
	h := &HTTPProxy{ln: ln, requests: map[string]int{}}
	if upstream != "" {
		if err := h.SetUpstream(upstream); err != nil {
			ln.Close()
			return nil, err
		}
	}
	h.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f := h.match(r); f != nil {
			if f.ReadBody {
				io.Copy(io.Discard, r.Body)
			}
			for k, vs := range f.Header {
				w.Header()[k] = vs
			}
			w.Header().Set("Connection", "close")
			w.WriteHeader(f.Status)
			io.WriteString(w, f.Body)
			return
		}
		rp := h.rp.Load()
		if rp == nil {
			http.Error(w, "uploadtest: no upstream yet", http.StatusBadGateway)
			return
		}
		rp.ServeHTTP(w, r)
	})}
	go h.srv.Serve(ln)
	return h, nil
}

// SetUpstream sends the requests that follow to upstream (a base URL): a
// server restarted on another port.
func (h *HTTPProxy) SetUpstream(upstream string) error {
	u, err := url.Parse(upstream)
	if err != nil || u.Host == "" {
		return fmt.Errorf("uploadtest: upstream %q: want http://host:port", upstream)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ErrorLog = log.New(io.Discard, "", 0) // a dropped client is what tests do
	// An upstream that fails (a server stopped or restarting) drops the
	// client's connection, as the server itself would, instead of
	// answering 502 on a connection kept alive: the target must connect
	// again, which the fault tests count.
	rp.ErrorHandler = func(http.ResponseWriter, *http.Request, error) { panic(http.ErrAbortHandler) }
	h.rp.Store(rp)
	return nil
}

func (h *HTTPProxy) match(r *http.Request) *HTTPFault {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.requests[r.Method]++
	for i, f := range h.faults {
		if f.Method != "" && f.Method != r.Method {
			continue
		}
		if f.Times--; f.Times <= 0 {
			h.faults = append(h.faults[:i], h.faults[i+1:]...)
		}
		h.injected++
		return f
	}
	return nil
}

// Inject adds a fault; faults match in the order added.
func (h *HTTPProxy) Inject(f HTTPFault) {
	if f.Times <= 0 {
		f.Times = 1
	}
	h.mu.Lock()
	h.faults = append(h.faults, &f)
	h.mu.Unlock()
}

// Requests returns how many requests of method arrived ("" all).
func (h *HTTPProxy) Requests(method string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	if method != "" {
		return h.requests[method]
	}
	n := 0
	for _, c := range h.requests {
		n += c
	}
	return n
}

// Injected returns how many faults were answered.
func (h *HTTPProxy) Injected() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.injected
}

// Pending is how many injected faults have not been answered yet.
func (h *HTTPProxy) Pending() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, f := range h.faults {
		n += f.Times
	}
	return n
}

// Addr is the proxy's address, "127.0.0.1:port".
func (h *HTTPProxy) Addr() string { return h.ln.Addr().String() }

// URL is the proxy's base URL, "http://127.0.0.1:port".
func (h *HTTPProxy) URL() string { return "http://" + h.ln.Addr().String() }

// Close stops the proxy.
func (h *HTTPProxy) Close() error { return h.srv.Close() }

// StartHTTPProxy is NewHTTPProxy for a test: it fails t if the proxy
// cannot start, and closes it when t ends.
func StartHTTPProxy(t testing.TB, upstream string) *HTTPProxy {
	t.Helper()
	h, err := NewHTTPProxy(upstream)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}
