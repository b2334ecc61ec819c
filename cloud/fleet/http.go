package fleet

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/lapsebox/lapsebox/appliance/heartbeat"
	"github.com/lapsebox/lapsebox/cloud/ingest"
	"github.com/lapsebox/lapsebox/cloud/state"
)

// HeartbeatHandler receives heartbeats: POST heartbeat.Path, with a
// gzip-compressed (or plain) JSON body, answered 204. Serve it behind
// ingest's RequireDevice, which says which device it is. A body that is
// not a valid heartbeat gets 400 with the reason; a device sending more
// often than HeartbeatMinGap gets 429.
func (s *Service) HeartbeatHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		dev := ingest.DeviceOf(r.Context())
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "POST only", http.StatusMethodNotAllowed)
			return
		}
		if dev == "" {
			http.Error(w, "no authenticated device", http.StatusUnauthorized)
			return
		}
		now := s.cfg.Now()
		s.mu.Lock()
		last, seen := s.lastBeat[dev]
		if !seen || now.Sub(last) >= s.cfg.HeartbeatMinGap || now.Before(last) {
			s.lastBeat[dev] = now
		}
		s.mu.Unlock()
		if seen && now.Sub(last) < s.cfg.HeartbeatMinGap && !now.Before(last) {
			s.refused.Add(1)
			w.Header().Set("Retry-After", strconv.Itoa(int(s.cfg.HeartbeatMinGap.Seconds()+0.5)))
			http.Error(w, "heartbeats too close together", http.StatusTooManyRequests)
			return
		}
		var gz bool
		switch enc := strings.ToLower(r.Header.Get("Content-Encoding")); enc {
		case "gzip":
			gz = true
		case "", "identity":
		default:
			s.refused.Add(1)
			http.Error(w, "Content-Encoding: gzip or none", http.StatusUnsupportedMediaType)
			return
		}
		hb, err := heartbeat.Decode(http.MaxBytesReader(w, r.Body, heartbeat.MaxBytes+1), gz)
		if err != nil {
			s.refused.Add(1)
			s.log.Warn("fleet: refused a heartbeat", "device", dev, "err", err)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if err := s.Record(r.Context(), dev, hb, now); err != nil {
			serverError(w, s, "recording a heartbeat", err)
			return
		}
		s.heartbeats.Add(1)
		w.WriteHeader(http.StatusNoContent)
	})
}

// serverError answers 500 with a reference to the log line that has the
// details.
func serverError(w http.ResponseWriter, s *Service, what string, err error) {
	ref := rand.Text()[:10]
	s.log.Error("fleet: "+what, "ref", ref, "err", err)
	http.Error(w, fmt.Sprintf("internal error (reference %s in the server's log)", ref), http.StatusInternalServerError)
}

// DeviceReport is what the API says of a device: GET
// /api/v1/devices/{name}, which the Nagios check reads.
type DeviceReport struct {
	Device string    `json:"device"`
	Now    time.Time `json:"now"`
	// LastSeen is the last heartbeat's arrival (absent: never).
	LastSeen time.Time `json:"lastSeen,omitzero"`
	// Silent says no heartbeat came for longer than SilentAfterSeconds.
	Silent             bool    `json:"silent"`
	SilentAfterSeconds float64 `json:"silentAfterSeconds"`
	// LastCapture is the device's last picture, as its heartbeat said.
	LastCapture   time.Time `json:"lastCapture,omitzero"`
	LastPhoto     string    `json:"lastPhoto,omitempty"` // the last one received
	MissedToday   int       `json:"missedToday"`
	CapturesToday int       `json:"capturesToday"`
	Queue         int64     `json:"queue"`
	QueueBytes    int64     `json:"queueBytes"`
	AutonomyDays  *float64  `json:"autonomyDays,omitempty"`
	SignalDBM     *int      `json:"signalDBM,omitempty"`
	Version       string    `json:"version,omitempty"`
	// Update is the last heartbeat's update section: the running and
	// committed releases, the trial, the last attempt.
	Update *heartbeat.Update `json:"update,omitempty"`
	Alerts []Alert           `json:"alerts"`
}

// Alert is an alert in a DeviceReport.
type Alert struct {
	Kind     string    `json:"kind"`
	State    string    `json:"state"` // "pending" or "firing"
	Severity string    `json:"severity"`
	Since    time.Time `json:"since"`
	Message  string    `json:"message"`
}

// Report returns device's report at now.
func (s *Service) Report(r *http.Request, device string, now time.Time) (DeviceReport, error) {
	st, err := s.db.Status(r.Context(), device)
	if err != nil {
		return DeviceReport{}, err
	}
	as, err := s.db.DeviceAlerts(r.Context(), device)
	if err != nil {
		return DeviceReport{}, err
	}
	return s.report(st, as, now), nil
}

func (s *Service) report(st state.Status, as []state.Alert, now time.Time) DeviceReport {
	rep := DeviceReport{Device: st.Device, Now: now, LastSeen: st.LastSeen, SilentAfterSeconds: s.rules.SilentAfter.Seconds(),
		LastCapture: st.LastCapture, LastPhoto: st.Photo.Name, Queue: st.Queue, QueueBytes: st.QueueBytes,
		AutonomyDays: st.AutonomyDays, SignalDBM: st.SignalDBM, Version: st.Version, Update: updateOf(st), Alerts: []Alert{}}
	rep.Silent = !st.LastSeen.IsZero() && now.Sub(st.LastSeen) > s.rules.SilentAfter
	if st.Day == now.In(s.cfg.Location).Format(time.DateOnly) {
		rep.MissedToday, rep.CapturesToday = st.MissedToday, st.CapturesToday
	}
	for _, a := range as {
		rep.Alerts = append(rep.Alerts, Alert{Kind: a.Kind, State: a.State, Severity: a.Severity, Since: a.Since, Message: a.Message})
	}
	return rep
}

// APIHandler serves the fleet's JSON, for monitors on the private admin
// address (no authentication, like the rest of it):
//
//	GET /api/v1/devices          every device's report
//	GET /api/v1/devices/{name}   one device's report; 404 if unknown
func (s *Service) APIHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/devices/{name}", func(w http.ResponseWriter, r *http.Request) {
		rep, err := s.Report(r, r.PathValue("name"), s.cfg.Now())
		if errors.Is(err, state.ErrNotFound) {
			http.Error(w, "no such device", http.StatusNotFound)
			return
		}
		if err != nil {
			serverError(w, s, "reading a device's report", err)
			return
		}
		writeJSON(w, rep)
	})
	mux.HandleFunc("GET /api/v1/devices", func(w http.ResponseWriter, r *http.Request) {
		now := s.cfg.Now()
		sts, err := s.db.Statuses(r.Context())
		if err != nil {
			serverError(w, s, "reading the fleet", err)
			return
		}
		firing, err := s.db.FiringAlerts(r.Context())
		if err != nil {
			serverError(w, s, "reading the fleet", err)
			return
		}
		by := firingByDevice(firing)
		out := make([]DeviceReport, 0, len(sts))
		for _, st := range sts {
			out = append(out, s.report(st, by[st.Device], now))
		}
		writeJSON(w, struct {
			Devices []DeviceReport `json:"devices"`
		}{out})
	})
	return mux
}

func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		http.Error(w, "encoding failed", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.Write(append(b, '\n'))
}
