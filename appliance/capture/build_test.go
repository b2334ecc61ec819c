package capture

import (
	"reflect"
	"testing"

	"github.com/lapsebox/lapsebox/appliance/config"
	"github.com/lapsebox/lapsebox/appliance/store"
	"github.com/lapsebox/lapsebox/hw"
)

func TestNewLoopFromConfig(t *testing.T) {
	cfg, err := config.Parse("site.json", []byte(`{
  "site": {"name": "t", "time_zone": "UTC"},
  "camera": {"model": "T3i", "keep": "both", "min_size": 5000},
  "schedule": {"interval": "10m"},
  "retention": {"high_water": 80, "low_water": 70, "critical": 95},
  "targets": [
    {"name": "archive", "kind": "cloud", "url": "https://cloud.example/", "send": "originals"},
    {"name": "web", "kind": "livecam", "url": "https://www.example/cam/", "send": "latest"},
    {"name": "watch", "kind": "cloud", "url": "https://cloud.example/", "send": "nothing"}
  ]
}`))
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	l := NewLoop(cfg, st, nil, &hw.Recorder{Device: "camera"}, nil, nil)
	if l.MinSize != 5000 || l.Keep != cfg.Camera.Keep || l.Model != "T3i" || l.Schedule != &cfg.Schedule || l.Usage == nil {
		t.Errorf("loop %+v does not follow the camera and schedule sections", l)
	}
	if r := l.Retention; r.HighWater != 0.80 || r.LowWater != 0.70 || r.Critical != 0.95 {
		t.Errorf("retention %+v, want the configured percentages as fractions", r)
	}
	for _, tc := range []struct {
		raw  bool
		want []string
	}{
		{raw: false, want: []string{"archive", "web"}},
		{raw: true, want: []string{"archive"}},
	} {
		if got := l.Targets(".x", tc.raw); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("raw=%v: queued for %v, want %v", tc.raw, got, tc.want)
		}
	}
}
