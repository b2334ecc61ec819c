package plan

import (
	"time"

	"github.com/lapsebox/lapsebox/appliance/schedule"
)

// sampleWeeks are the weeks PicturesPerDay counts, a quarter of a year
// apart: every weekday once each, and the sun at four seasons.
const sampleWeeks = 4

// PicturesPerDay is the average number of captures a day that s takes,
// counted over four weeks a quarter of a year apart from the local day of
// from: weekly windows count on the days they open, sunrise and sunset
// windows with the length of the days through the year.
func PicturesPerDay(s *schedule.Schedule, from time.Time) float64 {
	if s.Location == nil {
		return 0
	}
	day := from.In(s.Location)
	start := time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, s.Location)
	n := 0
	for k := range sampleWeeks {
		w := start.AddDate(0, 0, 91*k)
		n += s.Count(w, w.AddDate(0, 0, 7))
	}
	return float64(n) / (7 * sampleWeeks)
}
