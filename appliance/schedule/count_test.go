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

// BenchmarkCountYear counts the slots of BenchmarkNextYear's schedule
// over a year; ns/slot compares with that benchmark's.
func BenchmarkCountYear(b *testing.B) {
	paris := mustLoad(b, "Europe/Paris")
	s := &Schedule{Location: paris, Latitude: 48.86, Longitude: 2.35, MinGap: 3 * time.Second, Windows: []Window{
		{Days: Days(time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday), Start: At(7, 0), End: At(19, 0), Interval: 10 * time.Minute},
		{Start: Edge{Sunrise, -30 * time.Minute}, End: Edge{Sunset, 45 * time.Minute}, Interval: 5 * time.Minute},
		{Days: Days(time.Saturday, time.Sunday), Start: At(22, 0), End: At(4, 0), Interval: 15 * time.Minute},
	}}
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, paris)
	to := from.AddDate(1, 0, 0)
	n := 0
	for b.Loop() {
		n = s.Count(from, to)
	}
	b.ReportMetric(float64(n), "slots/op")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*max(n, 1)), "ns/slot")
}
