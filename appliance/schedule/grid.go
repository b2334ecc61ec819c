package schedule

import "time"

// This file turns local wall-clock times into instants and finds the
// instants on an interval grid, across daylight-saving changes.
//
// Within one zone period (a span of instants with one UTC offset) the wall
// clock advances with real time, so the grid points of one local date inside
// one period form an arithmetic progression of instants. gridNext walks the
// periods and local dates from x onwards and returns the first such point.

// date is a civil (local) date.
type date struct {
	y int
	m time.Month
	d int
}

func dateOf(t time.Time) date {
	y, m, d := t.Date()
	return date{y, m, d}
}

// add returns the date n days after c.
func (c date) add(n int) date {
	return dateOf(time.Date(c.y, c.m, c.d+n, 12, 0, 0, 0, time.UTC))
}

func (c date) weekday() time.Weekday {
	return time.Date(c.y, c.m, c.d, 12, 0, 0, 0, time.UTC).Weekday()
}

// wall returns the wall-clock reading c+off as seconds since the Unix epoch
// read as if it were UTC.
func (c date) wall(off time.Duration) int64 {
	return time.Date(c.y, c.m, c.d, 0, 0, 0, 0, time.UTC).Add(off).Unix()
}

// resolve returns the first and the last instant at which the wall clock in
// loc reads w (seconds, see date.wall). If the clock never reads w because
// it jumps over it (spring forward), both are the instant of the jump. If w
// is repeated (fall back), first and last differ by the repeated amount.
func resolve(loc *time.Location, w int64) (first, last time.Time) {
	// Every instant reading w lies within 15h of w read as UTC (UTC offsets
	// stay within -12h..+14h); visit each zone period overlapping that span.
	lo, hi := time.Unix(w-15*3600, 0), time.Unix(w+15*3600, 0)
	var found []time.Time
	var gap time.Time
	prevOff := int64(0)
	for p, i := lo, 0; i < 8; i++ { // i bounds the loop whatever the tzdata says
		_, off := p.In(loc).Zone()
		start, end := p.In(loc).ZoneBounds()
		if c := time.Unix(w-int64(off), 0); (start.IsZero() || !c.Before(start)) && (end.IsZero() || c.Before(end)) {
			found = append(found, c)
		}
		if i > 0 && gap.IsZero() && start.Unix()+prevOff <= w && w < start.Unix()+int64(off) {
			gap = start // the clock jumps from before w to after w here
		}
		if end.IsZero() || end.After(hi) {
			break
		}
		prevOff = int64(off)
		p = end
	}
	switch len(found) {
	case 0:
		if gap.IsZero() { // cannot happen with sane tzdata; keep a total function
			gap = time.Unix(w, 0)
		}
		return gap, gap
	case 1:
		return found[0], found[0]
	}
	return found[0], found[len(found)-1]
}

// gridNext returns the first instant t with x <= t < end whose local wall
// time (in loc) is a multiple of iv after the local midnight of its own date.
func gridNext(loc *time.Location, x, end time.Time, iv time.Duration) (time.Time, bool) {
	cur := x
	for i := 0; cur.Before(end) && i < 1000; i++ {
		lc := cur.In(loc)
		_, off := lc.Zone()
		_, periodEnd := lc.ZoneBounds()
		midnight := dateOf(lc).wall(0)
		segEnd := end
		if !periodEnd.IsZero() && periodEnd.Before(segEnd) {
			segEnd = periodEnd
		}
		if dayEnd := time.Unix(midnight+86400-int64(off), 0); dayEnd.Before(segEnd) {
			segEnd = dayEnd
		}
		// Nanoseconds since local midnight on the wall clock; < 24h except
		// after a fall-back across midnight, where it is still small.
		w := time.Duration(cur.Unix()+int64(off)-midnight)*time.Second + time.Duration(cur.Nanosecond())
		k := (w + iv - 1) / iv
		if w < 0 {
			k = 0
		}
		if t := cur.Add(k*iv - w); t.Before(segEnd) {
			return t, true
		}
		cur = segEnd
	}
	return time.Time{}, false
}
