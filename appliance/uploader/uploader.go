// Package uploader is uploadd's logic: drain the store's outbox target by
// target, derive what each target wants, and deliver it through the
// target's transport within its windows, interval and bandwidth, retrying
// with backoff and parking what retrying cannot fix. An entry leaves the
// outbox only once the target confirmed the bytes.
package uploader

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/lapsebox/lapsebox/appliance/config"
	"github.com/lapsebox/lapsebox/appliance/process"
	"github.com/lapsebox/lapsebox/appliance/statusfile"
	"github.com/lapsebox/lapsebox/appliance/store"
	"github.com/lapsebox/lapsebox/appliance/upload"
	"github.com/lapsebox/lapsebox/internal/redact"
)

// A worker delivers at most batchEntries entries, or for batchTime,
// between two listings of the outbox.
const (
	batchEntries = 50
	batchTime    = 30 * time.Second
)

// Target is a configured target with its transport.
type Target struct {
	Config    config.Target
	Transport upload.Target
	// Processor makes derived and live-cam pictures (nil: send the JPG).
	Processor *process.Processor
	// ConfigHash identifies the target's configuration: an entry parked
	// under another configuration is retried.
	ConfigHash string

	own  bucket
	sent rateMeter
	// idlePoll is how long an idle worker waits before it looks at the
	// outbox again, unless entries arrive: Uploader.Poll or WatchedPoll.
	idlePoll time.Duration
	// arrivals wakes the idle workers when entries arrive; nil when the
	// kernel cannot tell (they poll).
	arrivals *store.Arrivals
	mu       sync.Mutex
	state    statusfile.Target
	// lastSent is the capture time of the last picture sent, for
	// MinInterval.
	lastSent time.Time
	// recorded is the time of the last delivery recorded in the store,
	// under recordMu (held across the store's write).
	recordMu sync.Mutex
	recorded time.Time
}

// Uploader drains the outbox.
type Uploader struct {
	Store   *store.Store
	Targets []*Target
	Link    *Link
	Status  *StatusFile
	Log     *log.Logger
	// Poll is how often an idle target looks for new entries when the
	// kernel does not tell it of their arrival (default 5 s).
	Poll time.Duration
	// WatchedPoll is how often it looks when the kernel does (inotify, see
	// store.Arrivals): a safety net (default 1 min, never below Poll).
	WatchedPoll time.Duration
	// Heartbeat is how often the status file is rewritten while nothing
	// changes: its age is the heartbeat watchdogd judges (default 5 s; see
	// config.Config.HeartbeatEvery).
	Heartbeat time.Duration
	// Worked, if not nil, is called each time a worker has handled an
	// entry: uploadd gives the memory sending used back a while after
	// the last (internal/rest).
	Worked func()
	// Working, if not nil, is called before each delivery begins (its
	// processing and its sending): uploadd, resting on one processor,
	// takes the others back for it (internal/rest).
	Working func()
	// MinBackoff and MaxBackoff bound the wait before retrying an entry
	// (defaults 10 s and 1 h); the wait doubles with each attempt, with
	// jitter, unless the server said when (Retry-After).
	MinBackoff, MaxBackoff time.Duration
	// ReconcileEvery reconciles each target with the store this often,
	// the first time a minute after Run starts (0: never).
	ReconcileEvery time.Duration
	// DataCap, if set, holds back the targets that are not essential
	// while the modem's monthly data cap is reached.
	DataCap *DataCap
	// KeptBytes bounds the memory of the derived pictures made for a
	// target along with another's, until it sends them (0:
	// DefaultKeptBytes; negative: none are made ahead).
	KeptBytes int64

	derivedOnce sync.Once
	derived     *derivations
}

