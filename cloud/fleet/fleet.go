// Package fleet is cloudd's supervision of the devices: it records each
// device's heartbeats and last picture in the fleet state
// (cloud/state), turns them into alerts with grace periods and
// de-duplication, queues a notification per alert fired and resolved for
// every channel (webhook, e-mail) and sends them, retrying, one cloudd at
// a time; and it serves what people and monitors read: the fleet page
// behind an operator login, a JSON API for the Nagios check, and
// Prometheus metrics.
//
// Several cloudd may share one PostgreSQL state: a device's heartbeat and
// its evaluation happen in one transaction holding the device's row
// lock, so two servers evaluating the same device never both fire an
// alert, and each notification is claimed under a lease by one sender.
package fleet

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lapsebox/lapsebox/appliance/heartbeat"
	"github.com/lapsebox/lapsebox/cloud/notify"
	"github.com/lapsebox/lapsebox/cloud/state"
)

// Config configures a Service.
type Config struct {
	DB    *state.DB
	Rules Rules
	// Channels deliver notifications, by name ("webhook", "email").
	Channels map[string]notify.Channel
	// Location is where a day begins and ends, for "missed today"
	// (default time.Local).
	Location *time.Location
	// PageURL is the fleet page's public URL, put into notifications.
	PageURL string
	// AnalyzeEvery is the least time between two analyses of a device's
	// pictures (brightness, thumbnail): a decode of an 18 MP JPEG costs
	// about 0.4 s of CPU (default 10 minutes).
	AnalyzeEvery time.Duration
	// HeartbeatMinGap refuses (429) a device's heartbeats closer than
	// this (default 10 s).
	HeartbeatMinGap time.Duration
	// Now returns the time (default time.Now); tests pass a fake clock.
	Now func() time.Time
	// Logger receives the logs (nil: slog.Default()).
	Logger *slog.Logger
}

// Service supervises the fleet. Its methods are safe for concurrent use.
type Service struct {
	cfg   Config
	db    *state.DB
	rules Rules
	log   *slog.Logger
	// owner identifies this process's notification leases.
	owner string

	heartbeats, refused atomic.Int64

	mu       sync.Mutex
	lastBeat map[string]time.Time // by device, for HeartbeatMinGap

	analysis analysisQueue
}

