package cellular

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/lapsebox/lapsebox/internal/durable"
)

// Alerts sends alert messages to the configured numbers within a budget:
// at most PerDay messages a day, all numbers together, and each kind of
// alert at most once per its repeat interval. What was sent is kept on
// /perm, so a modemd that restarts in a loop cannot run up a bill. An
// alert raised while no modem can send waits (the newest of each kind).
type Alerts struct {
	Path    string // on /perm; "" keeps the log in memory
	Numbers []string
	PerDay  int
	Send    func(ctx context.Context, number, text string) error
	Logf    func(format string, args ...any)

	mu      sync.Mutex
	log     alertLog
	loaded  bool
	pending map[string]pendingAlert
	held    int
}

type alertLog struct {
	Sent []sentAlert `json:"sent"`
}

type sentAlert struct {
	Kind string    `json:"kind"`
	Time time.Time `json:"time"`
	To   string    `json:"to"`
}

type pendingAlert struct {
	text        string
	raised      time.Time
	repeatAfter time.Duration
}

// Raise queues an alert of kind unless one of that kind went out within
// repeatAfter.
func (a *Alerts) Raise(kind, text string, repeatAfter time.Duration, now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.load()
	if last, ok := a.lastSent(kind); ok && now.Sub(last) < repeatAfter {
		return
	}
	if a.pending == nil {
		a.pending = map[string]pendingAlert{}
	}
	a.pending[kind] = pendingAlert{text: text, raised: now, repeatAfter: repeatAfter}
}

// Flush sends what is pending, within the budget. Alerts older than a day
// are dropped: they describe a past state.
func (a *Alerts) Flush(ctx context.Context, now time.Time) (sent int, lastText string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.load()
	for kind, p := range a.pending {
		if now.Sub(p.raised) > 24*time.Hour || len(a.Numbers) == 0 {
			delete(a.pending, kind)
			continue
		}
		if a.sentToday(now)+len(a.Numbers) > a.PerDay {
			a.held++
			a.Logf("alert held back (%d a day at most): %s", a.PerDay, p.text)
			delete(a.pending, kind)
			continue
		}
		ok := false
		for _, n := range a.Numbers {
			if err := a.Send(ctx, n, p.text); err != nil {
				a.Logf("alert to %s: %v (kept to send later)", n, err)
				continue
			}
			ok = true
			sent++
			a.log.Sent = append(a.log.Sent, sentAlert{Kind: kind, Time: now, To: n})
		}
		if ok {
			delete(a.pending, kind)
			lastText = p.text
			a.Logf("alert sent: %s", p.text)
		}
	}
	if sent > 0 {
		a.prune(now)
		if err := a.save(); err != nil {
			a.Logf("%v", err)
		}
	}
	return sent, lastText
}

// Held counts alerts dropped for the daily budget.
func (a *Alerts) Held() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.held
}

func (a *Alerts) lastSent(kind string) (time.Time, bool) {
	var last time.Time
	for _, s := range a.log.Sent {
		if s.Kind == kind && s.Time.After(last) {
			last = s.Time
		}
	}
	return last, !last.IsZero()
}

func (a *Alerts) sentToday(now time.Time) int {
	n := 0
	for _, s := range a.log.Sent {
		if now.Sub(s.Time) < 24*time.Hour {
			n++
		}
	}
	return n
}

// prune keeps a week of the log: enough for every repeat interval.
func (a *Alerts) prune(now time.Time) {
	keep := a.log.Sent[:0]
	for _, s := range a.log.Sent {
		if now.Sub(s.Time) < 7*24*time.Hour {
			keep = append(keep, s)
		}
	}
	a.log.Sent = keep
}

func (a *Alerts) load() {
	if a.loaded || a.Path == "" {
		a.loaded = true
		return
	}
	a.loaded = true
	if _, err := durable.ReadJSON(a.Path, &a.log); err != nil {
		a.Logf("alert log: %v: counting from zero", err)
		a.log = alertLog{}
	}
}

func (a *Alerts) save() error {
	if a.Path == "" {
		return nil
	}
	if err := durable.WriteJSON(a.Path, a.log); err != nil {
		return fmt.Errorf("alert log: %w", err)
	}
	return nil
}
