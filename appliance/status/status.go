// Package status collects what the appliance knows about itself (host,
// versions, uptime, the /perm partition, gokrazy's services and the status
// files of lapsebox's own services) into a Snapshot, and serves it as an HTML
// page and a JSON API.
//
// Collecting never fails as a whole: whatever part cannot be read says so in
// its Error field, and the rest of the Snapshot is still filled in.
package status

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/lapsebox/lapsebox/appliance/bootdisk"
	"github.com/lapsebox/lapsebox/appliance/config"
	"github.com/lapsebox/lapsebox/appliance/statusfile"
)

// Config says where Collector finds things. The zero value of each field
// means the path or setting used on a gokrazy device; tests point the paths
// at a temporary tree.
type Config struct {
	// ProcDir is where procfs is mounted (default "/proc").
	ProcDir string
	// PermDir is the mount point of the persistent partition (default
	// "/perm").
	PermDir string
	// RunDir holds the status files of lapsebox's services, one
	// <service>.json each (default "/run/lapsebox").
	RunDir string
	// GokrazySocket is the unix socket of gokrazy's HTTP server (default
	// "/run/gokrazy-http.sock").
	GokrazySocket string
	// PasswordFiles are tried in order for gokrazy's HTTP password (default
	// "/perm/gokr-pw.txt", then "/etc/gokr-pw.txt"). If none exists, the
	// request is sent without credentials.
	PasswordFiles []string
	// Version is this build's version string; see BuildVersion.
	Version string
	// BootSHA256 is the sha256 of the boot file system the running build
	// was built with (its build.json); empty if the image does not say.
	BootSHA256 string
	// Disk names the device's disk, for BootPath; nil if not known.
	Disk *bootdisk.Disk
	// StaleAfter is the age after which a status file counts as stale:
	// its service has stopped writing its heartbeat (default 5 minutes).
	StaleAfter time.Duration
	// Timeout bounds the request to gokrazy (default 5 seconds).
	Timeout time.Duration
	// Now returns the current time (default time.Now).
	Now func() time.Time
}

// Default paths on a gokrazy device.
const (
	DefaultProcDir       = "/proc"
	DefaultPermDir       = "/perm"
	DefaultRunDir        = "/run/lapsebox"
	DefaultGokrazySocket = "/run/gokrazy-http.sock"
)

// DefaultPasswordFiles are where gokrazy keeps its HTTP password, in the
// order gokrazy itself reads them.
var DefaultPasswordFiles = []string{"/perm/gokr-pw.txt", "/etc/gokr-pw.txt"}

// Collector gathers Snapshots. It is safe for concurrent use.
type Collector struct {
	cfg    Config
	client *http.Client
}

// NewCollector returns a Collector reading from the places cfg names, with
// defaults filled in for its zero fields.
func NewCollector(cfg Config) *Collector {
	if cfg.ProcDir == "" {
		cfg.ProcDir = DefaultProcDir
	}
	if cfg.PermDir == "" {
		cfg.PermDir = DefaultPermDir
	}
	cfg.PermDir = filepath.Clean(cfg.PermDir)
	if cfg.RunDir == "" {
		cfg.RunDir = DefaultRunDir
	}
	if cfg.GokrazySocket == "" {
		cfg.GokrazySocket = DefaultGokrazySocket
	}
	if cfg.PasswordFiles == nil {
		cfg.PasswordFiles = DefaultPasswordFiles
	}
	if cfg.StaleAfter <= 0 {
		cfg.StaleAfter = 5 * time.Minute
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	socket := cfg.GokrazySocket
	return &Collector{
		cfg: cfg,
		client: &http.Client{
			Transport: &http.Transport{
				DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
					var d net.Dialer
					return d.DialContext(ctx, "unix", socket)
				},
				MaxIdleConns:    1,
				IdleConnTimeout: 30 * time.Second,
			},
		},
	}
}

