package archive

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/lapsebox/lapsebox/internal/promtext"
)

// Report is what a scrub found and did.
type Report struct {
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	// Replica names the second store ("" when photos are kept once):
	// "directory", or an S3 store's endpoint, bucket and prefix.
	Replica string `json:"replica,omitempty"`
	// Checked counts the photos whose copies all matched their record.
	Checked int64 `json:"checked"`
	// Bytes counts the bytes read.
	Bytes int64 `json:"bytes"`
	// RepairedLocal and RepairedReplica count the copies missing or
	// damaged that were rewritten from the other.
	RepairedLocal   int64 `json:"repairedLocal"`
	RepairedReplica int64 `json:"repairedReplica"`
	// Unrepairable counts the photos without a single good copy.
	Unrepairable int64 `json:"unrepairable"`
	// Recorded counts the photos that had no record (received before
	// the archive kept records, or in a crash's window) and now do.
	Recorded int64 `json:"recorded"`
	// Orphans counts replica objects without a local copy or a record:
	// not ingest's, left alone.
	Orphans int64 `json:"orphans"`
	// Refused counts listed keys that are not photo keys ("../x").
	Refused int64 `json:"refused"`
	// Failed counts the photos that could not be checked (a store that
	// did not answer); the next scrub tries again.
	Failed int64 `json:"failed"`
	// Problems names what went wrong, at most maxProblems lines, by key
	// and reason; the log has the errors themselves.
	Problems []string `json:"problems,omitempty"`
}

const maxProblems = 100

func (r *Report) problem(format string, args ...any) {
	if len(r.Problems) < maxProblems {
		r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
	}
}

// String is the report in a line.
func (r *Report) String() string {
	return fmt.Sprintf("checked %d, repaired local %d, repaired replica %d, UNREPAIRABLE %d, recorded %d, orphans %d, refused %d, failed %d; %d bytes read in %v",
		r.Checked, r.RepairedLocal, r.RepairedReplica, r.Unrepairable, r.Recorded, r.Orphans, r.Refused, r.Failed,
		r.Bytes, r.Finished.Sub(r.Started).Round(time.Millisecond))
}

// Scrub reads every photo's copies, checks them against the record and
// repairs a missing or damaged copy from a good one, reading at most
// rate bytes a second (0: no limit). It logs each repair and each photo
// it cannot repair, and returns the report; an error is a scrub that
// could not run to the end (a listing failed, ctx ended), with the report
// of what it did.
func (a *Archive) Scrub(ctx context.Context, rate int64) (*Report, error) {
	a.mu.Lock()
	if a.scrubbing {
		a.mu.Unlock()
		return nil, errors.New("archive: a scrub is already running")
	}
	a.scrubbing = true
	a.mu.Unlock()
	r := &Report{Started: time.Now(), Replica: a.replicaName()}
	err := a.scrub(ctx, r, newLimiter(rate))
	r.Finished = time.Now()
	a.mu.Lock()
	a.scrubbing = false
	a.last = r
	a.mu.Unlock()
	switch {
	case r.Unrepairable > 0:
		a.log.Error("archive: scrub found photos without a good copy", "report", r.String(), "problems", r.Problems)
	case err != nil:
		a.log.Error("archive: scrub ended early", "report", r.String(), "err", err)
	default:
		a.log.Info("archive: scrubbed", "report", r.String())
	}
	return r, err
}

// where a key was seen.
const (
	inLocal = 1 << iota
	inReplica
	inSums
)

