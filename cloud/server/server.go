// Package server assembles cloudd from its parts: the ingest of photos
// (cloud/ingest), the fleet's supervision (cloud/fleet) on its state
// (cloud/state), the operators' login (cloud/operator), the customers'
// pages (cloud/gallery) and the notification channels (cloud/notify), on
// a public and a private HTTP
// server with the ingest's limits. cmd/cloudd runs it; the host tool's
// demo and the tests run it in-process.
//
// The public server (Listen) serves the devices' API under /v1/ (uploads
// and heartbeats, with the devices' tokens), the fleet page with the
// operators' login, and the cameras' pages under /p/ with public links'
// tokens. The admin server (AdminListen) serves, without
// authentication, /metrics, /api/v1/devices and /status: keep it on a
// private address.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/lapsebox/lapsebox/appliance/heartbeat"
	"github.com/lapsebox/lapsebox/cloud/fleet"
	"github.com/lapsebox/lapsebox/cloud/gallery"
	"github.com/lapsebox/lapsebox/cloud/ingest"
	"github.com/lapsebox/lapsebox/cloud/notify"
	"github.com/lapsebox/lapsebox/cloud/operator"
	"github.com/lapsebox/lapsebox/cloud/releases"
	"github.com/lapsebox/lapsebox/cloud/state"
	"github.com/lapsebox/lapsebox/image/release"
)

// Defaults of Config's addresses.
const (
	DefaultListen      = ":8080"
	DefaultAdminListen = "localhost:9091"
)

// Server is cloudd.
type Server struct {
	Config Config
	DB     *state.DB
	Ingest *ingest.Server
	Fleet  *fleet.Service
	Auth   *operator.Auth
	// Gallery is the customers' pages behind public links.
	Gallery *gallery.Service
	// Releases holds the published releases (<root>/.releases).
	Releases *releases.Store
	log      *slog.Logger

	mu      sync.Mutex
	devices int

	public, admin     *http.Server
	publicLn, adminLn net.Listener
}

// Options are what a Server takes besides its Config.
type Options struct {
	// Logger receives the logs (nil: slog.Default()).
	Logger *slog.Logger
	// Now is the clock (nil: time.Now).
	Now func() time.Time
	// Limits bound the public server (zero: ingest's defaults, and
	// Config.Ingest.MaxConns).
	Limits ingest.Limits
}

// DatabaseFor is the database Open uses for cfg: cfg.Database, or the
// SQLite file under the root.
func DatabaseFor(cfg Config) string {
	if cfg.Database != "" {
		return cfg.Database
	}
	return "sqlite:" + filepath.Join(cfg.Root, ".state", "fleet.db")
}

