package fleet

import (
	"strings"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/appliance/heartbeat"
	"github.com/lapsebox/lapsebox/cloud/state"
)

// Each condition, from a heartbeat and a status as they come.
func TestConditions(t *testing.T) {
	r := Rules{}.WithDefaults()
	now := t0
	half, two, luma := 0.5, 2.0, 8.0
	base := func() (state.Status, *heartbeat.Heartbeat) {
		d := &device{connected: true}
		return state.Status{Device: "d", LastSeen: now.Add(-time.Minute)}, d.heartbeat(now)
	}
	for _, tc := range []struct {
		name     string
		change   func(*state.Status, *heartbeat.Heartbeat)
		kind     string
		severity string
		message  string
	}{
		{"camerad stale", func(s *state.Status, h *heartbeat.Heartbeat) { h.Stale = []string{"camerad"} }, Camera, Critical, "camerad is not reporting"},
		{"no camera", func(s *state.Status, h *heartbeat.Heartbeat) { h.Camera.Connected = false }, Camera, Critical, "no camera connected"},
		{"ladder gave up", func(s *state.Status, h *heartbeat.Heartbeat) {
			h.Camera.Alert, h.Camera.LastError = true, "PTP timeout"
		}, Camera, Critical, "given up: PTP timeout"},
		{"small", func(s *state.Status, h *heartbeat.Heartbeat) { s.Photo = state.Photo{Name: "a.jpg", Bytes: 900} }, Small, Warning, "has only 900 B"},
		{"dark", func(s *state.Status, h *heartbeat.Heartbeat) {
			s.Photo = state.Photo{Name: "a.jpg", Bytes: 1 << 20, Luma: &luma}
		}, Dark, Warning, "brightness 8/255"},
		{"disk full", func(s *state.Status, h *heartbeat.Heartbeat) { h.Disk.Full = true }, Disk, Critical, "cannot be stored"},
		{"autonomy short", func(s *state.Status, h *heartbeat.Heartbeat) { h.Disk.AutonomyDays = &two }, Disk, Warning, "full in 2.0 days"},
		{"autonomy very short", func(s *state.Status, h *heartbeat.Heartbeat) { h.Disk.AutonomyDays = &half }, Disk, Critical, "full in 0.5 days"},
		{"disk percent", func(s *state.Status, h *heartbeat.Heartbeat) { h.Disk.UsedBytes = 60 << 30 }, Disk, Warning, "94 % full"},
		{"data cap", func(s *state.Status, h *heartbeat.Heartbeat) { h.Modem.UsedBytes = h.Modem.CapBytes }, DataCap, Warning, "1.0 GiB of 1.0 GiB"},
		{"hot", func(s *state.Status, h *heartbeat.Heartbeat) { v := 80.0; h.TempC = &v }, Temp, Warning, "80.0 °C"},
		{"very hot", func(s *state.Status, h *heartbeat.Heartbeat) { v := 90.0; h.TempC = &v }, Temp, Critical, "90.0 °C"},
	} {
		st, hb := base()
		if _, on := r.conditions(st, hb, nil, now); len(on) != 0 {
			t.Fatalf("a healthy device has conditions: %+v", on)
		}
		tc.change(&st, hb)
		_, on := r.conditions(st, hb, nil, now)
		c, ok := on[tc.kind]
		if !ok || len(on) != 1 || c.severity != tc.severity || !strings.Contains(c.message, tc.message) {
			t.Errorf("%s: %+v, want only %s %s %q", tc.name, on, tc.kind, tc.severity, tc.message)
		}
	}
}
