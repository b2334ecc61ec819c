package gallery

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"image/jpeg"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/lapsebox/lapsebox/appliance/process"
	"github.com/lapsebox/lapsebox/cloud/ingest"
	"github.com/lapsebox/lapsebox/cloud/state"
	"github.com/lapsebox/lapsebox/internal/durable"
)

// Sizes of the derived copies: each fits in a square of that side,
// keeping the picture's proportions (and turned upright by its EXIF
// orientation).
const (
	ThumbSide = 320
	WebSide   = 1920
)

// processor derives a JPEG whose longer side is long into the thumbnail
// and the web-size copy, from one decode, never enlarging it.
func processor(long int) (*process.Processor, error) {
	return process.New(&process.Spec{Outputs: []process.Output{
		{Name: kindWeb, Width: min(WebSide, long), Height: min(WebSide, long), Quality: 82},
		{Name: kindThumb, Width: min(ThumbSide, long), Height: min(ThumbSide, long), Quality: 75},
	}})
}

// queue holds the photos waiting to be derived, each once, in the order
// they came.
type queue struct {
	mu     sync.Mutex
	jobs   []ingest.Stored
	queued map[[2]string]bool
	// failures counts the failed derivations of a photo being retried.
	failures map[[2]string]int
	busy     bool
	wake     chan struct{}
	drained  *sync.Cond
}

func (q *queue) init() {
	q.queued = map[[2]string]bool{}
	q.failures = map[[2]string]int{}
	q.wake = make(chan struct{}, 1)
	q.drained = sync.NewCond(&q.mu)
}

func (q *queue) push(p ingest.Stored) {
	q.mu.Lock()
	k := [2]string{p.Device, p.Name}
	if !q.queued[k] {
		q.queued[k] = true
		q.jobs = append(q.jobs, p)
	}
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// pop takes the next job and marks the queue busy until done.
func (q *queue) pop() (ingest.Stored, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.jobs) == 0 {
		return ingest.Stored{}, false
	}
	p := q.jobs[0]
	q.jobs[0] = ingest.Stored{}
	q.jobs = q.jobs[1:]
	q.busy = true
	return p, true
}

func (q *queue) done(p ingest.Stored, ok bool) {
	q.mu.Lock()
	k := [2]string{p.Device, p.Name}
	delete(q.queued, k)
	if ok {
		delete(q.failures, k)
	}
	q.busy = false
	if len(q.jobs) == 0 {
		q.drained.Broadcast()
	}
	q.mu.Unlock()
}

// Stored is ingest's hook (ingest.Config.Stored): it queues the photo for
// its derived copies and returns at once.
func (s *Service) Stored(p ingest.Stored) { s.q.push(p) }

// Pending is how many photos wait for their derived copies.
func (s *Service) Pending() int {
	s.q.mu.Lock()
	defer s.q.mu.Unlock()
	n := len(s.q.jobs)
	if s.q.busy {
		n++
	}
	return n
}

// Drain waits until every queued photo is derived (Run must be running)
// or ctx is done.
func (s *Service) Drain(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() {
		s.q.mu.Lock()
		s.q.drained.Broadcast()
		s.q.mu.Unlock()
	})
	defer stop()
	s.q.mu.Lock()
	defer s.q.mu.Unlock()
	for (len(s.q.jobs) > 0 || s.q.busy) && ctx.Err() == nil {
		s.q.drained.Wait()
	}
	return ctx.Err()
}

func (s *Service) deriveLoop(ctx context.Context) {
	for {
		for {
			p, ok := s.q.pop()
			if !ok {
				break
			}
			err := s.Derive(ctx, p)
			if err != nil && ctx.Err() == nil {
				s.retry(ctx, p, err)
			}
			s.q.done(p, err == nil)
		}
		select {
		case <-ctx.Done():
			return
		case <-s.q.wake:
		}
	}
}

// Retries is how often a derivation that failed for a reason that may
// pass (a full disk, the database away) is tried again, Config.RetryAfter
// apart; after that, or for a photo that is gone or not a file, the next
// start's catch-up tries again.
const Retries = 5

func (s *Service) retry(ctx context.Context, p ingest.Stored, err error) {
	q := &s.q
	q.mu.Lock()
	k := [2]string{p.Device, p.Name}
	q.failures[k]++
	n := q.failures[k]
	if n > Retries {
		delete(q.failures, k)
	}
	q.mu.Unlock()
	if n > Retries || errors.Is(err, os.ErrNotExist) || errors.Is(err, errNotRegular) || errors.Is(err, errBadName) {
		s.log.Error("gallery: deriving a photo; left for the next start", "device", p.Device, "name", p.Name, "err", err)
		return
	}
	s.log.Warn("gallery: deriving a photo; trying again", "device", p.Device, "name", p.Name, "in", s.cfg.RetryAfter, "err", err)
	timer := time.AfterFunc(s.cfg.RetryAfter, func() {
		if ctx.Err() == nil {
			s.q.push(p)
		}
	})
	context.AfterFunc(ctx, func() { timer.Stop() })
}

