package uploader

import (
	"bytes"
	"container/list"
	"context"
	"io"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/lapsebox/lapsebox/appliance/process"
	"github.com/lapsebox/lapsebox/appliance/statusfile"
	"github.com/lapsebox/lapsebox/appliance/store"
)

// Decoding an 18 MP photo costs more than making all of a target's
// pictures from it, so a photo is decoded once for every derived target
// that owes it (issue 13): the target that derives it first makes the
// others' pictures too, and keeps them in memory until they send them.
const (
	// DefaultKeptBytes is the memory the pictures kept for other targets
	// may take unless Uploader.KeptBytes says otherwise: a few hundred
	// pictures of a few hundred KB.
	DefaultKeptBytes = 32 << 20
	// keptMaxAge drops pictures a target did not take in time: it went
	// offline, or its window closed, or it is busy with a backlog.
	keptMaxAge = 10 * time.Minute
	// keptAhead is how many photos' pictures may wait for one target: a
	// target that falls behind (a slow link during a backlog drain)
	// decodes for itself rather than have its pictures evicted unsent,
	// and one that is offline holds little.
	keptAhead = 4
)

// derivedKey names one target's pictures of one photo. The processor is
// part of it: a new spec (a configuration reload) is a new Processor, so
// pictures made with the old one are never sent for the new.
type derivedKey struct {
	photo  string
	target string
	proc   *process.Processor
}

// keyOf is the key of t's pictures of photo.
func keyOf(photo string, t *Target) derivedKey {
	return derivedKey{photo: photo, target: t.Config.Name, proc: t.Processor}
}

// derivation is a target's pictures of a photo, or why there are none.
type derivation struct {
	outputs []derivedOutput // in the order they were made, largest first
	// without lists the outputs left out as already delivered; a taker
	// must have delivered them too.
	without []string
	// err is bad input (a bad photo, spec or watermark): taking it parks
	// the taker's entry without decoding again.
	err  error
	size int64
	made time.Time
}

// derivedOutput is one output's JPEG and the file name it is sent as.
type derivedOutput struct {
	name string
	data []byte
}

// derivations keeps the pictures made for targets that have not sent them
// yet, and the decodes under way, for all targets of an Uploader.
type derivations struct {
	budget int64 // ≤ 0: nothing kept

	mu    sync.Mutex
	kept  map[derivedKey]*list.Element // of *keptDerivation
	order *list.List                   // oldest first
	bytes int64
	// flights are the decodes under way, by photo: closed when done.
	flights map[string]chan struct{}
	// inHand counts, by photo and target, the sends that have their
	// pictures: no decode makes them again meanwhile.
	inHand map[[2]string]int
	stats  statusfile.Derived
}

type keptDerivation struct {
	key derivedKey
	d   *derivation
}

func newDerivations(budget int64) *derivations {
	return &derivations{budget: budget, kept: map[derivedKey]*list.Element{}, order: list.New(),
		flights: map[string]chan struct{}{}, inHand: map[[2]string]int{}}
}

// derivations returns u's, made on first use.
func (u *Uploader) derivations() *derivations {
	u.derivedOnce.Do(func() {
		budget := u.KeptBytes
		if budget == 0 {
			budget = DefaultKeptBytes
		}
		u.derived = newDerivations(budget)
	})
	return u.derived
}

// derive returns t's pictures of e, leaving out those named in done (they
// were delivered): kept for it by an earlier decode, or made by a decode
// that also makes the pictures of the other derived targets that owe the
// photo. It waits for a decode of the same photo under way rather than
// decode it at the same time. release, never nil, must be called once t's
// send is over. A returned error is a failed decode, t's *process.Error,
// or ctx's.
func (u *Uploader) derive(ctx context.Context, t *Target, e *store.Entry, done []string) (_ []derivedOutput, release func(), _ error) {
	d := u.derivations()
	key := keyOf(e.Photo, t)
	hand := [2]string{e.Photo, t.Config.Name}
	release = func() {
		d.mu.Lock()
		if d.inHand[hand]--; d.inHand[hand] <= 0 {
			delete(d.inHand, hand)
		}
		d.mu.Unlock()
	}
	var flight chan struct{}
	for flight == nil {
		d.mu.Lock()
		if dv := d.take(key, done); dv != nil {
			d.inHand[hand]++
			d.stats.Shared++
			d.mu.Unlock()
			return dv.outputs, release, dv.err
		}
		busy, ok := d.flights[e.Photo]
		if !ok {
			flight = make(chan struct{})
			d.flights[e.Photo] = flight
			d.inHand[hand]++
		}
		d.mu.Unlock()
		if ok {
			// Another target is decoding the photo, for t too if t owed
			// it then: wait, then look again.
			select {
			case <-busy:
			case <-ctx.Done():
				return nil, func() {}, ctx.Err()
			}
		}
	}
	defer func() {
		d.mu.Lock()
		delete(d.flights, e.Photo)
		d.mu.Unlock()
		close(flight)
	}()

	others := u.othersOwing(t, e)
	ps := []*process.Processor{t.Processor}
	skip := [][]string{done}
	for _, o := range others {
		ps = append(ps, o.t.Processor)
		skip = append(skip, o.done)
	}
	f, err := u.Store.OpenPhoto(e.Photo)
	if err != nil {
		return nil, release, err
	}
	defer f.Close()
	rel := strings.TrimPrefix(e.Photo, "photos/")
	made := make([]*derivation, len(ps))
	for i := range made {
		made[i] = &derivation{without: skip[i]}
	}
	errs := process.ProcessAll(ctx, process.Photo{Name: e.Photo, R: f, Taken: e.CaptureTime}, ps,
		func(i int, o *process.Output) (io.WriteCloser, error) {
			name := outputName(rel, o.Name)
			if slices.Contains(skip[i], name) {
				return nil, nil // delivered already
			}
			return &outputBuffer{done: func(b []byte) {
				made[i].outputs = append(made[i].outputs, derivedOutput{name: name, data: b})
				made[i].size += int64(len(b))
			}}, nil
		})
	now := time.Now()
	d.mu.Lock()
	d.stats.Decodes++
	for i, o := range others {
		// Only what a retry would make again is kept: pictures, and bad
		// input; a failed read or a cancelled ctx is the other's to meet.
		if err := errs[i+1]; err == nil || process.IsBadInput(err) {
			made[i+1].err, made[i+1].made = err, now
			d.keep(keyOf(e.Photo, o.t), made[i+1], now)
		}
	}
	d.mu.Unlock()
	if errs[0] != nil {
		return nil, release, errs[0]
	}
	return made[0].outputs, release, nil
}