// Open opens the state and makes the server's parts. Listen and Serve
// run them.
func Open(ctx context.Context, cfg Config, o Options) (*Server, error) {
	if cfg.Root == "" {
		return nil, errors.New("cloudd: no root directory for the photos")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	loc := time.Local
	if cfg.TimeZone != "" {
		var err error
		if loc, err = time.LoadLocation(cfg.TimeZone); err != nil {
			return nil, fmt.Errorf("cloudd: time_zone %q: %w", cfg.TimeZone, err)
		}
	}
	rules, err := cfg.Alerts.rules()
	if err != nil {
		return nil, fmt.Errorf("cloudd: %w", err)
	}
	channels := map[string]notify.Channel{}
	if w := cfg.Webhook; w != nil {
		ch, err := notify.NewWebhook(w.URL, w.Secret)
		if err != nil {
			return nil, fmt.Errorf("cloudd: %w", err)
		}
		channels["webhook"] = ch
	}
	if m := cfg.SMTP; m != nil {
		ch, err := notify.NewMail(m.Server, m.User, m.Password, m.From, m.To)
		if err != nil {
			return nil, fmt.Errorf("cloudd: %w", err)
		}
		channels["email"] = ch
	}
	// The photos' root first: the embedded database's directory in it
	// is private (0700), the root itself not.
	if err := os.MkdirAll(cfg.Root, 0o755); err != nil {
		return nil, fmt.Errorf("cloudd: %w", err)
	}
	db, err := state.Open(ctx, DatabaseFor(cfg))
	if err != nil {
		return nil, err
	}
	s := &Server{Config: cfg, DB: db, log: o.Logger}
	var pageURL string
	if cfg.PublicURL != "" {
		pageURL = strings.TrimSuffix(cfg.PublicURL, "/") + fleet.PagePath
	}
	s.Gallery = gallery.New(gallery.Config{DB: db, Root: cfg.Root, Location: loc, Now: o.Now, Logger: o.Logger,
		LiveRefresh: time.Duration(cfg.Pages.LiveRefresh), Timelapse: cfg.Pages.Timelapse.config()})
	s.Fleet = fleet.New(fleet.Config{DB: db, Rules: rules, Channels: channels, Location: loc, Now: o.Now, Logger: o.Logger, PageURL: pageURL})
	replica, err := cfg.Archive.replica(cfg.Root, cfg.Ingest.MaxSize)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("cloudd: %w", err)
	}
	if replica == nil {
		o.Logger.Warn("cloudd: no archive configured: photos are kept once, under the root")
	} else {
		o.Logger.Info("cloudd: photos are kept twice", "replica", replica.String())
		if cfg.Archive.Dir != "" && sameFileSystem(cfg.Root, cfg.Archive.Dir) {
			o.Logger.Warn("cloudd: the archive's dir is on the same file system as the root: one disk failing loses both copies", "dir", cfg.Archive.Dir)
		}
	}
	s.Ingest, err = ingest.New(ingest.Config{
		Root: cfg.Root, Spool: cfg.Spool, MaxSize: cfg.Ingest.MaxSize, Expire: time.Duration(cfg.Ingest.Expire),
		MaxUploads: cfg.Ingest.MaxUploads, MaxSpoolBytes: cfg.Ingest.MaxSpoolBytes, Logger: o.Logger,
		Stored: func(p ingest.Stored) { s.Fleet.Stored(p); s.Gallery.Stored(p) }, Replica: replica,
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	if err := s.ReloadDevices(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if s.Releases, err = releases.Open(filepath.Join(cfg.Root, ".releases"), o.Logger); err != nil {
		db.Close()
		return nil, err
	}
	s.Releases.Running = s.Fleet.RunningBuilds
	s.Auth = &operator.Auth{DB: db, Home: fleet.PagePath, Now: o.Now, Logger: o.Logger,
		Secure: strings.HasPrefix(cfg.PublicURL, "https://")}
	limits := o.Limits
	if limits.MaxConns == 0 {
		limits.MaxConns = cfg.Ingest.MaxConns
	}
	s.public = ingest.NewHTTPServer(s.PublicHandler(), limits, o.Logger)
	s.admin = ingest.NewHTTPServer(s.AdminHandler(), adminLimits, o.Logger)
	return s, nil
}

// adminLimits bound the admin server: a few monitors.
var adminLimits = ingest.Limits{MaxConns: 16}

// ReloadDevices gives the ingest the devices of the database and of the
// token file: a device added by "cloudd device add", or on another
// cloudd, can upload from then on; a removed one no more.
func (s *Server) ReloadDevices(ctx context.Context) error {
	devs := ingest.Devices{}
	if s.Config.Tokens != "" {
		d, err := ingest.LoadDevices(s.Config.Tokens)
		if err != nil {
			return fmt.Errorf("cloudd: %w", err)
		}
		maps.Copy(devs, d)
	}
	ds, err := s.DB.Devices(ctx)
	if err != nil {
		return err
	}
	for _, d := range ds {
		devs[d.Name] = d.TokenSHA256
	}
	s.Ingest.SetDevices(devs)
	s.mu.Lock()
	if len(devs) != s.devices {
		s.log.Info("cloudd: devices", "count", len(devs))
	}
	s.devices = len(devs)
	s.mu.Unlock()
	return nil
}

// PublicHandler serves the public address.
func (s *Server) PublicHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle(heartbeat.Path, s.Ingest.RequireDevice(s.Fleet.HeartbeatHandler()))
	mux.Handle("/v1/", s.Ingest.Handler())
	devRel := s.Ingest.RequireDevice(s.Releases.DeviceHandler())
	mux.Handle(release.LatestPath, devRel)
	mux.Handle(release.BlockPath, devRel)
	mux.Handle(release.PatchPath, devRel)
	pub := s.Auth.RequireBasic(s.Releases.AdminHandler())
	mux.Handle(release.PublishPath, pub)
	mux.Handle(release.PublishBlockPath, pub)
	auth := s.Auth.Handler()
	mux.Handle(operator.LoginPath, auth)
	mux.Handle(operator.LogoutPath, auth)
	mux.Handle(operator.PasswordPath, auth)
	page := s.Auth.Require(s.Fleet.PageHandler())
	mux.Handle(fleet.PagePath, page)
	mux.Handle(fleet.ThumbPath, page)
	links := s.Auth.Require(s.Gallery.LinksHandler(s.Config.PublicURL))
	mux.Handle(gallery.LinksPath, links)
	mux.Handle(gallery.LinksPath+"/", links)
	mux.Handle(gallery.PathPrefix, s.Gallery.Handler())
	mux.Handle("GET /{$}", http.RedirectHandler(fleet.PagePath, http.StatusSeeOther))
	return mux
}

// AdminHandler serves the private admin address.
func (s *Server) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /status", s.Ingest.AdminHandler())
	mux.Handle("GET /metrics", s.Fleet.MetricsHandler(s.Ingest.Status, s.Ingest.Archive().WriteMetrics))
	mux.Handle("/api/v1/", s.Fleet.APIHandler())
	return mux
}

// Listen opens the listeners: the public address, and the admin one
// unless it is "off".
func (s *Server) Listen() error {
	addr := s.Config.Listen
	if addr == "" {
		addr = DefaultListen
	}
	limits := ingest.Limits{MaxConns: s.Config.Ingest.MaxConns}
	ln, err := ingest.Listen(addr, limits)
	if err != nil {
		return fmt.Errorf("cloudd: %w", err)
	}
	s.publicLn = ln
	admin := s.Config.AdminListen
	if admin == "" {
		admin = DefaultAdminListen
	}
	if admin != "off" {
		if s.adminLn, err = ingest.Listen(admin, adminLimits); err != nil {
			ln.Close()
			return fmt.Errorf("cloudd: %w", err)
		}
	}
	return nil
}

// PublicAddr and AdminAddr are the listeners' addresses ("" if none).
func (s *Server) PublicAddr() string { return addrOf(s.publicLn) }

// AdminAddr is the admin listener's address.
func (s *Server) AdminAddr() string { return addrOf(s.adminLn) }

func addrOf(ln net.Listener) string {
	if ln == nil {
		return ""
	}
	return ln.Addr().String()
}

// Serve serves until ctx is done, then shuts down (10 s for requests to
// finish) and closes the state. With it run the fleet's evaluations and
// notifications, the spool's hourly sweep, a reload of the devices
// every 10 seconds and, with a second copy, the archive's scrubber.
func (s *Server) Serve(ctx context.Context) error {
	if s.publicLn == nil {
		if err := s.Listen(); err != nil {
			return err
		}
	}
	defer s.DB.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); s.Fleet.Run(ctx) }()
	go func() { defer wg.Done(); s.Gallery.Run(ctx) }()
	go func() { defer wg.Done(); s.housekeeping(ctx) }()
	if s.Ingest.Archive().Replica != nil {
		interval, rate := s.Config.Archive.scrub()
		wg.Add(1)
		go func() { defer wg.Done(); s.Ingest.Archive().Run(ctx, min(interval, scrubDelay), interval, rate) }()
	}
	errc := make(chan error, 2)
	go func() {
		if s.Config.TLSCert != "" {
			errc <- s.public.ServeTLS(s.publicLn, s.Config.TLSCert, s.Config.TLSKey)
		} else {
			errc <- s.public.Serve(s.publicLn)
		}
	}()
	if s.adminLn != nil {
		go func() { errc <- s.admin.Serve(s.adminLn) }()
	}
	var err error
	select {
	case err = <-errc:
	case <-ctx.Done():
	}
	cancel()
	shutdown, stop := context.WithTimeout(context.Background(), 10*time.Second)
	defer stop()
	s.public.Shutdown(shutdown)
	s.admin.Shutdown(shutdown)
	wg.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// scrubDelay is how long after the start the first scrub begins: a
// restart after a crash gets its copies checked soon, not a day later.
const scrubDelay = 10 * time.Minute

// housekeeping reloads the devices and sweeps the spool.
func (s *Server) housekeeping(ctx context.Context) {
	reload := time.NewTicker(10 * time.Second)
	defer reload.Stop()
	sweep := time.NewTicker(time.Hour)
	defer sweep.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-reload.C:
			if err := s.ReloadDevices(ctx); err != nil && ctx.Err() == nil {
				s.log.Error("cloudd: reloading devices; keeping the old ones", "err", err)
			}
		case now := <-sweep.C:
			if err := s.Ingest.Sweep(now); err != nil {
				s.log.Error("cloudd: sweeping the spool", "err", err)
			}
		}
	}
}
