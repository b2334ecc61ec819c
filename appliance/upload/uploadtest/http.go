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

	mu       sync.Mutex
	faults   []*HTTPFault
	requests map[string]int // by method
	injected int
}

// NewHTTPProxy starts a proxy on 127.0.0.1 forwarding to upstream (a base
// URL, "http://127.0.0.1:port").
func NewHTTPProxy(upstream string) (*HTTPProxy, error) {
	u, err := url.Parse(upstream)
	if err != nil {
		return nil, fmt.Errorf("uploadtest: upstream %q: %w", upstream, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("uploadtest: %w", err)
	}
	h := &HTTPProxy{ln: ln, requests: map[string]int{}}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ErrorLog = log.New(io.Discard, "", 0) // a dropped client is what tests do
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
		rp.ServeHTTP(w, r)
	})}
	go h.srv.Serve(ln)
	return h, nil
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

// URL is the proxy's base URL, "http://127.0.0.1:port".
func (h *HTTPProxy) URL() string { return "http://" + h.ln.Addr().String() }

// Close stops the proxy.
func (h *HTTPProxy) Close() error { return h.srv.Close() }
