package plan

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/appliance/config"
	"github.com/lapsebox/lapsebox/appliance/schedule"
)

func every(d time.Duration, loc *time.Location, windows ...schedule.Window) *schedule.Schedule {
	if len(windows) == 0 {
		windows = []schedule.Window{{Start: schedule.At(0, 0), End: schedule.At(0, 0)}}
	}
	for i := range windows {
		windows[i].Interval = d
	}
	return &schedule.Schedule{Location: loc, Latitude: 48.86, Longitude: 2.35, MinGap: 3 * time.Second, Windows: windows}
}

func near(got, want, tolerance float64) bool { return math.Abs(got-want) <= tolerance*want }

// The published planning figures for an 18 MP Canon T3i/T4i (Webcampak):
// a RAW+JPG pair every 10 minutes needs about 50 KB/s; 320 GB hold about
// 70 days of RAW+JPG and 370 days of JPG.
func TestPublishedFigures(t *testing.T) {
	s := every(10*time.Minute, time.UTC)
	perDay := PicturesPerDay(s, time.Date(2026, 5, 1, 15, 0, 0, 0, time.UTC))
	if perDay != 144 {
		t.Fatalf("every 10 minutes: %v pictures a day, want 144", perDay)
	}
	for _, tc := range []struct {
		model    string
		keep     config.Keep
		days     float64
		kbPerSec float64
	}{
		{"Canon EOS Rebel T3i", config.KeepJPG, 370, 10},
		{"Canon EOS 650D", config.KeepJPG, 370, 10},
		{"T4i", config.KeepBoth, 70, 50},
	} {
		bytes, source := PictureSize(nil, tc.model, tc.keep)
		e := New(perDay, bytes, source, 320e9)
		if !near(e.Days, tc.days, 0.03) {
			t.Errorf("%s %s every 10 minutes on 320 GB: %.1f days, want ≈ %v", tc.model, tc.keep, e.Days, tc.days)
		}
		if !near(e.BytesPerSecond()/1000, tc.kbPerSec, 0.05) {
			t.Errorf("%s %s every 10 minutes: %.1f KB/s, want ≈ %v", tc.model, tc.keep, e.BytesPerSecond()/1000, tc.kbPerSec)
		}
		if !strings.Contains(source, "typical for Canon EOS 6") {
			t.Errorf("%s: source %q", tc.model, source)
		}
	}
}

// The demo: a 293 KiB JPG every 5 minutes with 847 MiB free below the
// high-water mark lasts about 10 days, not 20696.
func TestDemoAutonomy(t *testing.T) {
	s := every(5*time.Minute, time.UTC)
	recent := []int64{300_000, 299_800, 300_100, 300_050, 12_000_000} // one outlier
	bytes, source := PictureSize(recent, "Canon EOS 600D", config.KeepJPG)
	if bytes != 300_050+MetadataBytes || source != "median of the last 5 pictures" {
		t.Errorf("PictureSize = %d, %q", bytes, source)
	}
	e := New(PicturesPerDay(s, time.Now()), bytes, source, 847<<20)
	if !near(e.Days, 10, 0.05) {
		t.Errorf("autonomy %.1f days, want ≈ 10", e.Days)
	}
	if got := e.String(); !strings.Contains(got, "≈ 9.9 days") || !strings.Contains(got, "288 pictures a day of 312.3 kB") ||
		!strings.Contains(got, "median of the last 5 pictures") {
		t.Errorf("String() = %q", got)
	}
}

func TestPicturesPerDayCountsWindows(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	weekdays := schedule.Days(time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday)
	from := time.Date(2026, 3, 2, 12, 0, 0, 0, paris)
	for _, tc := range []struct {
		name     string
		s        *schedule.Schedule
		min, max float64
	}{
		{"every 5 minutes", every(5*time.Minute, paris), 288, 288},
		// Four sample weeks hold no DST day here: exactly 5/7 of 12 h.
		{"weekdays 07:00 to 19:00", every(10*time.Minute, paris, schedule.Window{Days: weekdays, Start: schedule.At(7, 0), End: schedule.At(19, 0)}), 72 * 5.0 / 7, 72 * 5.0 / 7},
		// Paris has 8 to 16 hours of daylight: about 12 on average.
		{"sunrise to sunset", every(10*time.Minute, paris, schedule.Window{Start: schedule.Edge{Anchor: schedule.Sunrise}, End: schedule.Edge{Anchor: schedule.Sunset}}), 6 * 11.5, 6 * 12.8},
		{"no windows", &schedule.Schedule{Location: paris}, 0, 0},
	} {
		got := PicturesPerDay(tc.s, from)
		if got < tc.min-1e-9 || got > tc.max+1e-9 {
			t.Errorf("%s: %.2f pictures a day, want %.2f to %.2f", tc.name, got, tc.min, tc.max)
		}
	}
	e := New(0, 6_000_000, "x", 1e9)
	if !math.IsInf(e.Days, 1) || !strings.Contains(e.String(), "no end") {
		t.Errorf("no pictures: %+v %q", e, e)
	}
}

