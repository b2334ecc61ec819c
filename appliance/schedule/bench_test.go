package schedule

import (
	"testing"
	"time"
)

// buildingSiteYear is a building-site schedule (weekday hours every 10
// minutes, daylight every 5 minutes from sunrise-30m to sunset+45m, a
// weekend night window) and a year to walk it.
func buildingSiteYear(tb testing.TB) (s *Schedule, from, to time.Time) {
	paris := mustLoad(tb, "Europe/Paris")
	s = &Schedule{Location: paris, Latitude: 48.86, Longitude: 2.35, MinGap: 3 * time.Second, Windows: []Window{
		{Days: Days(time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday), Start: At(7, 0), End: At(19, 0), Interval: 10 * time.Minute},
		{Start: Edge{Sunrise, -30 * time.Minute}, End: Edge{Sunset, 45 * time.Minute}, Interval: 5 * time.Minute},
		{Days: Days(time.Saturday, time.Sunday), Start: At(22, 0), End: At(4, 0), Interval: 15 * time.Minute},
	}}
	from = time.Date(2026, 1, 1, 0, 0, 0, 0, paris)
	return s, from, from.AddDate(1, 0, 0)
}

// BenchmarkNextYear walks a year of slots of the building-site schedule
// with Next; one op is one year.
func BenchmarkNextYear(b *testing.B) {
	s, from, to := buildingSiteYear(b)
	n := 0
	for b.Loop() {
		n = 0
		for t, ok := s.Next(from); ok && t.Before(to); t, ok = s.Next(t) {
			n++
		}
	}
	b.ReportMetric(float64(n), "slots/op")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*max(n, 1)), "ns/slot")
}

// BenchmarkCountYear counts the same year's slots with Count; its ns/slot
// compares with BenchmarkNextYear's in the same run.
func BenchmarkCountYear(b *testing.B) {
	s, from, to := buildingSiteYear(b)
	n := 0
	for b.Loop() {
		n = s.Count(from, to)
	}
	b.ReportMetric(float64(n), "slots/op")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*max(n, 1)), "ns/slot")
}
