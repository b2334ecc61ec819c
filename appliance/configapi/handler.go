package configapi

import (
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http"
	"path"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/lapsebox/lapsebox/appliance/config"
	"github.com/lapsebox/lapsebox/internal/strictjson"
)

// pushedName is the name a pushed file has in the device's errors; the
// client puts its own file name in its place.
const pushedName = "pushed configuration"

// Handler serves the configuration endpoint:
//
//   - GET: the configuration in use, every secret's value replaced by
//     "[redacted]"; with ?secrets=1, as it is. SourceHeader says which
//     file it is.
//   - PUT: a new configuration (at most config.MaxFileSize bytes). 200
//     with {"changed": true, "previousKept": true, "targets": N} when
//     saved; 422 with {"problems": [{"line", "field", "message"}]} when
//     invalid, nothing changed.
//
// Every request needs user "gokrazy" and the device's HTTP password (401
// otherwise, the same answer for every wrong part); a client whose
// attempts keep failing gets 429 until it has waited. An image built
// without a password answers 403 to everything.
type Handler struct {
	// PermDir is the persistent partition ("/perm"): the configuration is
	// PermDir/lapsebox/config.json, gokrazy's password may be
	// PermDir/gokr-pw.txt.
	PermDir string
	// EtcDir holds the image's gokr-pw.txt ("/etc" if empty).
	EtcDir string
	// Logf reports saved configurations and refused requests (log.Printf
	// if nil). Neither secrets nor passwords are logged.
	Logf func(format string, args ...any)
	// Now returns the time (time.Now if nil), for the failure limiter.
	Now func() time.Time

	save    sync.Mutex // one push at a time
	limiter limiter
}

// readTimeout bounds the time a client takes to send its request body.
const readTimeout = 30 * time.Second

func (h *Handler) etcDir() string {
	if h.EtcDir == "" {
		return "/etc"
	}
	return h.EtcDir
}

func (h *Handler) logf(format string, args ...any) {
	if h.Logf != nil {
		h.Logf(format, args...)
		return
	}
	log.Printf(format, args...)
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

// ServeHTTP answers one request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Content-Type-Options", "nosniff")
	key := clientKey(r.RemoteAddr)
	if d := h.limiter.wait(key, h.now()); d > 0 {
		hdr.Set("Retry-After", strconv.Itoa(int(d.Seconds())+1))
		answer(w, http.StatusTooManyRequests, reply{Error: "too many failed attempts: try again later"})
		return
	}
	pw, err := h.password()
	if errors.Is(err, errNoPassword) {
		answer(w, http.StatusForbidden, reply{Error: err.Error()})
		return
	}
	if err != nil {
		h.logf("config: %v", err)
		answer(w, http.StatusInternalServerError, reply{Error: "the device cannot read its password"})
		return
	}
	if !authorized(r, pw) {
		h.limiter.failed(key, h.now())
		h.logf("config: %s %s from %s: wrong user or password", r.Method, r.URL.Path, r.RemoteAddr)
		hdr.Set("WWW-Authenticate", `Basic realm="lapsebox", charset="UTF-8"`)
		answer(w, http.StatusUnauthorized, reply{Error: "unauthorized"})
		return
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		h.pull(w, r)
	case http.MethodPut:
		h.push(w, r)
	default:
		hdr.Set("Allow", "GET, HEAD, PUT")
		answer(w, http.StatusMethodNotAllowed, reply{Error: "use GET to read the configuration, PUT to replace it"})
	}
}

func (h *Handler) pull(w http.ResponseWriter, r *http.Request) {
	secrets := false
	if v := r.URL.Query().Get("secrets"); v != "" {
		var err error
		if secrets, err = strconv.ParseBool(v); err != nil {
			answer(w, http.StatusBadRequest, reply{Error: "secrets: want 1 or 0"})
			return
		}
	}
	u := config.LoadInUse(h.PermDir)
	data := u.Data
	if !secrets {
		var err error
		if data, err = config.RedactJSON(u.Data); err != nil {
			// Cannot happen for a configuration in use; never give out
			// what could not be redacted.
			h.logf("config: pull: %v", err)
			answer(w, http.StatusInternalServerError, reply{Error: "the configuration in use cannot be redacted"})
			return
		}
	}
	source := "default"
	if u.Source != config.DefaultSource {
		source = path.Base(u.Source)
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json")
	hdr.Set(SourceHeader, source)
	hdr.Set("Content-Length", strconv.Itoa(len(data)))
	if secrets {
		h.logf("config: %s pulled the configuration with its secrets", r.RemoteAddr)
	}
	if r.Method == http.MethodHead {
		return
	}
	w.Write(data)
}

func (h *Handler) push(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength > config.MaxFileSize {
		answer(w, http.StatusRequestEntityTooLarge, reply{Error: tooLarge})
		return
	}
	http.NewResponseController(w).SetReadDeadline(time.Now().Add(readTimeout))
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, config.MaxFileSize))
	if mb := (*http.MaxBytesError)(nil); errors.As(err, &mb) {
		answer(w, http.StatusRequestEntityTooLarge, reply{Error: tooLarge})
		return
	}
	if err != nil {
		answer(w, http.StatusBadRequest, reply{Error: "reading the request: " + err.Error()})
		return
	}

	h.save.Lock()
	defer h.save.Unlock()
	// "[redacted]" values of a pulled file stand for the secrets in use.
	restored, rerr := config.RestoreSecrets(pushedName, data, config.LoadInUse(h.PermDir).Config)
	if rerr != nil {
		restored = data
	}
	cfg, verr := Check(pushedName, restored)
	if rerr != nil || verr != nil {
		problems := toProblems(errors.Join(rerr, verr))
		h.logf("config: %s pushed an invalid configuration (%d problems)", r.RemoteAddr, len(problems))
		answer(w, http.StatusUnprocessableEntity, reply{Error: "invalid configuration", Problems: problems})
		return
	}
	changed, prevKept, err := save(h.PermDir, restored)
	if err != nil {
		h.logf("config: saving: %v", err)
		answer(w, http.StatusInternalServerError, reply{Error: "the device could not save the configuration"})
		return
	}
	h.logf("config: %s pushed a configuration: %d targets, changed %v, previous kept %v", r.RemoteAddr, len(cfg.Targets), changed, prevKept)
	answer(w, http.StatusOK, reply{Changed: changed, PreviousKept: prevKept, Targets: len(cfg.Targets)})
}

var tooLarge = "the configuration is larger than " + strconv.Itoa(config.MaxFileSize>>10) + " KiB"

// toProblems turns validation errors into Problems, in file order.
func toProblems(err error) []Problem {
	var out []Problem
	for _, e := range strictjson.Errors(err) {
		out = append(out, Problem{Line: e.Line, Field: e.Field, Message: e.Err.Error()})
	}
	slices.SortStableFunc(out, func(a, b Problem) int { return a.Line - b.Line })
	return out
}

func answer(w http.ResponseWriter, code int, rep reply) {
	b, err := json.Marshal(rep)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(append(b, '\n'))
}