func (a *Archive) scrub(ctx context.Context, r *Report, lim *limiter) error {
	seen := map[string]int{}
	add := func(where int, from string) func(Object) error {
		return func(o Object) error {
			if err := CheckKey(o.Key); err != nil && where == inLocal {
				// A file of the operator's in the root, not a device's
				// photo: not the scrubber's business.
				a.log.Debug("archive: not a photo", "key", o.Key)
				return nil
			} else if err != nil {
				r.Refused++
				r.problem("refused a key listed by %s: %v", from, err)
				a.log.Warn("archive: refused a listed key", "from", from, "err", err)
				return nil
			}
			seen[o.Key] |= where
			return nil
		}
	}
	if err := a.Local.Walk(ctx, add(inLocal, "the photo tree")); err != nil {
		return err
	}
	if a.Replica != nil {
		if err := a.Replica.Walk(ctx, add(inReplica, "the replica")); err != nil {
			return err
		}
	}
	if err := a.Sums.Walk(func(key string) error { return add(inSums, "the records")(Object{Key: key}) }); err != nil {
		return err
	}
	keys := make([]string, 0, len(seen))
	for k := range seen {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, key := range keys {
		if err := ctx.Err(); err != nil {
			return err
		}
		a.scrubKey(ctx, r, lim, key, seen[key])
	}
	return nil
}

// copyState is what a scrub learnt of one copy.
type copyState struct {
	sum     string // what it hashes to, "" if missing
	meta    string // the sum its store recorded
	missing bool
	err     error // unreadable for another reason
}

func (a *Archive) read(ctx context.Context, r *Report, lim *limiter, st Store, key string) copyState {
	obj, err := st.Stat(ctx, key)
	if errors.Is(err, ErrNotExist) {
		return copyState{missing: true}
	}
	if err != nil {
		return copyState{err: err}
	}
	sum, n, err := hashKey(ctx, st, key, obj.Size, lim)
	r.Bytes += n
	if errors.Is(err, ErrNotExist) {
		return copyState{missing: true}
	}
	return copyState{sum: sum, meta: obj.SHA256, err: err}
}

func (a *Archive) scrubKey(ctx context.Context, r *Report, lim *limiter, key string, where int) {
	ref, err := a.Sums.Get(key)
	if err != nil {
		r.Failed++
		r.problem("%s: its record is unreadable (%s)", key, reason(err))
		a.log.Error("archive: reading a record", "key", key, "err", err)
		return
	}
	if ref == "" && where&inLocal == 0 {
		// Only in the replica, and never recorded: not a photo ingest
		// accepted (another writer's object, or one whose local copy
		// and record an operator removed). Left alone.
		r.Orphans++
		r.problem("%s: in the replica only, without a record: left alone", key)
		return
	}
	local := a.read(ctx, r, lim, a.Local, key)
	var replica copyState
	if a.Replica != nil {
		replica = a.read(ctx, r, lim, a.Replica, key)
	}
	if local.err != nil || replica.err != nil {
		r.Failed++
		r.problem("%s: could not be read (%s)", key, reason(errors.Join(local.err, replica.err)))
		a.log.Warn("archive: could not check a photo", "key", key, "err", errors.Join(local.err, replica.err))
		return
	}
	if ref == "" {
		// No record: the replica's recorded sum, if its bytes still
		// match it, was ingest's; otherwise the local copy is all there
		// is to go by.
		ref = local.sum
		if !replica.missing && replica.meta != "" && replica.meta == replica.sum {
			ref = replica.meta
		}
		if err := a.Sums.Put(key, ref); err != nil {
			r.Failed++
			r.problem("%s: recording its sum failed (%s)", key, reason(err))
			a.log.Error("archive: recording a sum", "key", key, "err", err)
			return
		}
		r.Recorded++
		a.log.Info("archive: recorded a photo's sum from its copies", "key", key, "sha256", ref)
	}
	lok := local.sum == ref
	rok := a.Replica == nil || replica.sum == ref
	switch {
	case lok && rok:
		r.Checked++
	case !lok && !rok || !lok && a.Replica == nil:
		r.Unrepairable++
		r.problem("%s: UNREPAIRABLE: recorded sha256 %s, local copy %s, replica %s", key, ref, describe(local), describe(replica))
		a.log.Error("archive: a photo has no good copy", "key", key, "sha256", ref, "local", describe(local), "replica", describe(replica))
	case !lok:
		a.repair(ctx, r, lim, a.Replica, a.Local, key, ref, local, &r.RepairedLocal)
	default:
		a.repair(ctx, r, lim, a.Local, a.Replica, key, ref, replica, &r.RepairedReplica)
	}
}

// repair rewrites key's copy in dst, which was bad, from src, and counts
// it in repaired, or as failed.
func (a *Archive) repair(ctx context.Context, r *Report, lim *limiter, src, dst Store, key, ref string, was copyState, repaired *int64) {
	if err := copyKey(ctx, src, dst, key, ref, lim); err != nil {
		r.Failed++
		r.problem("%s: repairing the copy in %s failed (%s)", key, a.which(dst), reason(err))
		a.log.Error("archive: repairing a copy", "key", key, "store", dst.String(), "err", err)
		return
	}
	*repaired++
	a.log.Warn("archive: repaired a copy", "key", key, "store", dst.String(), "from", src.String(), "was", describe(was))
}

// which names st in a report: the photo tree or the replica.
func (a *Archive) which(st Store) string {
	if st == Store(a.Local) {
		return "the photo tree"
	}
	return "the replica"
}

// reason says why err happened in a report, which (unlike the log) names
// no path and no endpoint.
func reason(err error) string {
	switch {
	case errors.Is(err, ErrUnavailable):
		return "store unavailable"
	case errors.Is(err, ErrMismatch):
		return "the bytes do not match the record"
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "cancelled"
	}
	return "the log has the details"
}

func describe(c copyState) string {
	if c.missing {
		return "missing"
	}
	return "sha256 " + c.sum
}

// Run scrubs every interval (the first one after delay) until ctx is
// done.
func (a *Archive) Run(ctx context.Context, delay, interval time.Duration, rate int64) {
	t := time.NewTimer(delay)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		a.Scrub(ctx, rate)
		t.Reset(interval)
	}
}

