package manager

import (
	"time"
)

// Step is a rung of the escalation ladder climbed while the link is down.
type Step int

// The rungs, mildest first.
const (
	// Reattach detaches from the packet network and attaches again, and
	// restarts the data interface's DHCP.
	Reattach Step = iota
	// RadioCycle switches the radio off and on (flight mode).
	RadioCycle
	// Reset restarts the modem (AT+CFUN=1,1): its ports vanish and come
	// back, and it is found again.
	Reset
	// PowerCycle cuts the modem's power through its relay.
	PowerCycle
	numSteps
)

func (s Step) String() string {
	return [...]string{"re-attach", "radio off/on", "modem reset", "power cycle"}[s]
}

// Policy tunes the ladder.
type Policy struct {
	// FirstAfter is how long the link may be down before the first step:
	// registration after a modem's boot takes a minute or two (default
	// 3 minutes).
	FirstAfter time.Duration
	// StepEvery is the time each step is given to bring the link back
	// before the next (default 3 minutes); it doubles after every full
	// climb of the ladder, up to MaxInterval (default an hour).
	StepEvery, MaxInterval time.Duration
	// MaxPowerCycles caps power cycles per 24 hours (default 3): a modem
	// that three cycles do not cure is not helped by thirty.
	MaxPowerCycles int
	// RadioOff is how long the radio stays off (default 5 s), PowerOff
	// how long the relay cuts the power (default 10 s: capacitors drain).
	RadioOff, PowerOff time.Duration
	// BootTime is how long a modem whose port just appeared may take to
	// answer AT (default a minute: Quectel sends RDY 12 s or more after
	// power-on).
	BootTime time.Duration
}

func (p *Policy) defaults() {
	if p.FirstAfter <= 0 {
		p.FirstAfter = 3 * time.Minute
	}
	if p.StepEvery <= 0 {
		p.StepEvery = 3 * time.Minute
	}
	if p.MaxInterval <= 0 {
		p.MaxInterval = time.Hour
	}
	if p.MaxPowerCycles <= 0 {
		p.MaxPowerCycles = 3
	}
	if p.RadioOff <= 0 {
		p.RadioOff = 5 * time.Second
	}
	if p.PowerOff <= 0 {
		p.PowerOff = 10 * time.Second
	}
	if p.BootTime <= 0 {
		p.BootTime = time.Minute
	}
}

// ladder decides which step to take when. It never reboots the
// appliance: a link that nothing brings back is retried ever more slowly,
// and the status says so. Not safe for concurrent use.
type ladder struct {
	p        Policy
	hasRelay bool
	next     Step
	round    int
	last     time.Time   // when the last step was taken; zero: none since the link went down
	cycles   []time.Time // power cycles in the last 24 hours
}

func newLadder(p Policy, hasRelay bool, cycles []time.Time) *ladder {
	p.defaults()
	return &ladder{p: p, hasRelay: hasRelay, cycles: cycles}
}

// interval is the wait between steps in the current round.
func (l *ladder) interval() time.Duration {
	d := l.p.StepEvery
	for i := 0; i < l.round && d < l.p.MaxInterval; i++ {
		d *= 2
	}
	return min(d, l.p.MaxInterval)
}

// dueAt returns when the next step is due for a link down since
// downSince.
func (l *ladder) dueAt(downSince time.Time) time.Time {
	if l.last.IsZero() {
		return downSince.Add(l.p.FirstAfter)
	}
	return l.last.Add(l.interval())
}

// step returns the step to take at now, and advances. unresponsive says
// the AT port stopped answering: the steps that need it are skipped.
func (l *ladder) step(now time.Time, unresponsive bool) Step {
	l.prune(now)
	s := l.next
	if unresponsive && s < Reset {
		s = Reset
	}
	if s == PowerCycle && (!l.hasRelay || len(l.cycles) >= l.p.MaxPowerCycles) {
		s = Reattach // nothing stronger left this round
		if unresponsive {
			s = Reset
		}
		l.round++
	}
	l.last = now
	l.next = s + 1
	if l.next == numSteps {
		l.next = Reattach
		l.round++
	}
	if s == PowerCycle {
		l.cycles = append(l.cycles, now)
	}
	return s
}

// recovered resets the ladder once the link is back.
func (l *ladder) recovered() {
	l.next, l.round, l.last = Reattach, 0, time.Time{}
}

func (l *ladder) prune(now time.Time) {
	keep := l.cycles[:0]
	for _, t := range l.cycles {
		if now.Sub(t) < 24*time.Hour {
			keep = append(keep, t)
		}
	}
	l.cycles = keep
}

// powerCycles returns the power cycles of the last 24 hours, to keep on
// /perm: a restarted modemd must not cycle the power more than allowed.
func (l *ladder) powerCycles() []time.Time { return append([]time.Time(nil), l.cycles...) }
