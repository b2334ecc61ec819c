package plan

import (
	"time"

	"github.com/lapsebox/lapsebox/appliance/schedule"
)

const (
	// sampleWeeks are the weeks PicturesPerDay counts, a quarter of a year
	// apart: every weekday, and the sun at four seasons.
	sampleWeeks = 4
	// maxCounted bounds the slots PicturesPerDay counts: a schedule of a
	// picture every few seconds is counted on fewer days, not for minutes
	// on a Pi.
	maxCounted = 50_000
)

// PicturesPerDay is the average number of captures a day that s takes,
// counted over four weeks a quarter of a year apart from the local day of
// from: weekly windows count on the days they open, sunrise and sunset
// windows with the length of the days through the year. Days are counted
// a day of each week in turn, and a very dense schedule (more than
// maxCounted slots in all) is averaged over the days counted so far.
func PicturesPerDay(s *schedule.Schedule, from time.Time) float64 {
	if s.Location == nil {
		return 0
	}
	day := from.In(s.Location)
	start := time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, s.Location)
	n, days := 0, 0
	for d := 0; d < 7 && n < maxCounted; d++ {
		for w := range sampleWeeks {
			t := start.AddDate(0, 0, 91*w+d)
			n += s.Count(t, t.AddDate(0, 0, 1))
			days++
		}
	}
	return float64(n) / float64(days)
}
