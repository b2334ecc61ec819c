package ingest

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

	expslog "golang.org/x/exp/slog"

	"github.com/lapsebox/lapsebox/cloud/archive"
)

// DeviceStatus is what the server has seen of one device since it started.
type DeviceStatus struct {
	Photos     int64     `json:"photos"`      // photos stored
	Bytes      int64     `json:"bytes"`       // bytes of those photos
	BodyBytes  int64     `json:"body_bytes"`  // upload bytes received, resent ones included
	Rejected   int64     `json:"rejected"`    // uploads discarded for a wrong SHA-256
	LastUpload time.Time `json:"last_upload"` // when the last photo was stored
	LastName   string    `json:"last_name,omitempty"`
}

func (s *Server) count(dev string, f func(*DeviceStatus)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats[dev]
	if st == nil {
		st = &DeviceStatus{}
		s.stats[dev] = st
	}
	f(st)
}

// Status returns a copy of every device's status, devices that have not
// uploaded since the start included.
func (s *Server) Status() map[string]DeviceStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]DeviceStatus{}
	for dev := range *s.devices.Load() {
		out[dev] = DeviceStatus{}
	}
	for dev, st := range s.stats {
		out[dev] = *st
	}
	return out
}

// AdminHandler serves GET /status, every device's status and the
// archive's (its second store, the last scrub) as JSON. It has no
// authentication: serve it on a private address only.
func (s *Server) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(struct {
			Devices map[string]DeviceStatus `json:"devices"`
			Archive archive.Status          `json:"archive"`
		}{s.Status(), s.archive.Status()})
	})
	return mux
}

// tusLogger passes tusd's warnings and errors to l; tusd logs every
// request at the info level, which is too much for a fleet.
func tusLogger(l *slog.Logger) *expslog.Logger {
	return expslog.New(bridge{l: l})
}

type bridge struct {
	l     *slog.Logger
	attrs []any
}

func (b bridge) Enabled(ctx context.Context, level expslog.Level) bool {
	return level >= expslog.LevelWarn && b.l.Enabled(ctx, slog.Level(level))
}

func (b bridge) Handle(ctx context.Context, r expslog.Record) error {
	args := append([]any{}, b.attrs...)
	r.Attrs(func(a expslog.Attr) bool {
		args = append(args, a.Key, a.Value.Any())
		return true
	})
	b.l.Log(ctx, slog.Level(r.Level), "tusd: "+r.Message, args...)
	return nil
}

func (b bridge) WithAttrs(as []expslog.Attr) expslog.Handler {
	n := bridge{l: b.l, attrs: append([]any{}, b.attrs...)}
	for _, a := range as {
		n.attrs = append(n.attrs, a.Key, a.Value.Any())
	}
	return n
}

func (b bridge) WithGroup(string) expslog.Handler { return b }
