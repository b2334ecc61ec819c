package fleet

import (
	"bytes"
	"net/http"
	"sort"

	"github.com/lapsebox/lapsebox/cloud/ingest"
	"github.com/lapsebox/lapsebox/cloud/state"
	"github.com/lapsebox/lapsebox/internal/promtext"
)

// MetricsHandler serves GET /metrics in Prometheus's text format: a
// gauge per device for what the fleet page shows (from the shared state,
// the same on every cloudd), and this process's counters of photos
// received (ingest, which may be nil) and heartbeats, then what each of
// more writes (the archive's). Serve it on the private admin address.
func (s *Service) MetricsHandler(ingestStatus func() map[string]ingest.DeviceStatus, more ...func(*bytes.Buffer)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sts, err := s.db.Statuses(r.Context())
		if err != nil {
			serverError(w, s, "reading the fleet for metrics", err)
			return
		}
		firing, err := s.db.FiringAlerts(r.Context())
		if err != nil {
			serverError(w, s, "reading alerts for metrics", err)
			return
		}
		counts, err := s.db.NotificationCounts(r.Context())
		if err != nil {
			serverError(w, s, "counting notifications for metrics", err)
			return
		}
		var ing map[string]ingest.DeviceStatus
		if ingestStatus != nil {
			ing = ingestStatus()
		}
		var b bytes.Buffer
		s.writeMetrics(&b, sts, firing, counts, ing)
		for _, m := range more {
			m(&b)
		}
		w.Header().Set("Content-Type", promtext.ContentType)
		w.Header().Set("Cache-Control", "no-store")
		w.Write(b.Bytes())
	})
}