// Run drains every target until ctx is done.
func (u *Uploader) Run(ctx context.Context) error {
	if u.Poll == 0 {
		u.Poll = 5 * time.Second
	}
	if u.Heartbeat <= 0 {
		u.Heartbeat = 5 * time.Second
	}
	if u.WatchedPoll == 0 {
		u.WatchedPoll = time.Minute
	}
	u.WatchedPoll = max(u.WatchedPoll, u.Poll)
	if u.MinBackoff == 0 {
		u.MinBackoff = 10 * time.Second
	}
	if u.MaxBackoff == 0 {
		u.MaxBackoff = time.Hour
	}
	if u.Log == nil {
		u.Log = log.New(io.Discard, "", 0)
	}
	if u.Link == nil {
		u.Link = &Link{}
	}
	if u.Status == nil {
		u.Status = &StatusFile{}
	}
	var wg sync.WaitGroup
	for _, t := range u.Targets {
		t.own.rate = float64(t.Config.MaxBytesPerSecond)
		t.setState(func(s *statusfile.Target) { s.Name, s.Kind = t.Config.Name, string(t.Config.Kind) })
		// The last delivery comes from the store: a restart or an update
		// does not make a target look as if it was never sent anything.
		if d, err := u.Store.LastDelivery(t.Config.Name); err != nil {
			u.Log.Printf("%s: %v", t.Config.Name, err)
		} else {
			t.setState(func(s *statusfile.Target) {
				if s.LastSuccess.IsZero() {
					s.LastSuccess = d.Time
				}
			})
		}
		// New entries wake the target's workers at once; polling every
		// Poll is the way when the kernel cannot tell.
		t.idlePoll = u.Poll
		arrivals, err := u.Store.WatchArrivals(t.Config.Name)
		if err != nil {
			u.Log.Printf("%s: looking at the outbox every %v: %v", t.Config.Name, u.Poll, err)
		} else {
			t.idlePoll, t.arrivals = u.WatchedPoll, arrivals
			defer arrivals.Close()
		}
		claimed := &claims{m: map[string]bool{}}
		for i := 0; i < max(1, t.Config.Concurrency); i++ {
			var arrived <-chan struct{}
			if arrivals != nil {
				arrived = arrivals.Subscribe()
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				u.worker(ctx, t, claimed, arrived)
			}()
		}
	}
	reported := make(chan struct{})
	go func() {
		defer close(reported)
		u.reportLoop(ctx)
	}()
	if u.ReconcileEvery > 0 {
		for _, t := range u.Targets {
			wg.Add(1)
			go func() {
				defer wg.Done()
				u.reconcileLoop(ctx, t)
			}()
		}
	}
	wg.Wait()
	// No targets: nothing to do until the configuration changes.
	<-ctx.Done()
	<-reported // nothing of this run is left behind
	u.report()
	return nil
}

// claims keeps a target's workers off each other's entries.
type claims struct {
	mu sync.Mutex
	m  map[string]bool
}

func (c *claims) take(photo string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m[photo] {
		return false
	}
	c.m[photo] = true
	return true
}

func (c *claims) release(photo string) {
	c.mu.Lock()
	delete(c.m, photo)
	c.mu.Unlock()
}

// worker delivers t's entries; between them it waits as step says, or
// until entries arrive.
func (u *Uploader) worker(ctx context.Context, t *Target, claimed *claims, arrived <-chan struct{}) {
	for ctx.Err() == nil {
		wait := u.step(ctx, t, claimed)
		if wait <= 0 {
			if u.Worked != nil {
				u.Worked()
			}
			continue
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-timer.C:
		case <-arrived:
		}
		timer.Stop()
	}
}

