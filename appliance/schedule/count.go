package schedule

import "time"

// Count returns the number of slots t with from <= t < to, as Slots would
// list them, without listing them: planning counts weeks of slots, and the
// sun of each day is computed once rather than for every slot.
func (s *Schedule) Count(from, to time.Time) int {
	var sc sunCache
	n := 0
	t, ok := s.nextCached(from.Add(-time.Nanosecond), from, &sc)
	for ok && t.Before(to) {
		n++
		t, ok = s.nextCached(t, t.Add(s.MinGap), &sc)
	}
	return n
}