// Derive makes a photo's thumbnail and web-size copy unless they exist,
// then enters the photo in the index: a JPEG's, or a RAW file's from the
// JPEG preview it embeds; other files, and a JPEG that cannot be decoded,
// are indexed without them, for download.
func (s *Service) Derive(ctx context.Context, p ingest.Stored) error {
	if err := validName(p.Name); err != nil {
		return err
	}
	f, fi, err := openIn(filepath.Join(s.cfg.Root, p.Device), p.Name)
	if err != nil {
		return fmt.Errorf("gallery: %s/%s: %w", p.Device, p.Name, err)
	}
	defer f.Close()
	captured := p.CaptureTime
	if captured.IsZero() {
		captured = captureFromName(p.Name, s.cfg.Location, fi.ModTime())
	}
	derived := false
	var src io.ReadSeeker = f
	if !isJPEG(p.Name) {
		// A RAW file's own JPEG preview, if it has one Go can read.
		if prev, err := rawPreview(f, fi.Size()); err == nil {
			src = prev
		} else {
			src = nil
		}
	}
	if src != nil {
		switch err := s.derive(ctx, p.Device, p.Name, src); {
		case err == nil:
			derived = true
		case process.IsBadInput(err):
			s.log.Warn("gallery: a photo with no thumbnail", "device", p.Device, "name", p.Name, "err", err)
		default:
			return err
		}
	}
	_, err = s.db.IndexPhoto(ctx, state.Indexed{Device: p.Device, Name: p.Name, Day: captured.In(s.cfg.Location).Format(time.DateOnly),
		Captured: captured, Bytes: fi.Size(), Derived: derived})
	return err
}

// derive writes the derived copies of the JPEG f, each crash-safely,
// unless both are there already (a photo derived before a crash that
// kept it out of the index).
func (s *Service) derive(ctx context.Context, device, name string, f io.ReadSeeker) error {
	paths := map[string]string{}
	have := 0
	for _, kind := range []string{kindWeb, kindThumb} {
		paths[kind] = filepath.Join(s.derivedDir(kind, device), filepath.FromSlash(name))
		if fi, err := os.Lstat(paths[kind]); err == nil && fi.Mode().IsRegular() {
			have++
		}
	}
	if have == len(paths) {
		return nil
	}
	// The size first, so that a small picture is not enlarged; one that
	// has none is left to Process to judge.
	long := WebSide
	if c, err := jpeg.DecodeConfig(bufio.NewReader(f)); err == nil {
		long = max(c.Width, c.Height, 1)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	proc, err := processor(long)
	if err != nil {
		return err
	}
	return proc.Process(ctx, process.Photo{Name: device + "/" + name, R: f}, func(o *process.Output) (io.WriteCloser, error) {
		p := paths[o.Name]
		if err := durable.MkdirAll(filepath.Dir(p)); err != nil {
			return nil, err
		}
		return &fileWriter{path: p}, nil
	})
}

// fileWriter collects a derived copy (tens or hundreds of kilobytes) and
// writes it crash-safely on Close.
type fileWriter struct {
	path string
	bytes.Buffer
}

func (w *fileWriter) Close() error { return durable.WriteFile(w.path, w.Bytes()) }

// stamp finds a capture time in a photo's name: the appliance names them
// by their slot, YYYYMMDDHHMMSS.
var stamp = regexp.MustCompile(`(20[0-9]{2})([01][0-9])([0-3][0-9])[-_T]?([0-2][0-9])([0-5][0-9])([0-5][0-9])`)

// captureFromName is a photo's capture time when its upload did not say:
// from its name, in loc, or else its file's time.
func captureFromName(name string, loc *time.Location, mtime time.Time) time.Time {
	base := name[strings.LastIndex(name, "/")+1:]
	if m := stamp.FindStringSubmatch(base); m != nil {
		if t, err := time.ParseInLocation("20060102150405", strings.Join(m[1:], ""), loc); err == nil {
			return t
		}
	}
	return mtime
}

// CatchUp queues every photo of the tree that the index lacks: those
// stored while cloudd was stopping, or before the pages existed. The
// queue derives them after what arrives meanwhile.
func (s *Service) CatchUp(ctx context.Context) error {
	devs, err := s.db.Devices(ctx)
	if err != nil {
		return err
	}
	n := 0
	for _, d := range devs {
		have, err := s.db.IndexedNames(ctx, d.Name)
		if err != nil {
			return err
		}
		base := filepath.Join(s.cfg.Root, d.Name)
		err = filepath.WalkDir(base, func(fp string, de fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, os.ErrNotExist) {
					return nil
				}
				return err
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if fp != base && strings.HasPrefix(de.Name(), ".") {
				if de.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if !de.Type().IsRegular() {
				return nil // directories are walked; links and the rest never count
			}
			rel, err := filepath.Rel(base, fp)
			if err != nil {
				return err
			}
			name := filepath.ToSlash(rel)
			if have[name] || validName(name) != nil {
				return nil
			}
			s.q.push(ingest.Stored{Device: d.Name, Name: name, Path: fp})
			n++
			return nil
		})
		if err != nil {
			return fmt.Errorf("gallery: catching up with %s: %w", d.Name, err)
		}
	}
	if n > 0 {
		s.log.Info("gallery: catching up with photos not yet derived", "photos", n)
	}
	return nil
}