// New returns a Service for cfg.
func New(cfg Config) *Service {
	if cfg.Location == nil {
		cfg.Location = time.Local
	}
	if cfg.AnalyzeEvery <= 0 {
		cfg.AnalyzeEvery = 10 * time.Minute
	}
	if cfg.HeartbeatMinGap <= 0 {
		cfg.HeartbeatMinGap = 10 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Service{cfg: cfg, db: cfg.DB, rules: cfg.Rules.WithDefaults(), log: cfg.Logger,
		owner: rand.Text(), lastBeat: map[string]time.Time{}, analysis: newAnalysisQueue()}
}

// Rules returns the rules in force, defaults filled in.
func (s *Service) Rules() Rules { return s.rules }

// Record stores device's heartbeat hb, received at received, and
// evaluates the device's alerts.
func (s *Service) Record(ctx context.Context, device string, hb *heartbeat.Heartbeat, received time.Time) error {
	doc, err := json.Marshal(hb)
	if err != nil {
		return err
	}
	return s.db.Update(ctx, device, func(tx *state.Tx) error {
		st := tx.Status()
		first := st.Heartbeats == 0
		st.LastSeen, st.Heartbeat = received, doc
		st.Heartbeats++
		day := received.In(s.cfg.Location).Format(time.DateOnly)
		if st.Day != day {
			st.Day, st.MissedToday, st.CapturesToday = day, 0, 0
		}
		var missed, captures int
		if c := hb.Camera; c != nil {
			// The counters are camerad's since it started: a smaller one
			// means it restarted. The first heartbeat's counts may be
			// from any day: not counted.
			if !first {
				missed, captures = increase(st.MissedCounter, c.Missed), increase(st.CaptureCounter, c.Captures)
			}
			st.MissedCounter, st.CaptureCounter = int64(c.Missed), int64(c.Captures)
			// The device's clock may be off (no real-time clock, no NTP
			// yet): its capture time is shifted by the difference.
			st.LastCapture = c.LastCapture
			if skew := received.Sub(hb.Time); !c.LastCapture.IsZero() && (skew > 2*time.Minute || skew < -2*time.Minute) {
				st.LastCapture = c.LastCapture.Add(skew)
			}
		}
		st.MissedToday += missed
		st.CapturesToday += captures
		st.Queue, st.QueueBytes = hb.QueueTotal()
		st.AutonomyDays, st.SignalDBM = nil, nil
		if hb.Disk != nil {
			st.AutonomyDays = hb.Disk.AutonomyDays
		}
		if hb.Modem != nil {
			st.SignalDBM = hb.Modem.SignalDBM
		}
		st.Version = hb.Version
		if err := tx.PutStatus(st); err != nil {
			return err
		}
		if err := tx.LogHeartbeat(state.LogEntry{At: received, Queue: st.Queue, Missed: missed, Captures: captures}); err != nil {
			return err
		}
		return s.evaluate(tx, received)
	})
}

func increase(prev int64, cur int) int {
	if int64(cur) >= prev {
		return int(int64(cur) - prev)
	}
	return cur
}

// Evaluate evaluates one device's alerts at now.
func (s *Service) Evaluate(ctx context.Context, device string, now time.Time) error {
	return s.db.Update(ctx, device, func(tx *state.Tx) error { return s.evaluate(tx, now) })
}

// EvaluateAll evaluates every device's alerts at now: what makes a
// device silent, and a grace period end, without a heartbeat.
func (s *Service) EvaluateAll(ctx context.Context, now time.Time) error {
	devs, err := s.db.Devices(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, d := range devs {
		if err := s.Evaluate(ctx, d.Name, now); err != nil && !errors.Is(err, state.ErrNotFound) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// evaluate moves the device's alerts on: a condition that starts to hold
// is pending, fires once its grace period is over (an event, and a
// notification on every channel), changes nothing more while it holds
// unless it becomes more severe, and resolves (an event and
// notifications) when it stops holding.
func (s *Service) evaluate(tx *state.Tx, now time.Time) error {
	st := tx.Status()
	var hb *heartbeat.Heartbeat
	if len(st.Heartbeat) > 0 {
		hb = new(heartbeat.Heartbeat)
		if err := json.Unmarshal(st.Heartbeat, hb); err != nil {
			hb = nil
		}
	}
	log, err := tx.Log(now.Add(-s.rules.logWindow()))
	if err != nil {
		return err
	}
	kinds, on := s.rules.conditions(st, hb, log, now)
	alerts, err := tx.Alerts()
	if err != nil {
		return err
	}
	have := map[string]state.Alert{}
	for _, a := range alerts {
		have[a.Kind] = a
	}
	for _, kind := range kinds {
		a, had := have[kind]
		c, holds := on[kind]
		switch {
		case holds:
			if !had {
				a = state.Alert{Device: st.Device, Kind: kind, State: state.Pending, Since: c.since}
				if a.Since.IsZero() {
					a.Since = now
				}
			}
			worse := a.State == state.Firing && rank(c.severity) > rank(a.Severity)
			a.Severity, a.Message = c.severity, c.message
			if a.State == state.Pending && now.Sub(a.Since) >= s.rules.Grace[kind] || worse {
				a.State, a.Fired = state.Firing, now
				if err := s.event(tx, a, state.Fired, a.Message, now); err != nil {
					return err
				}
			}
			if err := tx.PutAlert(a); err != nil {
				return err
			}
		case had:
			if a.State == state.Firing {
				msg := fmt.Sprintf("%s: back to normal after %s (was: %s)", kind, human(now.Sub(a.Since)), a.Message)
				if kind == Silent {
					msg = fmt.Sprintf("heartbeats again, after %s without", human(st.LastSeen.Sub(a.Since)))
				}
				if err := s.event(tx, a, state.Resolved, msg, now); err != nil {
					return err
				}
			}
			if err := tx.DeleteAlert(kind); err != nil {
				return err
			}
		}
	}
	return nil
}

func rank(severity string) int {
	if severity == Critical {
		return 2
	}
	return 1
}

// event records an alert's event and queues its notifications.
func (s *Service) event(tx *state.Tx, a state.Alert, event, msg string, now time.Time) error {
	id, err := tx.AddEvent(state.Event{Kind: a.Kind, Event: event, Severity: a.Severity, Message: msg, At: now})
	if err != nil {
		return err
	}
	s.log.Info("fleet: alert "+event, "device", tx.Status().Device, "alert", a.Kind, "severity", a.Severity, "message", msg)
	n := notify.Notice{Device: tx.Status().Device, Alert: a.Kind, Event: event, Severity: a.Severity, Message: msg,
		Since: a.Since, At: now, Page: s.cfg.PageURL}
	payload, err := json.Marshal(n)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(s.cfg.Channels))
	for name := range s.cfg.Channels {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if err := tx.Notify(id, name, payload, now); err != nil {
			return err
		}
	}
	return nil
}

// Notifications are retried with a backoff from a minute to an hour, and
// given up after maxAttempts (about a day).
const (
	maxAttempts  = 30
	notifyLease  = 2 * time.Minute
	notifyBatch  = 20
	minRetryWait = time.Minute
	maxRetryWait = time.Hour
)

// Dispatch sends the notifications due at now, and returns how many it
// sent. A failed one is due again later, or given up if it cannot
// succeed.
func (s *Service) Dispatch(ctx context.Context, now time.Time) (int, error) {
	sent := 0
	for {
		ns, err := s.db.Claim(ctx, s.owner, now, notifyLease, notifyBatch)
		if err != nil || len(ns) == 0 {
			return sent, err
		}
		for _, n := range ns {
			err := s.send(ctx, n)
			if err == nil {
				if ok, err := s.db.Sent(ctx, n.ID, s.owner, now); err != nil {
					return sent, err
				} else if ok {
					sent++
				}
				continue
			}
			giveUp := notify.IsPermanent(err) || n.Attempts+1 >= maxAttempts
			wait := min(minRetryWait<<min(n.Attempts, 10), maxRetryWait)
			s.log.Warn("fleet: notification failed", "channel", n.Channel, "id", n.ID, "attempt", n.Attempts+1, "given_up", giveUp, "err", err)
			if err := s.db.Failed(ctx, n.ID, s.owner, now.Add(wait), giveUp, err.Error()); err != nil {
				return sent, err
			}
		}
		if len(ns) < notifyBatch {
			return sent, nil
		}
	}
}

func (s *Service) send(ctx context.Context, n state.Notification) error {
	ch, ok := s.cfg.Channels[n.Channel]
	if !ok {
		return &notify.PermanentError{Err: fmt.Errorf("channel %q is not configured on this server", n.Channel)}
	}
	var notice notify.Notice
	if err := json.Unmarshal(n.Payload, &notice); err != nil {
		return &notify.PermanentError{Err: fmt.Errorf("notification %d: %w", n.ID, err)}
	}
	ctx, cancel := context.WithTimeout(ctx, notifyLease/2)
	defer cancel()
	return ch.Send(ctx, notice)
}

// How often Run does each job.
const (
	evaluateEvery = time.Minute
	dispatchEvery = 15 * time.Second
	pruneEvery    = time.Hour
	// keepLog is how long heartbeats stay in the log, keepSettled how
	// long sent or given-up notifications stay.
	keepLog     = 7 * 24 * time.Hour
	keepSettled = 30 * 24 * time.Hour
)

// Run evaluates every device each minute, sends notifications every 15
// seconds, analyses received pictures, and prunes the state every hour,
// until ctx is done.
func (s *Service) Run(ctx context.Context) error {
	go s.analyzeLoop(ctx)
	tick := time.NewTicker(dispatchEvery)
	defer tick.Stop()
	var lastEval, lastPrune time.Time
	for {
		now := s.cfg.Now()
		if now.Sub(lastEval) >= evaluateEvery {
			lastEval = now
			if err := s.EvaluateAll(ctx, now); err != nil && ctx.Err() == nil {
				s.log.Error("fleet: evaluating alerts", "err", err)
			}
		}
		if _, err := s.Dispatch(ctx, now); err != nil && ctx.Err() == nil {
			s.log.Error("fleet: sending notifications", "err", err)
		}
		if now.Sub(lastPrune) >= pruneEvery {
			lastPrune = now
			if err := s.db.Prune(ctx, now, now.Add(-keepLog), now.Add(-keepSettled)); err != nil && ctx.Err() == nil {
				s.log.Error("fleet: pruning", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// firingByDevice groups alerts by device.
func firingByDevice(as []state.Alert) map[string][]state.Alert {
	out := map[string][]state.Alert{}
	for _, a := range as {
		out[a.Device] = append(out[a.Device], a)
	}
	for _, v := range out {
		slices.SortFunc(v, func(a, b state.Alert) int { return rank(b.Severity) - rank(a.Severity) })
	}
	return out
}
