package check

import (
	"strings"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/cloud/fleet"
)

// The examples of the monitoring plugins' guidelines.
func TestRanges(t *testing.T) {
	for _, tc := range []struct {
		r      string
		alerts []float64
		quiet  []float64
	}{
		{"10", []float64{-1, 11}, []float64{0, 5, 10}},
		{"10:", []float64{9.9, -5}, []float64{10, 1e9}},
		{"~:10", []float64{10.1}, []float64{-1e9, 10}},
		{"10:20", []float64{9, 21}, []float64{10, 15, 20}},
		{"@10:20", []float64{10, 15, 20}, []float64{9, 21}},
	} {
		r, err := ParseRange(tc.r)
		if err != nil {
			t.Fatalf("%s: %v", tc.r, err)
		}
		for _, v := range tc.alerts {
			if !r.Alerts(v) {
				t.Errorf("%s: %v does not alert", tc.r, v)
			}
		}
		for _, v := range tc.quiet {
			if r.Alerts(v) {
				t.Errorf("%s: %v alerts", tc.r, v)
			}
		}
	}
	for _, bad := range []string{"", "x", "20:10", "1:y", "@"} {
		if _, err := ParseRange(bad); err == nil {
			t.Errorf("ParseRange(%q) accepted", bad)
		}
	}
}

func TestEvaluate(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	days, dbm := 12.5, -95
	healthy := fleet.DeviceReport{Device: "cam-1", Now: now, LastSeen: now.Add(-time.Minute), LastCapture: now.Add(-4 * time.Minute),
		Queue: 3, AutonomyDays: &days, SignalDBM: &dbm}
	w, _ := ParseRange("1800")
	c, _ := ParseRange("7200")
	q, _ := ParseRange("2")
	aut, _ := ParseRange("30:")
	for _, tc := range []struct {
		name   string
		rep    func(r *fleet.DeviceReport)
		o      Options
		status int
		line   string
	}{
		{"healthy", nil, Options{Metric: "picture_age", Warning: &w, Critical: &c}, OK,
			"LAPSEBOX OK - cam-1: last picture 4m ago, queue 3 | picture_age=240s;1800;7200;0; heartbeat_age=60s;;;0; queue=3;;;0; missed_today=0;;;0; autonomy_days=12.5;;;0; signal_dbm=-95;;;;"},
		{"old picture", func(r *fleet.DeviceReport) { r.LastCapture = now.Add(-time.Hour) }, Options{Metric: "picture_age", Warning: &w, Critical: &c}, Warning,
			"LAPSEBOX WARNING - cam-1: picture_age 3600 outside 1800, last picture 1h 0m ago"},
		{"queue threshold", nil, Options{Metric: "queue", Critical: &q}, Critical, "queue 3 outside 2"},
		{"autonomy", nil, Options{Metric: "autonomy_days", Warning: &aut}, Warning, "autonomy_days 12.5 outside 30:"},
		{"silent", func(r *fleet.DeviceReport) {
			r.Silent, r.LastSeen = true, now.Add(-40*time.Minute)
			r.Alerts = []fleet.Alert{{Kind: "silent", State: "firing", Severity: "critical"}}
		}, Options{Metric: "picture_age"}, Critical, "LAPSEBOX CRITICAL - cam-1: silent for 40m,"},
		{"warning alert", func(r *fleet.DeviceReport) {
			r.Alerts = []fleet.Alert{{Kind: "dark", State: "firing", Severity: "warning", Message: "the last picture is dark | really"}, {Kind: "disk", State: "pending", Severity: "critical"}}
		}, Options{Metric: "picture_age"}, Warning, "dark: the last picture is dark / really,"},
		{"never seen", func(r *fleet.DeviceReport) { *r = fleet.DeviceReport{Device: "cam-1", Now: now} }, Options{Metric: "picture_age"}, Warning, "LAPSEBOX WARNING - cam-1: never seen"},
		{"no value for the threshold", func(r *fleet.DeviceReport) { r.SignalDBM = nil }, Options{Metric: "signal_dbm", Warning: &w}, Unknown, "no signal_dbm known"},
	} {
		rep := healthy
		if tc.rep != nil {
			tc.rep(&rep)
		}
		status, line := Evaluate(rep, tc.o)
		if status != tc.status || !strings.Contains(line, tc.line) || strings.Count(line, "|") > 1 || strings.Contains(line, "\n") {
			t.Errorf("%s: %d %q, want %d and %q", tc.name, status, line, tc.status, tc.line)
		}
	}
}