// replicaName names the replica in a report: an S3 store by its
// endpoint, bucket and prefix, a directory as "directory" (its path is
// in the configuration and the log, not in a status).
func (a *Archive) replicaName() string {
	switch a.Replica.(type) {
	case nil:
		return ""
	case *Dir:
		return "directory"
	}
	return a.Replica.String()
}

// Status is the archive's state, for cloudd's status page.
type Status struct {
	// Replica names the second store ("" when photos are kept once).
	Replica string `json:"replica,omitempty"`
	// ReplicationFailures counts the uploads not acknowledged because
	// their second copy failed, since the start.
	ReplicationFailures int64 `json:"replicationFailures"`
	Scrubbing           bool  `json:"scrubbing"`
	// LastScrub is the last scrub's report (nil: none since the start).
	LastScrub *Report `json:"lastScrub,omitempty"`
}

// Status returns the archive's state.
func (a *Archive) Status() Status {
	a.mu.Lock()
	defer a.mu.Unlock()
	return Status{Replica: a.replicaName(), ReplicationFailures: a.failures.Load(), Scrubbing: a.scrubbing, LastScrub: a.last}
}

// WriteMetrics writes the archive's metrics in Prometheus's text format.
func (a *Archive) WriteMetrics(b *bytes.Buffer) {
	st := a.Status()
	promtext.Family(b, "lapsebox_archive_copies", "gauge", "Copies kept of each photo: 1, or 2 with a replica.").Add(float64(1 + promtext.Bool(st.Replica != "")))
	promtext.Family(b, "lapsebox_archive_replication_failures_total", "counter", "Uploads not acknowledged because their second copy failed, since the start.").Add(float64(st.ReplicationFailures))
	promtext.Family(b, "lapsebox_archive_scrubbing", "gauge", "1 while a scrub runs.").Add(promtext.Bool(st.Scrubbing))
	r := st.LastScrub
	if r == nil {
		return
	}
	promtext.Family(b, "lapsebox_archive_scrub_last_timestamp_seconds", "gauge", "When the last scrub finished, in Unix time.").Add(promtext.Unix(r.Finished))
	promtext.Family(b, "lapsebox_archive_scrub_bytes", "gauge", "Bytes the last scrub read.").Add(float64(r.Bytes))
	photos := promtext.Family(b, "lapsebox_archive_scrub_photos", "gauge", "Photos of the last scrub by outcome; unrepairable ones have no good copy left.")
	for _, o := range []struct {
		outcome string
		n       int64
	}{
		{"checked", r.Checked}, {"repaired_local", r.RepairedLocal}, {"repaired_replica", r.RepairedReplica},
		{"unrepairable", r.Unrepairable}, {"recorded", r.Recorded}, {"orphan", r.Orphans}, {"refused", r.Refused}, {"failed", r.Failed},
	} {
		photos.Add(float64(o.n), "outcome", o.outcome)
	}
}

// limiter paces reads to a rate in bytes a second; a nil limiter does
// not limit.
type limiter struct {
	rate  float64
	start time.Time
	n     int64
}

func newLimiter(rate int64) *limiter {
	if rate <= 0 {
		return nil
	}
	return &limiter{rate: float64(rate), start: time.Now()}
}

// reader returns r paced by l.
func (l *limiter) reader(ctx context.Context, r io.Reader) io.Reader {
	if l == nil {
		return ctxReader{ctx, r}
	}
	return &pacedReader{ctx: ctx, r: r, l: l}
}

type pacedReader struct {
	ctx context.Context
	r   io.Reader
	l   *limiter
}

func (p *pacedReader) Read(b []byte) (int, error) {
	if err := p.ctx.Err(); err != nil {
		return 0, err
	}
	if len(b) > 256<<10 {
		b = b[:256<<10] // pace in steps of a fraction of a second
	}
	n, err := p.r.Read(b)
	p.l.n += int64(n)
	due := p.l.start.Add(time.Duration(float64(p.l.n) / p.l.rate * float64(time.Second)))
	if d := time.Until(due); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-p.ctx.Done():
			return n, p.ctx.Err()
		case <-t.C:
		}
	}
	return n, err
}
