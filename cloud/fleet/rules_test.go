package fleet

import (
	"slices"
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
		{"rolled back", func(s *state.Status, h *heartbeat.Heartbeat) {
			h.Update = &heartbeat.Update{Version: "2026.06.02", Last: &heartbeat.Attempt{Time: now.Add(-time.Hour), Version: "2026.06.09",
				Result: "rolled back", Error: "camerad took no picture", RootBytes: 120 << 20, FetchedBytes: 9 << 20, Failures: 1}}
		}, Update, Warning, "release 2026.06.09 rolled back: camerad took no picture (1 failed trial)"},
		{"refused", func(s *state.Status, h *heartbeat.Heartbeat) {
			h.Update = &heartbeat.Update{Version: "2026.06.02", Last: &heartbeat.Attempt{Time: now.Add(-time.Hour), Version: "2026.05.01",
				Result: "refused", Refusal: "not newer than the running build", RootBytes: 120 << 20}}
		}, Update, Warning, "release 2026.05.01 refused: not newer than the running build"},
	} {
		st, hb := base()
		if _, on := r.conditions(st, hb, nil, now); len(on) != 0 {
			t.Fatalf("a healthy device has conditions: %+v", on)
		}
		hb.Update = &heartbeat.Update{Version: "2026.06.09", Last: &heartbeat.Attempt{Time: now.Add(-time.Hour), Version: "2026.06.09", Result: "installed"}}
		if _, on := r.conditions(st, hb, nil, now); len(on) != 0 {
			t.Fatalf("a device that installed a release has conditions: %+v", on)
		}
		tc.change(&st, hb)
		_, on := r.conditions(st, hb, nil, now)
		c, ok := on[tc.kind]
		if !ok || len(on) != 1 || c.severity != tc.severity || !strings.Contains(c.message, tc.message) {
			t.Errorf("%s: %+v, want only %s %s %q", tc.name, on, tc.kind, tc.severity, tc.message)
		}
	}
}

// The update alert is judged only from a heartbeat with an update
// section: one without (updated.json not yet written after the reboot
// of a rollback) leaves it as it is.
func TestUpdateJudged(t *testing.T) {
	r := Rules{}.WithDefaults()
	st := state.Status{Device: "d", LastSeen: t0.Add(-time.Minute)}
	hb := (&device{connected: true}).heartbeat(t0)
	if kinds, _ := r.conditions(st, hb, nil, t0); slices.Contains(kinds, Update) {
		t.Errorf("without an update section the update alert is judged: %v", kinds)
	}
	hb.Update = &heartbeat.Update{Version: "2026.06.09"}
	if kinds, on := r.conditions(st, hb, nil, t0); !slices.Contains(kinds, Update) || len(on) != 0 {
		t.Errorf("with one: %v, %+v", kinds, on)
	}
}

func TestAttemptText(t *testing.T) {
	for _, tc := range []struct {
		a    heartbeat.Attempt
		want string
	}{
		{heartbeat.Attempt{Version: "2026.06.02", Result: "rolled back", Error: "camerad took no picture"}, "2026.06.02 rolled back: camerad took no picture"},
		{heartbeat.Attempt{Version: "2026.05.01", Result: "refused", Refusal: "not newer", RootBytes: 1 << 20}, "2026.05.01 refused: not newer"},
		{heartbeat.Attempt{Version: "2026.06.09", Result: "installed", RootBytes: 120 << 20, FetchedBytes: 9 << 20}, "2026.06.09 installed"},
		{heartbeat.Attempt{Version: "2026.06.09", Result: "rolled back", Error: "no heartbeat reached the server", Failures: 2}, "2026.06.09 rolled back: no heartbeat reached the server (2 failed trials)"},
		{heartbeat.Attempt{Version: "2026.06.09", Result: "rolled back", Error: "a power cut", Interrupted: 1}, "2026.06.09 rolled back: a power cut (1 interrupted trial)"},
		{heartbeat.Attempt{Version: "2026.06.09", Result: "rolled back", Error: "a power cut", Failures: 1, Interrupted: 2}, "2026.06.09 rolled back: a power cut (1 failed trial, 2 interrupted)"},
		{heartbeat.Attempt{Result: "failed", Error: "EOF"}, "a release failed: EOF"},
		{heartbeat.Attempt{Version: "2026.06.09", Result: "rolled back", Error: "not healthy after 20m on trial", Failures: 2,
			Refusal: "failed its trial 2 times, last: not healthy after 20m on trial"},
			"2026.06.09 rolled back and refused: failed its trial 2 times, last: not healthy after 20m on trial"},
	} {
		if got := attemptText(&tc.a); got != tc.want {
			t.Errorf("attemptText(%+v) = %q, want %q", tc.a, got, tc.want)
		}
	}
}