// otherOwing is another derived target that owes a photo, with the
// outputs of it it delivered already.
type otherOwing struct {
	t    *Target
	done []string
}

// othersOwing returns the derived targets other than t that owe e's photo
// and will send it soon, whose pictures are neither kept nor in hand: not
// those outside their windows, held by the data cap, backing off (perhaps
// offline), parked, within their interval, or behind by keptAhead photos.
func (u *Uploader) othersOwing(t *Target, e *store.Entry) []otherOwing {
	d := u.derivations()
	if d.budget <= 0 {
		return nil
	}
	now := time.Now()
	var others []otherOwing
	for _, o := range u.Targets {
		if o == t || !o.derives() {
			continue
		}
		d.mu.Lock()
		_, kept := d.kept[keyOf(e.Photo, o)]
		busy := kept || d.inHand[[2]string{e.Photo, o.Config.Name}] > 0 || d.keptFor(o.Config.Name) >= keptAhead
		d.mu.Unlock()
		if busy {
			continue
		}
		if open, _ := o.Config.InWindow(now); !open {
			continue
		}
		if held, _ := u.DataCap.Holds(o.Config.Name, now); held {
			continue
		}
		oe, owed, err := u.Store.Owed(o.Config.Name, e.Photo)
		if err != nil {
			u.Log.Printf("%s: %v", o.Config.Name, err)
			continue
		}
		if !owed || oe.NextAttempt.After(now) || o.tooSoon(oe) || o.parked(oe) {
			continue
		}
		others = append(others, otherOwing{t: o, done: resumeOf(oe).Done})
	}
	return others
}

// take removes and returns the pictures kept for key, if they are still
// fresh and leave out nothing but what done lists. Under d.mu.
func (d *derivations) take(key derivedKey, done []string) *derivation {
	el, ok := d.kept[key]
	if !ok {
		return nil
	}
	kd := el.Value.(*keptDerivation)
	d.drop(el)
	for _, n := range kd.d.without {
		if !slices.Contains(done, n) {
			return nil // the entry was queued again since: make them all
		}
	}
	if time.Since(kd.d.made) > keptMaxAge {
		d.stats.Evicted++
		return nil
	}
	return kd.d
}

// keep adds dv for key, evicting the oldest kept pictures over the
// budget; pictures larger than the whole budget are not kept. Under d.mu.
func (d *derivations) keep(key derivedKey, dv *derivation, now time.Time) {
	if dv.size > d.budget {
		d.stats.Evicted++
		return
	}
	if el, ok := d.kept[key]; ok {
		d.drop(el)
	}
	d.kept[key] = d.order.PushBack(&keptDerivation{key: key, d: dv})
	d.bytes += dv.size
	for d.bytes > d.budget {
		d.drop(d.order.Front())
		d.stats.Evicted++
	}
}

// expire drops the pictures kept longer than keptMaxAge: a target that
// went offline holds no memory for long.
func (d *derivations) expire(now time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for el := d.order.Front(); el != nil && now.Sub(el.Value.(*keptDerivation).d.made) > keptMaxAge; el = d.order.Front() {
		d.drop(el)
		d.stats.Evicted++
	}
}

// drop forgets a kept derivation. Under d.mu.
func (d *derivations) drop(el *list.Element) {
	kd := el.Value.(*keptDerivation)
	d.order.Remove(el)
	delete(d.kept, kd.key)
	d.bytes -= kd.d.size
}

// keptFor counts the photos whose pictures wait for target. Under d.mu.
func (d *derivations) keptFor(target string) int {
	n := 0
	for k := range d.kept {
		if k.target == target {
			n++
		}
	}
	return n
}

// snapshot returns the counts for the status file.
func (d *derivations) snapshot() *statusfile.Derived {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.stats
	s.KeptBytes = d.bytes
	return &s
}

// outputName is the file name output o of the photo at rel is sent as.
func outputName(rel, o string) string {
	return strings.TrimSuffix(rel, path.Ext(rel)) + "-" + o + ".jpg"
}

// outputBuffer collects an output and hands it over when closed.
type outputBuffer struct {
	bytes.Buffer
	done func([]byte)
}

func (b *outputBuffer) Close() error {
	b.done(b.Bytes())
	return nil
}
