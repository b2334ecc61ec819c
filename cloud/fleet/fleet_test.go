package fleet

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/appliance/heartbeat"
	"github.com/lapsebox/lapsebox/cloud/notify"
	"github.com/lapsebox/lapsebox/cloud/notify/smtptest"
	"github.com/lapsebox/lapsebox/cloud/state"
	"github.com/lapsebox/lapsebox/cloud/state/statetest"
)

func TestMain(m *testing.M) { os.Exit(statetest.Main(m)) }

var (
	ctx = context.Background()
	t0  = time.Date(2026, 11, 26, 6, 0, 0, 0, time.UTC)
)

// clock is a fake clock the test moves.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// hook is a webhook receiver that refuses the first fail requests with
// a 503, then records every notice it accepts.
type hook struct {
	mu      sync.Mutex
	fail    int
	calls   int
	notices []notify.Notice
	srv     *httptest.Server
}

func newHook(t *testing.T, fail int) *hook {
	h := &hook{fail: fail}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.calls++
		if h.fail > 0 {
			h.fail--
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
			return
		}
		var n notify.Notice
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &n); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		h.notices = append(h.notices, n)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

// events returns "device alert event" of each notice received.
func (h *hook) events() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, n := range h.notices {
		out = append(out, fmt.Sprintf("%s %s %s", n.Device, n.Alert, n.Event))
	}
	return out
}

type sim struct {
	t     *testing.T
	clock *clock
	db    *state.DB
	svcs  []*Service
	hook  *hook
	smtp  *smtptest.Server
}

// newSim makes n Services sharing one database of the backend dsn, with
// a webhook failing its first two requests and an SMTP server.
func newSim(t *testing.T, dsn string, n int, devices ...string) *sim {
	s := &sim{t: t, clock: &clock{t: t0}, hook: newHook(t, 2), smtp: smtptest.Start(t, "alerts", "pw")}
	s.db = statetest.Open(t, dsn)
	for _, d := range devices {
		if err := s.db.AddDevice(ctx, state.Device{Name: d, TokenSHA256: sha256.Sum256([]byte(d)), Created: t0}); err != nil {
			t.Fatal(err)
		}
	}
	wh, _ := notify.NewWebhook(s.hook.srv.URL, "")
	m, _ := notify.NewMail(s.smtp.Addr, "alerts", "pw", "cloudd@example.org", []string{"ops@example.org"})
	m.TLSConfig = s.smtp.ClientTLS()
	for range n {
		db := statetest.Open(t, dsn) // each its own connections, as separate processes
		s.svcs = append(s.svcs, New(Config{DB: db, Now: s.clock.Now, Location: time.UTC,
			Channels: map[string]notify.Channel{"webhook": wh, "email": m}, Logger: quiet()}))
	}
	return s
}

// tick is what every cloudd does each simulated minute: evaluate and
// dispatch, all of them at once.
func (s *sim) tick() {
	now := s.clock.Now()
	var wg sync.WaitGroup
	for _, svc := range s.svcs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := svc.EvaluateAll(ctx, now); err != nil {
				s.t.Error(err)
			}
			if _, err := svc.Dispatch(ctx, now); err != nil {
				s.t.Error(err)
			}
		}()
	}
	wg.Wait()
}

// device is a simulated appliance's counters.
type device struct {
	name             string
	captures, missed int
	queue            int
	tempC            float64
	overCap          bool
	connected        bool
	// update is updated's part (nil: the device has no updated.json).
	update *heartbeat.Update
}

func (d *device) heartbeat(now time.Time) *heartbeat.Heartbeat {
	days := 30.0
	dbm := -90
	h := &heartbeat.Heartbeat{V: 1, Time: now, Version: "v1.0",
		Camera: &heartbeat.Camera{State: "waiting", Connected: d.connected, Captures: d.captures, Missed: d.missed, LastCapture: now.Add(-time.Minute), LastBytes: 5 << 20},
		Disk:   &heartbeat.Disk{UsedBytes: 10 << 30, TotalBytes: 64 << 30, AutonomyDays: &days},
		Queues: []heartbeat.Queue{{Target: "cloud", Pending: d.queue}},
		Modem:  &heartbeat.Modem{State: "connected", SignalDBM: &dbm, SignalBars: 3, UsedBytes: 100 << 20, CapBytes: 1 << 30, OverCap: d.overCap},
	}
	if d.tempC > 0 {
		h.TempC = &d.tempC
	}
	h.Update = d.update
	return h
}

