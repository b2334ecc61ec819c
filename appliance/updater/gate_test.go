package updater

import (
	"strings"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/appliance/config"
	"github.com/lapsebox/lapsebox/appliance/schedule"
)

func window(start, end schedule.Edge) config.Update {
	return config.Update{Channel: "stable", WindowStart: start, WindowEnd: end, PollEvery: time.Hour}
}

func TestGateCheck(t *testing.T) {
	day := func(hh, mm int) time.Time { return time.Date(2026, 6, 1, hh, mm, 0, 0, time.UTC) }
	night := Gate{Update: window(schedule.At(23, 0), schedule.At(5, 0)), HighWater: 85}
	for _, tt := range []struct {
		name string
		c    Conditions
		want string // substring; "" means go
	}{
		{"inside, store low, no capture", Conditions{Now: day(2, 0), Used: 50, Total: 100}, ""},
		{"before the window", Conditions{Now: day(22, 59), Used: 50, Total: 100}, "outside the maintenance window 23:00–05:00"},
		{"the end is outside", Conditions{Now: day(5, 0)}, "outside the maintenance window"},
		{"across midnight", Conditions{Now: day(23, 30), Used: 10, Total: 100}, ""},
		{"store above high water", Conditions{Now: day(1, 0), Used: 86, Total: 100}, "86 % full, above its high-water mark of 85 %"},
		{"staging would cross it", Conditions{Now: day(1, 0), Used: 80 << 20, Total: 100 << 20, Need: 10 << 20}, "staging the release (10 MiB) would take the store to 90 %"},
		{"unknown store", Conditions{Now: day(1, 0)}, ""},
		{"capturing", Conditions{Now: day(1, 0), Capturing: true}, "a capture is under way"},
		{"capture in a minute", Conditions{Now: day(1, 0), NextSlot: day(1, 1)}, "a capture is due at 01:01:00"},
		{"capture in five minutes", Conditions{Now: day(1, 0), NextSlot: day(1, 5)}, ""},
		{"slot in the past", Conditions{Now: day(1, 0), NextSlot: day(0, 59)}, ""},
		// A picture every 20 s: never 2 minutes free; right after a
		// capture will do, not just before one.
		{"dense schedule, just after a capture", Conditions{Now: day(1, 0), NextSlot: day(1, 0).Add(15 * time.Second), Gap: 20 * time.Second}, ""},
		{"dense schedule, just before a capture", Conditions{Now: day(1, 0), NextSlot: day(1, 0).Add(5 * time.Second), Gap: 20 * time.Second}, "a capture is due at 01:00:05"},
		{"sparse schedule, two minutes free", Conditions{Now: day(1, 0), NextSlot: day(1, 0).Add(90 * time.Second), Gap: 10 * time.Minute}, "a capture is due"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := night.Check(tt.c)
			if tt.want == "" && got != "" || tt.want != "" && !strings.Contains(got, tt.want) {
				t.Errorf("Check(%+v) = %q, want %q", tt.c, got, tt.want)
			}
		})
	}
	always := Gate{Update: window(schedule.At(0, 0), schedule.At(0, 0)), HighWater: 85}
	if got := always.Check(Conditions{Now: day(13, 0)}); got != "" {
		t.Errorf("a window with equal ends is any time: %q", got)
	}
}

func TestNextLook(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	at := func(mo, d, hh, mm int) time.Time { return time.Date(2026, time.Month(mo), d, hh, mm, 0, 0, paris) }
	u := window(schedule.At(2, 0), schedule.At(5, 0))
	maxJitter := func(max time.Duration) time.Duration { return max }
	for _, tt := range []struct {
		name      string
		now, last time.Time
		jitter    func(time.Duration) time.Duration
		want      time.Time
	}{
		{"first look inside", at(6, 1, 2, 30), time.Time{}, nil, at(6, 1, 2, 30)},
		{"an hour after the last", at(6, 1, 2, 40), at(6, 1, 2, 30), nil, at(6, 1, 3, 30)},
		{"jitter up to a quarter", at(6, 1, 2, 40), at(6, 1, 2, 30), maxJitter, at(6, 1, 3, 45)},
		{"first look: a minute at most", at(6, 1, 2, 40), time.Time{}, maxJitter, at(6, 1, 2, 41)},
		{"past the end: the next night", at(6, 1, 4, 30), at(6, 1, 4, 30), nil, at(6, 2, 2, 0)},
		{"afternoon: tonight", at(6, 1, 15, 0), time.Time{}, nil, at(6, 2, 2, 0)},
		{"opening jitter within the window", at(6, 1, 15, 0), time.Time{}, maxJitter, at(6, 2, 2, 15)},
		// 29 March 2026: clocks go from 02:00 to 03:00 in Paris; the
		// window opens at 02:00 wall time, which is 03:00 that day.
		{"spring forward", at(3, 28, 12, 0), time.Time{}, nil, time.Date(2026, 3, 29, 3, 0, 0, 0, paris)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			j := tt.jitter
			if j == nil {
				j = func(time.Duration) time.Duration { return 0 }
			}
			if got := NextLook(u, tt.now, tt.last, j); !got.Equal(tt.want) {
				t.Errorf("NextLook(%v, last %v) = %v, want %v", tt.now, tt.last, got, tt.want)
			}
		})
	}
}