// step delivers one entry of t, or says how long to wait for work.
func (u *Uploader) step(ctx context.Context, t *Target, claimed *claims) time.Duration {
	now := time.Now()
	if open, next := t.Config.InWindow(now); !open {
		t.setState(func(s *statusfile.Target) { s.State, s.WindowOpens = "closed", next })
		if next.IsZero() {
			return time.Hour
		}
		return min(time.Until(next)+time.Second, time.Hour)
	}
	entries, err := u.Store.Pending(t.Config.Name)
	if err != nil {
		msg := redact.String(err.Error())
		u.Log.Printf("%s: %s", t.Config.Name, msg)
		t.setState(func(s *statusfile.Target) { s.LastError, s.LastErrorTime = msg, now })
		return u.Poll
	}
	entries = u.drop(t, entries)
	t.account(entries, configTag(t.ConfigHash))
	held, why := u.DataCap.Holds(t.Config.Name, now)
	t.setState(func(s *statusfile.Target) { s.Held = why })
	if held {
		t.setState(func(s *statusfile.Target) { s.State = "held" })
		return time.Minute
	}
	// Newest first for a live-cam target: only the latest picture matters.
	if t.Config.Send == config.SendLatest {
		for i, j := 0, len(entries)-1; i < j; i, j = i+1, j-1 {
			entries[i], entries[j] = entries[j], entries[i]
		}
	}
	// Several entries per listing: re-reading a backlog of weeks after
	// every photo would cost more than sending it. The batch is short
	// enough for new captures (and a live-cam's newest) to be seen soon.
	var soonest time.Time
	// The last delivery is recorded once a batch: it is for the status
	// page after a restart, and its write and fsyncs between two photos
	// would leave the link idle.
	var last *store.Delivery
	defer func() {
		if last != nil {
			u.recordDelivery(t, *last)
		}
	}()
	// One photo's transfer overlaps the end of the one before: once a
	// transport has read all of a photo, what is left is the server's
	// commit and answer, the outbox's update and the next upload's
	// creation, and the link would idle through them. At most two are
	// under way, and only one of them is sending its bytes.
	var prev chan *store.Delivery // the delivery finishing, nil if none
	overlap := t.Config.MinInterval == 0 && t.Config.Send != config.SendLatest
	finish := func() {
		if prev != nil {
			// Two under way may end in either order: keep the later.
			if d := <-prev; d != nil && (last == nil || d.Time.After(last.Time)) {
				last = d
			}
			prev = nil
		}
	}
	defer finish()
	delivered, start := 0, time.Now()
	for _, e := range entries {
		if delivered >= batchEntries || time.Since(start) > batchTime || ctx.Err() != nil {
			break
		}
		if t.parked(e) {
			continue
		}
		if e.NextAttempt.After(now) {
			if soonest.IsZero() || e.NextAttempt.Before(soonest) {
				soonest = e.NextAttempt
			}
			continue
		}
		if !claimed.take(e.Photo) {
			continue
		}
		// This list was read before the claim: another worker may have
		// delivered the photo since, or moved its resume state on.
		fresh, owed, err := u.Store.Owed(t.Config.Name, e.Photo)
		if err != nil || !owed {
			if err != nil {
				u.Log.Printf("%s: %v", t.Config.Name, err)
			}
			claimed.release(e.Photo)
			continue
		}
		e = fresh
		if t.parked(e) || e.NextAttempt.After(now) {
			claimed.release(e.Photo) // failed in the meantime
			continue
		}
		if !overlap {
			finish() // lastSent must count it before tooSoon looks
		}
		if t.tooSoon(e) { // lastSent moved during this batch
			u.skip(t, e, fmt.Sprintf("within %v of the last picture sent", t.Config.MinInterval))
			claimed.release(e.Photo)
			continue
		}
		if u.Working != nil {
			u.Working()
		}
		read := make(chan struct{}, 1) // the transport has read it all
		result := make(chan *store.Delivery, 1)
		go func(e store.Entry) {
			d := u.deliver(ctx, t, e, func() {
				select {
				case read <- struct{}{}:
				default: // said already
				}
			})
			claimed.release(e.Photo)
			result <- d
		}(e)
		wait := read
		if !overlap {
			wait = nil // until it is done
		}
		select {
		case <-wait:
		case d := <-result:
			result <- d // for finish
		}
		finish()
		prev = result
		delivered++
		if t.Config.Send == config.SendLatest {
			break // only the newest matters
		}
	}
	if delivered > 0 {
		return 0
	}
	t.setState(func(s *statusfile.Target) { s.State = "idle" })
	if !soonest.IsZero() {
		return min(time.Until(soonest), t.idlePoll)
	}
	return t.idlePoll
}

// drop finishes the entries a target's policy skips: stale pictures of a
// live-cam target (all but the newest), pictures closer than MinInterval
// to the last one sent, and anything of a target sent nothing.
func (u *Uploader) drop(t *Target, entries []store.Entry) []store.Entry {
	var keep []store.Entry
	for i, e := range entries {
		switch {
		case t.Config.Send == config.SendNothing:
			u.skip(t, e, "the target is sent nothing")
		case t.Config.Send == config.SendLatest && i < len(entries)-1:
			u.skip(t, e, "a newer picture replaces it")
		case t.tooSoon(e):
			u.skip(t, e, fmt.Sprintf("within %v of the last picture sent", t.Config.MinInterval))
		default:
			keep = append(keep, e)
		}
	}
	return keep
}

// tooSoon reports whether e was taken within MinInterval after the last
// picture sent to t.
func (t *Target) tooSoon(e store.Entry) bool {
	t.mu.Lock()
	last := t.lastSent
	t.mu.Unlock()
	return t.Config.MinInterval > 0 && !last.IsZero() &&
		!e.CaptureTime.Before(last) && e.CaptureTime.Before(last.Add(t.Config.MinInterval))
}

// skip finishes an entry the target's policy does not send.
func (u *Uploader) skip(t *Target, e store.Entry, why string) {
	if err := u.Store.Done(e); err != nil {
		u.Log.Printf("%s: skipping %s: %v", t.Config.Name, e.Photo, err)
		return
	}
	t.setState(func(s *statusfile.Target) { s.Skipped++ })
	u.Log.Printf("%s: skipped %s: %s", t.Config.Name, e.Photo, why)
}

