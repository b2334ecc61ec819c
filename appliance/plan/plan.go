// Package plan estimates what a site costs in storage: how many pictures
// its schedule takes a day, how large each is, and so how many days of
// pictures fit on a disk before retention has to delete any.
//
// Pictures per day are counted, not derived from an interval: weekly
// windows and sunrise-to-sunset windows make the count vary by weekday
// and season, so PicturesPerDay counts the slots of four weeks spread
// over a year. Bytes per picture are what the camera really delivers,
// the median of recent captures, once there are any; before that, the
// typical size of the camera's model (Typical). The same model serves
// camerad's status page and planning a site on a laptop.
package plan

import (
	"fmt"
	"math"
)

// Estimate is how long a disk lasts at a schedule's rate, and what it
// assumed.
type Estimate struct {
	// PicturesPerDay is the schedule's average number of captures a day.
	PicturesPerDay float64
	// BytesPerPicture is what one capture takes on the disk, the store's
	// own files (sidecar, outbox entries) included.
	BytesPerPicture int64
	// SizeSource says where BytesPerPicture comes from: "median of the
	// last 20 pictures", "typical for a Canon EOS 600D (JPG)".
	SizeSource string
	// UsableBytes is the space pictures may fill before retention deletes
	// any: free space below the high-water mark.
	UsableBytes uint64
	// Days is how many days of pictures fit in UsableBytes; +Inf when the
	// schedule takes none.
	Days float64
}

// New estimates how many days of captures of bytesPerPicture, at
// picturesPerDay, fit in usable bytes.
func New(picturesPerDay float64, bytesPerPicture int64, sizeSource string, usable uint64) Estimate {
	e := Estimate{PicturesPerDay: picturesPerDay, BytesPerPicture: bytesPerPicture, SizeSource: sizeSource, UsableBytes: usable}
	if perDay := e.BytesPerDay(); perDay > 0 {
		e.Days = float64(usable) / perDay
	} else {
		e.Days = math.Inf(1)
	}
	return e
}

// BytesPerDay is what the schedule adds to the disk each day.
func (e Estimate) BytesPerDay() float64 {
	return e.PicturesPerDay * float64(max(e.BytesPerPicture, 0))
}

// BytesPerSecond is the average upload rate a target needs to keep up
// with the schedule when it is sent every picture.
func (e Estimate) BytesPerSecond() float64 { return e.BytesPerDay() / 86400 }

// String says it as a person would: "≈ 8 days (288 pictures a day of
// 300.0 KB, median of the last 20 pictures, in 704.0 MB)".
func (e Estimate) String() string {
	days := "no end: the schedule takes no pictures"
	if !math.IsInf(e.Days, 1) {
		days = fmt.Sprintf("≈ %s days", roundDays(e.Days))
	}
	return fmt.Sprintf("%s (%s pictures a day of %s, %s, in %s)", days,
		roundDays(e.PicturesPerDay), FormatBytes(e.BytesPerPicture), e.SizeSource, FormatBytes(int64(min(e.UsableBytes, math.MaxInt64))))
}

// roundDays keeps two significant figures below 10, whole numbers above.
func roundDays(d float64) string {
	if d < 10 {
		return fmt.Sprintf("%.1f", d)
	}
	return fmt.Sprintf("%.0f", d)
}

// Usable is the space pictures may still fill on a file system with used
// of total bytes in use before its use crosses highWater (a fraction).
func Usable(used, total uint64, highWater float64) uint64 {
	mark := uint64(highWater * float64(total))
	if used >= mark {
		return 0
	}
	return mark - used
}

// FormatBytes formats n in decimal units, as camera makers and disk
// makers count: "6.0 MB", "320.0 GB".
func FormatBytes(n int64) string {
	if n < 1000 {
		return fmt.Sprintf("%d B", max(n, 0))
	}
	v, unit := float64(n), 0
	for v >= 1000 && unit < 5 {
		v /= 1000
		unit++
	}
	return fmt.Sprintf("%.1f %cB", v, " kMGTP"[unit])
}
