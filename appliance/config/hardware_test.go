package config

import (
	"strings"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/hw"
)

func TestHardwareExample(t *testing.T) {
	c, err := Parse("example.json", readExample(t))
	if err != nil {
		t.Fatal(err)
	}
	h := c.Hardware
	if !h.Wired || h.Watchdog == nil || h.Watchdog.Chip != "pinctrl-bcm2711" || h.Watchdog.Line != "GPIO21" ||
		h.Watchdog.Period != 5*time.Second || h.Watchdog.Pulse != 100*time.Millisecond {
		t.Errorf("watchdog %+v", h.Watchdog)
	}
	if len(h.Relays) != 2 || h.Relays[1].Device != "modem" || !h.Relays[1].ActiveLow ||
		h.Relays[1].Caps != (hw.Caps{Off: 20 * time.Second, MinInterval: 30 * time.Minute, MaxPerHour: 2}) {
		t.Errorf("relays %+v", h.Relays)
	}
	lc := h.Relays[0].LineConfig("watchdogd")
	if !lc.Output || lc.Initial != 0 || lc.Chip != "pinctrl-bcm2711" || lc.Line != "GPIO20" {
		t.Errorf("relay line config %+v: want an output at rest", lc)
	}
	if len(h.Inputs) != 1 || h.Inputs[0].Bias != hw.PullUp || h.Inputs[0].Edges != hw.Both || h.Inputs[0].Debounce != 20*time.Millisecond {
		t.Errorf("inputs %+v", h.Inputs)
	}
	if h.Health.PermCritical != 95 || h.Health.QuickReboots != 3 || h.Health.CheckEvery != 15*time.Second {
		t.Errorf("health %+v", h.Health)
	}
}

// Without a hardware section nothing is wired, and the health model gets
// its defaults.
func TestHardwareDefault(t *testing.T) {
	h := Default().Hardware
	if h.Wired || h.Watchdog != nil || len(h.Relays) != 0 {
		t.Errorf("default hardware %+v", h)
	}
	want := Health{CheckEvery: 15 * time.Second, StartupGrace: 5 * time.Minute, StaleAfter: 2 * time.Minute,
		CameraGrace: 30 * time.Minute, UploadStall: 2 * time.Hour, PermCritical: 95, TemperatureWarn: 80,
		QuickReboots: 3, StableAfter: 30 * time.Minute}
	if h.Health != want {
		t.Errorf("default health %+v, want %+v", h.Health, want)
	}
	b, _ := Default().Marshal()
	if strings.Contains(string(b), "hardware") {
		t.Error("the default writes a hardware section back")
	}
}

func TestHardwareBadValues(t *testing.T) {
	const head = `{"site": {"name": "s", "time_zone": "UTC"},
"hardware": `
	for _, tc := range []struct{ hw, want string }{
		{`{"watchdog": {"line": ""}}`, `hardware.watchdog.line: "" is not a line offset`},
		{`{"watchdog": {"line": "21", "period": "500ms"}}`, `hardware.watchdog.period: "500ms" is not between 1s and 10m`},
		{`{"watchdog": {"line": "21", "period": "2s", "pulse": "3s"}}`, `hardware.watchdog.pulse: 3s is not shorter than the period (2s)`},
		{`{"watchdog": {"line": "21", "drive": "strong"}}`, `hardware.watchdog.drive: "strong" is not one of push-pull, open-drain, open-source`},
		{`{"watchdog": {"line": "21", "chip": "../../dev/sda"}}`, `hardware.watchdog.chip`},
		{`{"watchdog": {"line": "21"}, "relays": [{"device": "camera", "line": "21"}]}`, `hardware.relays[0].line: chip gpiochip0 line 21 is already hardware.watchdog`},
		{`{"relays": [{"device": "camera", "line": "20"}, {"device": "camera", "line": "26"}]}`, `hardware.relays[1].device: "camera" is already the name of hardware.relays[0]`},
		{`{"relays": [{"device": "Camera 1", "line": "20"}]}`, `hardware.relays[0].device: "Camera 1" is not a name`},
		{`{"relays": [{"device": "camera", "line": "20", "off": "1h"}]}`, `hardware.relays[0].off: "1h" is not between 1s and 5m`},
		{`{"relays": [{"device": "camera", "line": "20", "max_per_hour": 100}]}`, `hardware.relays[0].max_per_hour: 100 is not between 1 and 12`},
		{`{"relays": [{"device": "camera", "line": "20", "min_interval": "10s"}]}`, `hardware.relays[0].min_interval: "10s" is not between 1m and 1d`},
		{`{"inputs": [{"name": "door", "line": "16", "edges": "up"}]}`, `hardware.inputs[0].edges: "up" is not one of none, rising, falling, both`},
		{`{"inputs": [{"name": "door", "line": "16", "bias": "strong"}]}`, `hardware.inputs[0].bias`},
		{`{"inputs": [{"name": "door", "line": "16"}, {"name": "door", "line": "17"}]}`, `hardware.inputs[1].name: "door" is already the name of hardware.inputs[0]`},
		{`{"health": {"perm_critical": 20}}`, `hardware.health.perm_critical: 20 is not between 50 and 100 %`},
		{`{"health": {"stale_after": "1s"}}`, `hardware.health.stale_after: "1s" is not between 10s and 1h`},
		{`{"health": {"quick_reboots": -1}}`, `hardware.health.quick_reboots: -1 is not between 1 and 20`},
		{`{"relays": [{"device": "camera", "line": "20", "wiring": "nc"}]}`, `unknown field "wiring"`},
	} {
		_, err := Parse("x.json", []byte(head+tc.hw+"}"))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.hw, err, tc.want)
		}
		if err != nil && !strings.Contains(err.Error(), "x.json: line 2") {
			t.Errorf("%s: %v does not give the line", tc.hw, err)
		}
	}
}

// A status heartbeat keeps a file well within watchdogd's stale_after, and
// no more often than every 30 s.
func TestHeartbeatEvery(t *testing.T) {
	for _, tc := range []struct {
		hw   string
		want time.Duration
	}{
		{`{}`, 30 * time.Second}, // stale_after's default, 2 min
		{`{"health": {"stale_after": "10s"}}`, 2500 * time.Millisecond},
		{`{"health": {"stale_after": "1m"}}`, 15 * time.Second},
		{`{"health": {"stale_after": "1h"}}`, 30 * time.Second},
	} {
		c, err := Parse("x.json", []byte(`{"site": {"name": "s", "time_zone": "UTC"}, "hardware": `+tc.hw+"}"))
		if err != nil {
			t.Fatalf("%s: %v", tc.hw, err)
		}
		if got := c.HeartbeatEvery(); got != tc.want {
			t.Errorf("%s: heartbeat every %v, want %v", tc.hw, got, tc.want)
		}
	}
}