// recordDelivery keeps d as t's last delivery in the store, unless a
// later one is already there (another worker's).
func (u *Uploader) recordDelivery(t *Target, d store.Delivery) {
	t.recordMu.Lock()
	defer t.recordMu.Unlock()
	if !d.Time.After(t.recorded) {
		return
	}
	if err := u.Store.RecordDelivery(d); err != nil {
		u.Log.Printf("%s: %v", t.Config.Name, err)
		return
	}
	t.recorded = d.Time
}

// deliver sends one entry and records the outcome in the outbox. It
// returns the delivery if the entry was delivered, for recordDelivery.
// atEnd is called once the transport has read all of the entry's bytes.
func (u *Uploader) deliver(ctx context.Context, t *Target, e store.Entry, atEnd func()) *store.Delivery {
	name := t.Config.Name
	t.setState(func(s *statusfile.Target) { s.State, s.Current = "sending", e.Photo })
	start := time.Now()
	err := u.send(ctx, t, &e, atEnd)
	if ctx.Err() != nil {
		return nil // shutting down: the entry stays as it was, resume state included
	}
	now := time.Now()
	if err == nil {
		if derr := u.Store.Done(e); derr != nil {
			u.Log.Printf("%s: %s delivered, but removing its outbox entry: %v", name, e.Photo, derr)
		}
		t.setState(func(s *statusfile.Target) {
			if e.CaptureTime.After(t.lastSent) {
				t.lastSent = e.CaptureTime
			}
			s.Sent++
			s.SentBytes += e.Size
			if now.After(s.LastSuccess) { // the other one under way may have ended later
				s.LastSuccess = now
			}
			if s.Current == e.Photo { // not the next one's, under way
				s.Current = ""
			}
		})
		u.Log.Printf("%s: delivered %s (%d bytes) in %.1fs", name, e.Photo, e.Size, now.Sub(start).Seconds())
		return &store.Delivery{Target: name, Photo: e.Photo, CaptureTime: e.CaptureTime, Time: now}
	}
	// What is kept and shown of the error: the outbox entry, the status
	// file and the log never carry a credential from a URL in it.
	msg := redact.String(err.Error())
	e.Attempts++
	e.LastError = msg
	e.Parked = ""
	if upload.IsPermanent(err) || process.IsBadInput(err) {
		// Retrying will not help: wait for a person or a new configuration.
		e.Parked = msg + configTag(t.ConfigHash)
		u.Log.Printf("%s: parked %s: %s", name, e.Photo, msg)
	} else {
		wait := u.backoff(e.Attempts)
		var ra *upload.RetryAfterError
		if errors.As(err, &ra) && ra.After > wait {
			wait = ra.After
		}
		e.NextAttempt = now.Add(wait)
		u.Log.Printf("%s: %s failed (attempt %d), retrying in %v: %s", name, e.Photo, e.Attempts, wait.Round(time.Second), msg)
	}
	if uerr := u.Store.Update(e); uerr != nil {
		u.Log.Printf("%s: recording the failure of %s: %v", name, e.Photo, uerr)
	}
	t.setState(func(s *statusfile.Target) {
		s.LastError, s.LastErrorTime = msg, now
		if s.Current == e.Photo {
			s.Current = ""
		}
	})
	return nil
}

// configTag marks a parked entry with the configuration it failed under.
func configTag(hash string) string { return " [config " + hash + "]" }

// parked reports whether e was parked under t's configuration: it is not
// tried again until that configuration changes.
func (t *Target) parked(e store.Entry) bool {
	return e.Parked != "" && strings.HasSuffix(e.Parked, configTag(t.ConfigHash))
}

// derives reports whether t is sent pictures made from the photos (derived
// or live-cam pictures), not the photos themselves.
func (t *Target) derives() bool {
	return t.Processor != nil && (t.Config.Send == config.SendDerived || t.Config.Send == config.SendLatest)
}

// backoff doubles from MinBackoff up to MaxBackoff, with ±25 % jitter so
// that devices that lost the link together do not return together.
func (u *Uploader) backoff(attempts int) time.Duration {
	d := u.MinBackoff
	for i := 1; i < attempts && d < u.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, u.MaxBackoff)
	return time.Duration(float64(d) * (0.75 + rand.Float64()/2))
}

// resumeState is what an entry keeps between attempts: the outputs of a
// derived picture already delivered, and the transport's own state for the
// one under way.
type resumeState struct {
	Done      []string        `json:",omitempty"`
	Current   string          `json:",omitempty"`
	Transport json.RawMessage `json:",omitempty"`
}