func (s *Service) writeMetrics(b *bytes.Buffer, sts []state.Status, firing []state.Alert, counts map[string]map[string]int64, ing map[string]ingest.DeviceStatus) {
	now := s.cfg.Now()
	today := now.In(s.cfg.Location).Format("2006-01-02")
	promtext.Family(b, "lapsebox_devices", "gauge", "Devices known to the server.").Add(float64(len(sts)))
	var (
		seen     = promtext.Family(b, "lapsebox_device_last_heartbeat_timestamp_seconds", "gauge", "When the device's last heartbeat arrived, in Unix time (absent: never).")
		silent   = promtext.Family(b, "lapsebox_device_silent", "gauge", "1 if the device sent no heartbeat for longer than the silence threshold.")
		capture  = promtext.Family(b, "lapsebox_device_last_capture_timestamp_seconds", "gauge", "When the device took its last picture, as its heartbeat says, in Unix time.")
		photo    = promtext.Family(b, "lapsebox_device_last_photo_timestamp_seconds", "gauge", "Capture time of the device's last picture received, in Unix time.")
		size     = promtext.Family(b, "lapsebox_device_last_photo_bytes", "gauge", "Size of the device's last JPEG received.")
		luma     = promtext.Family(b, "lapsebox_device_last_photo_brightness_ratio", "gauge", "Mean brightness of the device's last JPEG received, 0 (black) to 1 (white).")
		missed   = promtext.Family(b, "lapsebox_device_missed_slots_today", "gauge", "Slots the device missed today (server's time zone).")
		captures = promtext.Family(b, "lapsebox_device_captures_today", "gauge", "Pictures the device took today (server's time zone).")
		queue    = promtext.Family(b, "lapsebox_device_queue_photos", "gauge", "Photos waiting on the device, all upload targets.")
		qbytes   = promtext.Family(b, "lapsebox_device_queue_bytes", "gauge", "Bytes waiting on the device, all upload targets.")
		autonomy = promtext.Family(b, "lapsebox_device_autonomy_seconds", "gauge", "Time until the device's disk is full at its current rate.")
		signal   = promtext.Family(b, "lapsebox_device_signal_dbm", "gauge", "The device's cellular signal (RSRP on LTE, RSSI otherwise), in dBm.")
		info     = promtext.Family(b, "lapsebox_device_info", "gauge", "The device's lapsebox version, as a label.")
		build    = promtext.Family(b, "lapsebox_device_build_timestamp_seconds", "gauge", "Build time of the release the device runs, in Unix time, as updated says.")
		trial    = promtext.Family(b, "lapsebox_device_update_trial", "gauge", "1 while the device runs a release on trial, not yet committed.")
	)
	for _, st := range sts {
		dev := []string{"device", st.Device}
		if !st.LastSeen.IsZero() {
			seen.Add(promtext.Unix(st.LastSeen), dev...)
			silent.Add(promtext.Bool(now.Sub(st.LastSeen) > s.rules.SilentAfter), dev...)
		}
		if !st.LastCapture.IsZero() {
			capture.Add(promtext.Unix(st.LastCapture), dev...)
		}
		if st.Photo.Name != "" {
			photo.Add(promtext.Unix(st.Photo.Captured), dev...)
			size.Add(float64(st.Photo.Bytes), dev...)
			if st.Photo.Luma != nil {
				luma.Add(*st.Photo.Luma/255, dev...)
			}
		}
		if st.LastSeen.IsZero() {
			continue
		}
		m, c := 0, 0
		if st.Day == today {
			m, c = st.MissedToday, st.CapturesToday
		}
		missed.Add(float64(m), dev...)
		captures.Add(float64(c), dev...)
		queue.Add(float64(st.Queue), dev...)
		qbytes.Add(float64(st.QueueBytes), dev...)
		if st.AutonomyDays != nil {
			autonomy.Add(*st.AutonomyDays*86400, dev...)
		}
		if st.SignalDBM != nil {
			signal.Add(float64(*st.SignalDBM), dev...)
		}
		info.Add(1, "device", st.Device, "version", st.Version)
		if u := updateOf(st); u != nil {
			if !u.Build.IsZero() {
				build.Add(promtext.Unix(u.Build), dev...)
			}
			trial.Add(promtext.Bool(u.Trial != nil), dev...)
		}
	}
	alerts := promtext.Family(b, "lapsebox_device_alert", "gauge", "1 for each alert firing on a device.")
	for _, a := range firing {
		alerts.Add(1, "device", a.Device, "alert", a.Kind, "severity", a.Severity)
	}
	notes := promtext.Family(b, "lapsebox_notifications", "gauge", "Notifications in the state, by channel and outcome (sent, failed: given up, queued).")
	for _, ch := range sortedKeys(counts) {
		for _, outcome := range []string{"sent", "failed", "queued"} {
			notes.Add(float64(counts[ch][outcome]), "channel", ch, "outcome", outcome)
		}
	}
	promtext.Family(b, "lapsebox_heartbeats_received_total", "counter", "Heartbeats this process recorded.").Add(float64(s.heartbeats.Load()))
	promtext.Family(b, "lapsebox_heartbeats_refused_total", "counter", "Heartbeats this process refused (malformed, too frequent).").Add(float64(s.refused.Load()))
	var (
		photos   = promtext.Family(b, "lapsebox_ingest_photos_total", "counter", "Photos this process stored, by device.")
		pbytes   = promtext.Family(b, "lapsebox_ingest_photo_bytes_total", "counter", "Bytes of the photos this process stored, by device.")
		body     = promtext.Family(b, "lapsebox_ingest_received_bytes_total", "counter", "Upload bytes this process received, resent ones included, by device.")
		rejected = promtext.Family(b, "lapsebox_ingest_rejected_total", "counter", "Uploads this process discarded for a wrong SHA-256, by device.")
	)
	for _, dev := range sortedKeys(ing) {
		st := ing[dev]
		photos.Add(float64(st.Photos), "device", dev)
		pbytes.Add(float64(st.Bytes), "device", dev)
		body.Add(float64(st.BodyBytes), "device", dev)
		rejected.Add(float64(st.Rejected), "device", dev)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