func TestTypical(t *testing.T) {
	for _, tc := range []struct {
		model string
		want  string
		known bool
	}{
		{"Canon EOS 600D", "Canon EOS 600D", true},
		{"canon eos rebel t3i", "Canon EOS 600D", true},
		{"600D", "Canon EOS 600D", true},
		{"Canon EOS Kiss X6i", "Canon EOS 650D", true},
		{"Canon EOS Rebel T3", "Canon EOS 1100D", true},
		{"Canon EOS 6000D", DefaultSizes.Model, false},
		{"D7000", DefaultSizes.Model, false},
		{"", DefaultSizes.Model, false},
	} {
		s, known := Typical(tc.model)
		if s.Model != tc.want || known != tc.known {
			t.Errorf("Typical(%q) = %q, %v; want %q, %v", tc.model, s.Model, known, tc.want, tc.known)
		}
	}
	s, _ := Typical("Canon EOS 1100D")
	if s.PerCapture(config.KeepRAW) != 16_700_000 || s.PerCapture(config.KeepBoth) != 21_100_000 || s.PerCapture(config.KeepJPG) != 4_400_000 {
		t.Errorf("1100D sizes %+v", s)
	}
}

func TestUsableAndMedian(t *testing.T) {
	if got := Usable(100, 1000, 0.85); got != 750 {
		t.Errorf("Usable = %d, want 750", got)
	}
	if got := Usable(900, 1000, 0.85); got != 0 {
		t.Errorf("Usable above the mark = %d, want 0", got)
	}
	if Median(nil) != 0 || Median([]int64{5}) != 5 || Median([]int64{9, 1, 5, 7}) != 5 {
		t.Error("Median")
	}
	if FormatBytes(999) != "999 B" || FormatBytes(6_000_000) != "6.0 MB" || FormatBytes(320e9) != "320.0 GB" {
		t.Errorf("FormatBytes: %s %s %s", FormatBytes(999), FormatBytes(6_000_000), FormatBytes(320e9))
	}
}

// A grid of a second is counted on a few days, not on 28: its count is
// exact anyway (the minimum gap of 3 s leaves one slot in three), and the
// work bounded.
func TestPicturesPerDayOfADenseSchedule(t *testing.T) {
	if got := PicturesPerDay(every(time.Second, time.UTC), time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)); got != 28800 {
		t.Errorf("a slot a second, 3 s apart at least: %v a day, want 28800", got)
	}
}

// Catching up after an outage: the backlog goes out on what the link has
// to spare beyond the schedule's own rate.
func TestCatchUp(t *testing.T) {
	p := Policy{WireBytesPerDay: 50_000 * 86400}
	if d, ok := p.CatchUp(24*time.Hour, 125_000); !ok || d != 16*time.Hour {
		t.Errorf("50 kB/s on a 125 kB/s link after 24 h: %v, %v; want 16h", d, ok)
	}
	if _, ok := p.CatchUp(time.Hour, 50_000); ok {
		t.Error("a link no faster than the schedule catches up")
	}
	if d, ok := (Policy{}).CatchUp(time.Hour, 1000); !ok || d != 0 {
		t.Errorf("nothing sent: %v, %v", d, ok)
	}
}

// With a measured size, the JPEG's share of a RAW+JPG capture follows the
// camera's typical proportions.
func TestSiteMeasured(t *testing.T) {
	s := Site{PicturesPerDay: 100, Sizes: Sizes{"x", 6_000_000, 24_000_000}, Keep: config.KeepBoth,
		Measured: 15_000_000 + MetadataBytes, MeasuredSource: "measured"}
	if b, src := s.Capture(); b != 15_000_000+MetadataBytes || src != "measured" {
		t.Errorf("Capture = %d, %q", b, src)
	}
	ps := s.Policies(0)
	if ps[0].BytesPerDay != 1_500_000_000 || ps[1].BytesPerDay != 300_000_000 {
		t.Errorf("originals %v, jpg %v a day; want 1.5 GB and a fifth of it", ps[0].BytesPerDay, ps[1].BytesPerDay)
	}
	if got := s.Policies(time.Hour)[2].BytesPerDay; got != 24*3_000_000 {
		t.Errorf("a live-cam page once an hour: %v a day, want 24 JPEGs", got)
	}
}
