package hw_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/hw"
)

func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestSensors(t *testing.T) {
	floor := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name     string
		files    map[string]string
		now      time.Time
		check    func(t *testing.T, r hw.Readings)
		wantErrs []string
	}{{
		name: "Pi 4, downstream kernel, under-voltage now",
		files: map[string]string{
			"sys/class/thermal/thermal_zone0/type":                "cpu-thermal\n",
			"sys/class/thermal/thermal_zone0/temp":                "61854\n",
			"sys/devices/platform/soc/soc:firmware/get_throttled": "50005\n",
			"proc/uptime": "12345.67 40000.00\n",
		},
		now: time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC),
		check: func(t *testing.T, r hw.Readings) {
			th := r.Throttle
			if len(r.Temperatures) != 1 || r.Temperatures[0].Celsius != 61.854 || r.Temperatures[0].Type != "cpu-thermal" {
				t.Errorf("temperatures %+v", r.Temperatures)
			}
			if th == nil || !th.UnderVoltage || !th.Throttled || th.FrequencyCapped || !th.UnderVoltageOccurred || !th.ThrottledOccurred || th.Raw != 0x50005 {
				t.Errorf("throttle %+v", th)
			}
			if r.Uptime != 12345670*time.Millisecond || !r.Clock.Plausible {
				t.Errorf("uptime %v clock %+v", r.Uptime, r.Clock)
			}
		},
	}, {
		name: "mainline kernel: rpi_volt hwmon, clock never set",
		files: map[string]string{
			"sys/class/hwmon/hwmon0/name":            "cpu_thermal\n",
			"sys/class/hwmon/hwmon1/name":            "rpi_volt\n",
			"sys/class/hwmon/hwmon1/in0_lcrit_alarm": "1\n",
			"proc/uptime":                            "3.5 1.0\n",
		},
		now: time.Unix(12, 0),
		check: func(t *testing.T, r hw.Readings) {
			if r.Throttle == nil || !r.Throttle.UnderVoltage || r.Throttle.Source != "rpi_volt" {
				t.Errorf("throttle %+v", r.Throttle)
			}
			if r.Clock.Plausible {
				t.Error("1970 is plausible")
			}
		},
	}, {
		name: "a PC: no firmware node; a broken zone",
		files: map[string]string{
			"sys/class/thermal/thermal_zone0/temp": "hot\n",
			"sys/class/thermal/thermal_zone1/temp": "45000\n",
			"proc/uptime":                          "\n",
		},
		now: floor,
		check: func(t *testing.T, r hw.Readings) {
			if r.Throttle != nil || len(r.Temperatures) != 1 || r.Temperatures[0].Zone != "thermal_zone1" || !r.Clock.Plausible {
				t.Errorf("readings %+v", r)
			}
		},
		wantErrs: []string{`thermal_zone0: temp: "hot" is not a number`, "uptime: empty"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			root := writeTree(t, tc.files)
			s := &hw.Sensors{Sys: filepath.Join(root, "sys"), Proc: filepath.Join(root, "proc"), ClockFloor: floor,
				Now: func() time.Time { return tc.now }}
			r := s.Read()
			tc.check(t, r)
			if strings.Join(r.Errs, "\n") != strings.Join(tc.wantErrs, "\n") {
				t.Errorf("errors %q, want %q", r.Errs, tc.wantErrs)
			}
		})
	}
	if _, err := hw.ParseThrottled("0xzz"); err == nil {
		t.Error("bad get_throttled parsed")
	}
}
