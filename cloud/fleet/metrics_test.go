package fleet

import (
	"bytes"
	"io"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/appliance/heartbeat"
	"github.com/lapsebox/lapsebox/cloud/ingest"
	"github.com/lapsebox/lapsebox/cloud/state/statetest"
	"github.com/lapsebox/lapsebox/internal/testtool"
)

// The metrics pass promtool's checks (names, units, types, help), and
// carry the fleet's figures.
func TestMetricsPromtool(t *testing.T) {
	promtool := testtool.Program(t, "promtool")
	s := newSim(t, statetest.SQLite(t), 1, "glacier-1", "crane.2", "never-seen")
	svc := s.svcs[0]
	d := &device{name: "glacier-1", connected: true, queue: 7, missed: 1, update: &heartbeat.Update{Version: "2026.06.09",
		Build: time.Date(2026, 6, 9, 8, 0, 0, 0, time.UTC), CommittedVersion: "2026.06.02", Committed: time.Date(2026, 6, 2, 8, 0, 0, 0, time.UTC),
		Trial: &heartbeat.Trial{Version: "2026.06.09", Deadline: t0.Add(time.Hour)}}}
	svc.Record(ctx, "glacier-1", d.heartbeat(t0), t0)
	d.missed = 3
	svc.Record(ctx, "glacier-1", d.heartbeat(t0.Add(5*time.Minute)), t0.Add(5*time.Minute))
	// crane.2 went silent: an alert fires.
	svc.Record(ctx, "crane.2", (&device{connected: true}).heartbeat(t0), t0)
	now := t0.Add(20 * time.Minute)
	s.clock.Set(now)
	svc.Record(ctx, "glacier-1", d.heartbeat(now), now)
	if err := svc.EvaluateAll(ctx, now); err != nil {
		t.Fatal(err)
	}
	ing := func() map[string]ingest.DeviceStatus {
		return map[string]ingest.DeviceStatus{"glacier-1": {Photos: 12, Bytes: 60 << 20, BodyBytes: 61 << 20}, "crane.2": {}}
	}
	rec := httptest.NewRecorder()
	svc.MetricsHandler(ing).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("promtool check metrics: %v\n%s\n--- metrics:\n%s", err, out, body)
	}
	for _, want := range []string{
		"lapsebox_devices 3\n",
		`lapsebox_device_queue_photos{device="glacier-1"} 7` + "\n",
		`lapsebox_device_missed_slots_today{device="glacier-1"} 2` + "\n",
		`lapsebox_device_silent{device="crane.2"} 1` + "\n",
		`lapsebox_device_silent{device="glacier-1"} 0` + "\n",
		`lapsebox_device_alert{device="crane.2",alert="silent",severity="critical"} 1` + "\n",
		`lapsebox_device_autonomy_seconds{device="glacier-1"} 2.592e+06` + "\n",
		`lapsebox_device_signal_dbm{device="glacier-1"} -90` + "\n",
		`lapsebox_ingest_photos_total{device="glacier-1"} 12` + "\n",
		`lapsebox_heartbeats_received_total 0` + "\n", // Record is not the HTTP handler
		`lapsebox_notifications{channel="webhook",outcome="queued"} 1` + "\n",
		`lapsebox_device_build_timestamp_seconds{device="glacier-1"} 1.780992e+09` + "\n",
		`lapsebox_device_update_trial{device="glacier-1"} 1` + "\n",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if strings.Contains(string(body), `lapsebox_device_update_trial{device="crane.2"}`) {
		t.Error("a device without updated has an update figure")
	}
	if strings.Contains(string(body), `device="never-seen"} 0`) {
		t.Errorf("a device never seen has figures:\n%s", body)
	}
}