// resumeOf returns e's resume state; an unreadable one is none: the send
// starts over.
func resumeOf(e store.Entry) resumeState {
	var rs resumeState
	if len(e.Resume) > 0 {
		json.Unmarshal(e.Resume, &rs)
	}
	return rs
}

// send derives what t wants of e and delivers it; atEnd is called when
// the transport has read the last of it.
func (u *Uploader) send(ctx context.Context, t *Target, e *store.Entry, atEnd func()) error {
	rs := resumeOf(*e)
	save := func(current string, transport json.RawMessage) error {
		rs.Current, rs.Transport = current, transport
		b, _ := json.Marshal(rs)
		e.Resume = b
		return u.Store.Update(*e)
	}
	rel := strings.TrimPrefix(e.Photo, "photos/")
	open := func() (io.ReadSeekCloser, error) {
		f, err := u.Store.OpenPhoto(e.Photo)
		if err != nil {
			return nil, err
		}
		return &limitedFile{ReadSeekCloser: f, ctx: ctx, link: u.Link, own: &t.own, priority: t.Config.Priority, sent: &t.sent, atEnd: atEnd, size: e.Size}, nil
	}
	if !t.derives() {
		item := upload.Item{Name: rel, Size: e.Size, SHA256: e.SHA256, ContentType: contentType(rel), CaptureTime: e.CaptureTime, Open: open}
		if rs.Current == rel {
			item.Resume = rs.Transport
		}
		return t.Transport.Upload(ctx, item, func(r json.RawMessage) error { return save(rel, r) })
	}

	// Derived pictures: each output is made in memory (they are small),
	// with those of the other derived targets that owe the photo, then
	// sent; those already delivered are not made again. An output made
	// again after an interrupted transfer may differ in its bytes (it was
	// decoded at another scale along with another target's): the
	// transports start over when the size or SHA-256 differs from the
	// resume state's.
	outputs, release, err := u.derive(ctx, t, e, rs.Done)
	defer release()
	if err != nil {
		return err
	}
	lastOutput := ""
	for _, o := range outputs {
		if !contains(rs.Done, o.name) {
			lastOutput = o.name
		}
	}
	for _, o := range outputs {
		if contains(rs.Done, o.name) {
			continue
		}
		name, data := o.name, o.data
		var end func()
		if name == lastOutput {
			end = atEnd
		}
		sum := sha256.Sum256(data)
		item := upload.Item{Name: name, Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:]), ContentType: "image/jpeg", CaptureTime: e.CaptureTime,
			Open: func() (io.ReadSeekCloser, error) {
				return &limitedFile{ReadSeekCloser: nopSeekCloser{bytes.NewReader(data)}, ctx: ctx, link: u.Link, own: &t.own, priority: t.Config.Priority, sent: &t.sent, atEnd: end, size: int64(len(data))}, nil
			}}
		if rs.Current == name {
			item.Resume = rs.Transport
		}
		if err := t.Transport.Upload(ctx, item, func(r json.RawMessage) error { return save(name, r) }); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		rs.Done = append(rs.Done, name)
		if err := save("", nil); err != nil {
			return err
		}
	}
	return nil
}

func contentType(name string) string {
	switch strings.ToLower(path.Ext(name)) {
	case ".jpg", ".jpeg":
		return "image/jpeg"
	}
	return "application/octet-stream"
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

type nopSeekCloser struct{ io.ReadSeeker }

func (nopSeekCloser) Close() error { return nil }

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// nowhere is the transport of a target sent nothing: every entry is
// skipped before it would be used.
type nowhere struct{}

func (nowhere) Upload(ctx context.Context, it upload.Item, save func(json.RawMessage) error) error {
	return &upload.PermanentError{Err: errors.New("this target is sent nothing")}
}

func (nowhere) List(ctx context.Context, prefix string) ([]string, error) { return nil, nil }

func (u *Uploader) reconcileLoop(ctx context.Context, t *Target) {
	for wait := time.Minute; ; wait = u.ReconcileEvery {
		sleepCtx(ctx, wait)
		if ctx.Err() != nil {
			return
		}
		rep, err := u.Reconcile(ctx, t)
		if err != nil {
			u.Log.Printf("%s: %v", t.Config.Name, err)
			continue
		}
		if rep.Requeued > 0 {
			u.Log.Printf("%s: reconciled: the target lost %d photos; queued again", t.Config.Name, rep.Requeued)
		}
		t.setState(func(s *statusfile.Target) { s.LastReconcile = &rep })
	}
}