// Hours of a device's life in simulated minutes, evaluated by two
// cloudd at once on one database: each alert fires once, after its
// grace period, and resolves once, and every notification arrives once
// on each channel although the webhook refuses the first ones.
func TestAlertsOverSimulatedHours(t *testing.T) {
	statetest.Run(t, func(t *testing.T, dsn string) {
		s := newSim(t, dsn, 2, "glacier-1", "spare")
		d := &device{name: "glacier-1", connected: true}
		svc := s.svcs[0]
		type phase struct {
			from, to int // minutes
			beat     bool
			change   func(*device, int)
		}
		// Each minute; a heartbeat every 5 minutes while beat.
		phases := []phase{
			{0, 60, true, func(d *device, m int) { d.captures++ }},
			// The link dies: silent from 15 minutes without a heartbeat.
			{60, 150, false, nil},
			// Back, missing a slot every 5 minutes for 20 minutes.
			{150, 170, true, func(d *device, m int) { d.missed++ }},
			// A queue that grows for 4 hours, then drains.
			{170, 410, true, func(d *device, m int) { d.queue += 2 }},
			{410, 420, true, func(d *device, m int) { d.queue = 0 }},
			// Hot for 10 minutes: shorter than temp's grace, no alert.
			{420, 430, true, func(d *device, m int) { d.tempC = 80 }},
			{430, 440, true, func(d *device, m int) { d.tempC = 50 }},
			// Hot for 30 minutes: fires after 15.
			{440, 470, true, func(d *device, m int) { d.tempC = 80 }},
			{470, 480, true, func(d *device, m int) { d.tempC = 50 }},
			// The SIM's cap is reached, then a new month begins.
			{480, 500, true, func(d *device, m int) { d.overCap = true }},
			{500, 510, true, func(d *device, m int) { d.overCap = false }},
		}
		for _, p := range phases {
			for m := p.from; m < p.to; m++ {
				now := t0.Add(time.Duration(m) * time.Minute)
				s.clock.Set(now)
				if p.beat && m%5 == 0 {
					if p.change != nil {
						p.change(d, m)
					}
					if err := svc.Record(ctx, d.name, d.heartbeat(now), now); err != nil {
						t.Fatal(err)
					}
				}
				s.tick()
			}
		}
		// Drain what is left to send, the device still beating.
		for m := 510; m < 540; m++ {
			now := t0.Add(time.Duration(m) * time.Minute)
			s.clock.Set(now)
			if m%5 == 0 {
				svc.Record(ctx, d.name, d.heartbeat(now), now)
			}
			s.tick()
		}
		want := []string{
			"glacier-1 silent firing", "glacier-1 silent resolved",
			"glacier-1 missed firing",
			"glacier-1 queue firing", "glacier-1 queue resolved",
			"glacier-1 missed resolved", // 6 hours after the misses
			"glacier-1 temp firing", "glacier-1 temp resolved",
			"glacier-1 datacap firing", "glacier-1 datacap resolved",
		}
		got := s.hook.events()
		if !slices.Equal(sorted(got), sorted(want)) {
			dumpEvents(t, s.db)
			t.Errorf("webhook received\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
		}
		if s.hook.calls != len(want)+2 {
			t.Errorf("webhook called %d times, want %d (2 refused)", s.hook.calls, len(want)+2)
		}
		if n := len(s.smtp.Messages()); n != len(want) {
			t.Errorf("%d e-mails, want %d", n, len(want))
		}
		// The events carry the right times: silent since the last
		// heartbeat (minute 55), fired once 15 minutes had passed.
		evs, _ := s.db.Events(ctx, "glacier-1", 100)
		for _, e := range evs {
			if e.Kind == Silent && e.Event == state.Fired && !e.At.Equal(t0.Add(71*time.Minute)) {
				t.Errorf("silent fired at %v, want minute 71", e.At.Sub(t0))
			}
			if e.Kind == Temp && e.Event == state.Fired && !e.At.Equal(t0.Add(455*time.Minute)) {
				t.Errorf("temp fired at %v, want minute 455 (grace 15 minutes)", e.At.Sub(t0))
			}
		}
		for _, n := range s.hook.notices {
			if n.Alert == Silent && n.Event == state.Resolved && n.Message != "heartbeats again, after 1h 35m without" {
				t.Errorf("recovery message %q", n.Message)
			}
		}
		// The spare device was never seen: no alert for it.
		if as, _ := s.db.DeviceAlerts(ctx, "spare"); len(as) != 0 {
			t.Errorf("alerts for a device never seen: %+v", as)
		}
		st, _ := s.db.Status(ctx, "glacier-1")
		if st.MissedToday != 4 || st.Heartbeats != 90 {
			t.Errorf("missed today %d, heartbeats %d", st.MissedToday, st.Heartbeats)
		}
	})
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// dumpEvents logs every event, to see what went wrong.
func dumpEvents(t *testing.T, db *state.DB) {
	t.Helper()
	evs, _ := db.Events(ctx, "", 100)
	for i := len(evs) - 1; i >= 0; i-- {
		e := evs[i]
		t.Logf("%v %s %s %s", e.At.Sub(t0), e.Kind, e.Event, e.Message)
	}
}

// A release rolled back fires the update alert once, notified on every
// channel; heartbeats without an update section (the reboot of the
// rollback) neither resolve it nor fire it again; the next attempt
// resolves it, and a second rollback fires it again.
func TestUpdateAlert(t *testing.T) {
	statetest.Run(t, func(t *testing.T, dsn string) {
		s := newSim(t, dsn, 2, "glacier-1")
		s.hook.fail = 0
		d := &device{name: "glacier-1", connected: true}
		b1, b2 := time.Date(2026, 6, 2, 8, 0, 0, 0, time.UTC), time.Date(2026, 6, 9, 8, 0, 0, 0, time.UTC)
		trying := &heartbeat.Update{State: "waiting", Version: "2026.06.09", Build: b2, CommittedVersion: "2026.06.02", Committed: b1,
			Trial: &heartbeat.Trial{Version: "2026.06.09", Deadline: t0.Add(30 * time.Minute), Waiting: "a picture from camerad"},
			Last:  &heartbeat.Attempt{Time: t0, Version: "2026.06.09", Result: "trying", RootBytes: 120 << 20, FetchedBytes: 9 << 20}}
		rolledBack := func(failures int) *heartbeat.Update {
			u := &heartbeat.Update{State: "waiting", Version: "2026.06.02", Build: b1, CommittedVersion: "2026.06.02", Committed: b1,
				Last: &heartbeat.Attempt{Time: t0.Add(12 * time.Minute), Version: "2026.06.09", Result: "rolled back",
					Error: "camerad took no picture", RootBytes: 120 << 20, FetchedBytes: 9 << 20, Failures: failures}}
			if failures >= 2 {
				u.Last.Refusal = "failed its trial 2 times, last: camerad took no picture"
			}
			return u
		}
		installed := &heartbeat.Update{State: "up to date", Version: "2026.06.16", Build: b2.AddDate(0, 0, 7), CommittedVersion: "2026.06.16", Committed: b2.AddDate(0, 0, 7),
			Last: &heartbeat.Attempt{Time: t0.Add(58 * time.Minute), Version: "2026.06.16", Result: "installed", RootBytes: 120 << 20, FetchedBytes: 5 << 20}}
		script := map[int]*heartbeat.Update{0: trying, 5: trying, 10: nil, 15: rolledBack(1), 20: rolledBack(1), 25: rolledBack(1),
			30: nil, 35: rolledBack(1), 40: trying, 45: trying, 50: rolledBack(2), 55: rolledBack(2), 60: installed, 65: installed}
		for m := 0; m < 75; m++ {
			now := t0.Add(time.Duration(m) * time.Minute)
			s.clock.Set(now)
			if u, beat := script[m]; beat {
				d.update = u
				if err := s.svcs[m%2].Record(ctx, d.name, d.heartbeat(now), now); err != nil {
					t.Fatal(err)
				}
			}
			s.tick()
		}
		want := []string{"glacier-1 update firing", "glacier-1 update resolved", "glacier-1 update firing", "glacier-1 update resolved"}
		if got := s.hook.events(); !slices.Equal(got, want) {
			dumpEvents(t, s.db)
			t.Errorf("webhook received\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
		}
		if n := len(s.smtp.Messages()); n != len(want) {
			t.Errorf("%d e-mails, want %d", n, len(want))
		}
		evs, _ := s.db.Events(ctx, "glacier-1", 10)
		var fired []string
		for _, e := range evs {
			if e.Event == state.Fired {
				fired = append(fired, e.At.Sub(t0).String()+" "+e.Message)
			}
		}
		slices.Sort(fired)
		if wantFired := []string{
			"15m0s release 2026.06.09 rolled back: camerad took no picture (1 failed trial)",
			"50m0s release 2026.06.09 rolled back and refused: failed its trial 2 times, last: camerad took no picture",
		}; !slices.Equal(fired, wantFired) {
			t.Errorf("fired:\n  %s\nwant\n  %s", strings.Join(fired, "\n  "), strings.Join(wantFired, "\n  "))
		}
	})
}
