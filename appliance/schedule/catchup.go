package schedule

import "time"

// MaxMissed bounds Catchup.Missed: after a long outage the first MaxMissed
// missed slots are listed and Truncated is set.
const MaxMissed = 1000

// Catchup is what a capture loop should do after waking up, possibly late.
type Catchup struct {
	// Missed are the slots after the last one taken that are too old to
	// take now, oldest first: record them (status, alerts), do not take
	// them. At most MaxMissed.
	Missed []time.Time
	// Truncated is set when more than MaxMissed slots were missed.
	Truncated bool
	// Due is the slot to take now (zero if none): the latest slot within
	// the grace period before now.
	Due time.Time
	// Next is the first slot after now (and after Due, by MinGap); NextOK
	// is false if the schedule has none.
	Next   time.Time
	NextOK bool
	// ClockWentBack is set when now is before last: the clock was stepped
	// back (or last came from a wrong clock). Nothing is reported missed,
	// and the schedule resumes from now, so slots before last may be taken
	// again; the store keeps both files (it never overwrites).
	ClockWentBack bool
	// Through is what to pass as last to the next Catchup: Due, else the
	// latest missed slot, else last; now if the clock went back or the
	// missed list was truncated. Every slot
	// up to it has been either taken or reported missed, exactly once.
	Through time.Time
}

// Catchup says, given last (the Through of the previous Catchup; zero at
// start-up) and now, which slots were missed, whether one is due now, and
// which comes next. A slot
// is due if it lies within grace before now and is the latest such slot; a
// slot older than that is missed and is never made up later: a camera that
// comes back after an hour takes one picture at the next slot, not six in a
// burst. When the clock jumps forward, the slots jumped over are missed;
// when it jumps back, see ClockWentBack.
func (s *Schedule) Catchup(last, now time.Time, grace time.Duration) Catchup {
	var c Catchup
	from := last
	if last.IsZero() || now.Before(last) {
		c.ClockWentBack = !last.IsZero()
		// Nothing before now-grace counts as missed.
		from = now.Add(-grace - time.Nanosecond)
	}
	guard := from
	if !last.IsZero() && !c.ClockWentBack {
		guard = last.Add(s.MinGap)
	}
	t, ok := s.next(from, guard)
	for ok && !t.After(now) {
		if t.Before(now.Add(-grace)) {
			if len(c.Missed) == MaxMissed {
				c.Truncated = true
				// Skip the rest of the outage in one step.
				t, ok = s.next(now.Add(-grace-time.Nanosecond), t.Add(s.MinGap))
				continue
			}
			c.Missed = append(c.Missed, t)
		} else {
			if !c.Due.IsZero() {
				if len(c.Missed) < MaxMissed {
					c.Missed = append(c.Missed, c.Due)
				} else {
					c.Truncated = true
				}
			}
			c.Due = t
		}
		t, ok = s.Next(t)
	}
	c.Next, c.NextOK = t, ok
	switch {
	case !c.Due.IsZero():
		c.Through = c.Due
	case c.Truncated || c.ClockWentBack:
		c.Through = now
	case len(c.Missed) > 0:
		c.Through = c.Missed[len(c.Missed)-1]
		c.Through = now
	default:
		c.Through = last
	}
	return c
}
