// Package gallery is cloudd's pages for customers: for each camera, a
// live page with its latest picture and an archive of its days, with
// thumbnails, full-size downloads and a daily time-lapse video, all
// behind public links that operators make and revoke.
//
// A public link is /p/<token>/, the token 130 random bits; the state keeps
// only its SHA-256 and the device it opens. A token never becomes a path:
// it is looked up in the state, and a malformed, unknown or revoked one
// gets the same 404 (a client that keeps guessing, 429). Photos are named
// in URLs by their ID in the photo index, never by a file name from the
// request.
//
// Each received photo is derived once, in the background, from ingest's
// Stored hook: a thumbnail and a web-size copy (appliance/process), under
// <root>/.derived, which no device name reaches, then entered in the
// photo index. Run catches up at start with the photos of the tree the
// index lacks, so a restart loses no work. After each day (a configured
// time past the next midnight), ffmpeg makes the day's time-lapse from
// the web-size copies: H.264 in MP4, at most one maker per device and day
// over every cloudd sharing the state, retried with backoff after a
// failure, its progress shown on the archive.
package gallery

import (
	"context"
	"crypto/rand"
	"log/slog"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"github.com/lapsebox/lapsebox/cloud/state"
	"github.com/lapsebox/lapsebox/internal/faillimit"
)

// PathPrefix is where the pages are served: PathPrefix + token + "/".
const PathPrefix = "/p/"

// Config configures a Service.
type Config struct {
	DB *state.DB
	// Root is ingest's photo tree, <Root>/<device>/<name>; derived copies
	// go under <Root>/.derived.
	Root string
	// Location is where days begin and what times are shown in (default
	// UTC).
	Location *time.Location
	// Now is the clock (default time.Now).
	Now    func() time.Time
	Logger *slog.Logger
	// RetryAfter is the wait before a failed derivation is tried again
	// (default 1 minute; see Retries).
	RetryAfter time.Duration
	// LiveRefresh is how often the live page looks for a newer picture
	// (default DefaultLiveRefresh).
	LiveRefresh time.Duration
	// Timelapse configures the daily videos.
	Timelapse TimelapseConfig
}

// TimelapseConfig configures the daily time-lapse.
type TimelapseConfig struct {
	// Off turns the videos off.
	Off bool
	// After is how long after midnight a day's video is made (default
	// 1 h: the last uploads of the evening are in).
	After time.Duration
	// FPS is the frame rate (default 25).
	FPS int
	// Deflicker smooths the brightness from frame to frame (ffmpeg's
	// deflicker filter).
	Deflicker bool
	// Backfill is how many past days are made at most (default 30): a
	// cloudd started on an old archive does not make a year of videos.
	Backfill int
	// FFmpeg is the ffmpeg program (default: "ffmpeg" in PATH).
	FFmpeg string
}

// Service derives pictures, makes time-lapses and serves the pages.
type Service struct {
	cfg   Config
	db    *state.DB
	log   *slog.Logger
	owner string // this process's name in time-lapse leases
	fails faillimit.Limiter

	q queue
}

// New returns a Service; Run starts its background work.
func New(cfg Config) *Service {
	if cfg.Location == nil {
		cfg.Location = time.UTC
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.RetryAfter <= 0 {
		cfg.RetryAfter = time.Minute
	}
	if cfg.LiveRefresh <= 0 {
		cfg.LiveRefresh = DefaultLiveRefresh
	}
	t := &cfg.Timelapse
	if t.After <= 0 {
		t.After = time.Hour
	}
	if t.FPS <= 0 {
		t.FPS = 25
	}
	if t.Backfill <= 0 {
		t.Backfill = 30
	}
	if t.FFmpeg == "" {
		t.FFmpeg = "ffmpeg"
	}
	s := &Service{cfg: cfg, db: cfg.DB, log: cfg.Logger, owner: rand.Text()[:12], fails: faillimit.Limiter{Burst: 20}}
	s.q.init()
	return s
}

// Run derives queued photos, catches up with those the index lacks, and
// makes the time-lapses as days end, until ctx is done.
func (s *Service) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); s.deriveLoop(ctx) }()
	go func() {
		defer wg.Done()
		if err := s.CatchUp(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("gallery: catching up with the photo tree", "err", err)
		}
	}()
	if !s.cfg.Timelapse.Off {
		if p, err := exec.LookPath(s.cfg.Timelapse.FFmpeg); err != nil {
			s.log.Error("gallery: no time-lapses: ffmpeg not found (apt-get install ffmpeg)", "err", err)
		} else {
			s.cfg.Timelapse.FFmpeg = p
			wg.Add(1)
			go func() { defer wg.Done(); s.timelapseLoop(ctx) }()
		}
	}
	wg.Wait()
}

// derivedDir is the directory of one kind of derived file of a device.
func (s *Service) derivedDir(kind, device string) string {
	return filepath.Join(s.cfg.Root, ".derived", kind, device)
}

// Kinds of derived files.
const (
	kindThumb     = "thumb"
	kindWeb       = "web"
	kindTimelapse = "timelapse"
)
