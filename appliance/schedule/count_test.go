package schedule

import (
	"testing"
	"time"
)

// Count agrees with the brute-force simulation, over whole months and
// over ranges that start and end inside a day.
func TestCountMatchesSimulation(t *testing.T) {
	for _, tc := range sites(t) {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.site.schedule(t)
			for _, r := range []struct{ from, to time.Time }{
				{tc.from, tc.to},
				{tc.from.Add(7*time.Hour + 3*time.Minute), tc.from.Add(9*24*time.Hour + 13*time.Hour)},
				{tc.from.Add(time.Hour), tc.from.Add(time.Hour)},
			} {
				want := len(tc.site.slots(r.from, r.to))
				if got := s.Count(r.from, r.to); got != want {
					t.Errorf("Count(%v, %v) = %d, want %d", r.from, r.to, got, want)
				}
			}
		})
	}
}