// Snapshot is the appliance's status at one moment.
type Snapshot struct {
	// Now is when the snapshot was taken.
	Now time.Time `json:"now"`
	// Hostname is the kernel's host name (gokrazy's, if that is unreadable).
	Hostname string `json:"hostname"`
	// Model is the hardware as gokrazy names it ("Raspberry Pi 4 Model B
	// Rev 1.5", "QEMU"); empty if gokrazy could not be asked.
	Model string `json:"model,omitempty"`
	// Kernel is the running kernel as gokrazy reports it.
	Kernel string `json:"kernel,omitempty"`
	// Build identifies the software.
	Build Build `json:"build"`
	// UptimeSeconds is the time since boot, from /proc/uptime.
	UptimeSeconds float64 `json:"uptimeSeconds"`
	// UptimeError says why the uptime could not be read.
	UptimeError string `json:"uptimeError,omitempty"`
	// Perm describes the persistent partition.
	Perm Perm `json:"perm"`
	// Services are gokrazy's supervised processes, in gokrazy's order.
	Services []Service `json:"services"`
	// ServicesError says why gokrazy could not be asked for its services
	// (and build timestamp, model and kernel).
	ServicesError string `json:"servicesError,omitempty"`
	// Files are the status files of lapsebox's services, by name.
	Files []File `json:"files"`
	// FilesError says why the status file directory could not be read.
	FilesError string `json:"filesError,omitempty"`

	// Site is the site's name, from the site configuration.
	Site string `json:"site,omitempty"`
	// Health is whether the appliance is healthy, and why not.
	Health *Health `json:"health"`
	// Today is today's captures.
	Today *Timeline `json:"today"`
	// Errors are the recent errors of each service that has any.
	Errors []ServiceErrors `json:"errors"`
	// Update is updated's status (updated.json, redacted): the running
	// and committed releases, the trial, the available release and why
	// it waits, the last attempt. Absent without updated.json.
	Update *statusfile.Update `json:"update,omitempty"`
}

// Build identifies the software running on the appliance.
type Build struct {
	// Version is lapsebox's version (see BuildVersion).
	Version string `json:"version"`
	// GoVersion is the Go toolchain statusd was built with.
	GoVersion string `json:"goVersion"`
	// GokrazyTimestamp is when gokrazy built the running image, as gokrazy
	// reports it; empty if gokrazy could not be asked.
	GokrazyTimestamp string `json:"gokrazyTimestamp,omitempty"`
	// BootSHA256 is the sha256 of the boot file system the running build
	// was built with: a push whose image has the same one need not write
	// the boot partition. Empty if the image does not say.
	BootSHA256 string `json:"bootSHA256,omitempty"`
}

// Collect takes a snapshot. It blocks at most for the configured Timeout
// (or until ctx is done) while asking gokrazy for its services.
func (c *Collector) Collect(ctx context.Context) *Snapshot {
	now := c.cfg.Now()
	s := &Snapshot{
		Now: now,
		Build: Build{
			Version:    c.cfg.Version,
			GoVersion:  runtime.Version(),
			BootSHA256: c.cfg.BootSHA256,
		},
		Services: []Service{},
		Files:    []File{},
	}

	if h, err := readHostname(c.cfg.ProcDir); err == nil {
		s.Hostname = h
	}
	if up, err := readUptime(c.cfg.ProcDir); err != nil {
		s.UptimeError = err.Error()
	} else {
		s.UptimeSeconds = up.Seconds()
	}
	s.Perm = readPerm(c.cfg.ProcDir, c.cfg.PermDir)

	if gs, err := c.fetchGokrazy(ctx); err != nil {
		s.ServicesError = err.Error()
	} else {
		s.Build.GokrazyTimestamp = gs.BuildTimestamp
		s.Model = gs.Model
		s.Kernel = gs.Kernel
		if s.Hostname == "" {
			s.Hostname = gs.Hostname
		}
		s.Services = servicesFrom(gs.Services, c.cfg.ProcDir, now)
	}

	if fs, err := readFiles(c.cfg.RunDir, now, c.cfg.StaleAfter); err != nil {
		s.FilesError = err.Error()
	} else {
		s.Files = fs
	}

	site, siteErr := c.site()
	if site != nil {
		s.Site = site.Site.Name
	}
	s.Health = s.health()
	s.Today = timeline(now, site, siteErr, c.cfg.PermDir, s.camera())
	s.Errors = s.recentErrors()
	s.Update = s.update()
	return s
}

// site loads the site configuration: the one in use, as the services
// load it. Its error names the file relative to /perm, not by its path.
func (c *Collector) site() (*config.Config, error) {
	site, _, err := config.Load(c.cfg.PermDir)
	if err != nil {
		err = errors.New(strings.ReplaceAll(err.Error(), c.cfg.PermDir+string(filepath.Separator), ""))
	}
	return site, err
}

// File is one status file written by a lapsebox service into the run
// directory. Its modification time is the service's heartbeat.
type File struct {
	// Name is the file name without ".json": the service's name.
	Name string `json:"name"`
	// ModTime is the file's modification time.
	ModTime time.Time `json:"modTime"`
	// AgeSeconds is the time from ModTime to the snapshot.
	AgeSeconds float64 `json:"ageSeconds"`
	// Stale is true if the file is older than the configured StaleAfter.
	Stale bool `json:"stale"`
	// Status is the file's content, unchanged, if it is valid JSON.
	Status json.RawMessage `json:"status,omitempty"`
	// Error says why Status is missing.
	Error string `json:"error,omitempty"`
}
