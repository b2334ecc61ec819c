// Package config is the site configuration of a lapsebox appliance: where
// it is (name, time zone, position), which camera it drives and how, when it
// takes pictures, where it sends them, how long it keeps them, and the
// secrets the uploads need.
//
// The configuration is one JSON file, decoded strictly: an unknown field, a
// value of the wrong JSON type or a bad value is an error that names the
// field and its line, and all bad values are reported at once. A default
// configuration (default.json) is compiled in, so that a freshly flashed
// card takes pictures on first boot; /perm/lapsebox/config.json, when
// present, replaces it entirely (it is not merged with it).
//
// Secrets never appear in String, MarshalRedacted, fmt or slog output; only
// Marshal (for writing the file back) and Secret.Reveal show them.
package config

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"
	_ "time/tzdata" // gokrazy has no /usr/share/zoneinfo

	"github.com/lapsebox/lapsebox/appliance/schedule"
	"github.com/lapsebox/lapsebox/internal/strictjson"
)

//go:embed default.json
var defaultJSON []byte

// DefaultMinSize is the default smallest picture accepted, in bytes
// (Webcampak's default): anything smaller is a failed capture.
const DefaultMinSize = 3000

// DefaultSource is what Load reports when it used the built-in default.
const DefaultSource = "built-in default configuration"

// Path is where Load looks for the configuration, relative to /perm.
const Path = "lapsebox/config.json"

// PrevPath is where the device keeps the configuration that the last one
// written through its endpoint replaced, relative to /perm.
const PrevPath = Path + ".prev"

// Config is a validated site configuration.
type Config struct {
	// Site says where the appliance is.
	Site Site
	// Camera says which camera to drive and what to keep.
	Camera Camera
	// Schedule is ready to use: its Location and position are the site's,
	// and every window has its interval (a window without one in the file
	// inherits schedule.interval; a file without windows gets one window
	// covering every whole day).
	Schedule schedule.Schedule
	// Targets are the upload destinations, in file order.
	Targets []Target
	// Retention says when pictures leave /perm.
	Retention Retention
	// Modem configures the cellular modem.
	Modem Modem
	// Update configures pulled over-the-air updates; nil (no update
	// section) means the device pulls none.
	Update *Update
	// Hardware is what is wired to the GPIO lines, and the limits of the
	// health model.
	Hardware Hardware
	// Status configures the appliance's own web page.
	Status Status
	// Secrets holds upload tokens, passwords and the SIM PIN by name;
	// targets refer to them by name.
	Secrets map[string]Secret
}

// Site says where the appliance is.
type Site struct {
	// Name labels the site on status pages and uploads.
	Name string
	// TimeZone is the IANA name of the site's time zone ("Europe/Paris");
	// Location is it loaded.
	TimeZone string
	Location *time.Location
	// Latitude and Longitude are in degrees, north and east positive; nil
	// if the file gives none (allowed unless a window uses the sun).
	Latitude, Longitude *float64
}

// Mode says whether the appliance drives the camera.
type Mode string

const (
	// Capture: the appliance triggers a capture at every slot.
	Capture Mode = "capture"
	// Download: the camera shoots by itself (its own intervalometer); the
	// appliance only downloads new files.
	Download Mode = "download"
)

// Keep says which files of a capture are kept.
type Keep string

const (
	// KeepJPG keeps only the JPEG.
	KeepJPG Keep = "jpg"
	// KeepRAW keeps only the raw file.
	KeepRAW Keep = "raw"
	// KeepBoth keeps both.
	KeepBoth Keep = "both"
)

// Camera says which camera to use and what to do with it.
type Camera struct {
	// Model, if not empty, must be a substring of the camera's model
	// (case-insensitive); Serial, if not empty, must equal its serial
	// number. Both empty: the first camera found.
	Model, Serial string
	// Mode says whether to trigger captures or only download.
	Mode Mode
	// Keep says which files of a capture to keep.
	Keep Keep
	// MinSize is the smallest file, in bytes, accepted as a picture.
	MinSize int64
}

// Kind is the kind of an upload target.
type Kind string

const (
	// Cloud is lapsebox's own central server.
	Cloud Kind = "cloud"
	// WebDAV is a customer's WebDAV share.
	WebDAV Kind = "webdav"
	// S3 is an S3-compatible bucket.
	S3 Kind = "s3"
	// LiveCam is a web site showing the latest picture.
	LiveCam Kind = "livecam"
)

// Kinds lists the known target kinds.
var Kinds = []Kind{Cloud, WebDAV, S3, LiveCam}

// Target is one upload destination and its policy.
type Target struct {
	// Name identifies the target in the outbox and on status pages; it is
	// used as a directory name, so it is limited to [a-z0-9._-].
	Name string
	// Kind is one of Kinds.
	Kind Kind
	// Secret names the entry of Config.Secrets holding the target's
	// credentials (a token, a password); empty if it needs none.
	Secret string
	// URL is where pictures go: cloudd's base URL, a WebDAV collection, an
	// S3 endpoint.
	URL string
	// Bucket and Region are an S3 target's.
	Bucket, Region string
	// User is a WebDAV target's user name (its password is the secret).
	User string
	// Send is what the target gets of each capture (default by kind:
	// cloud and s3 originals, webdav jpg, livecam latest).
	Send Send
	// Process is the processing spec for derived and live-cam pictures
	// (appliance/process), as JSON; the uploader validates it.
	Process json.RawMessage
	// Windows, if any, are the only times the target is sent to (say, at
	// night when the link is idle).
	Windows []schedule.Window
	// MinInterval sends at most one picture per interval of capture time
	// (one an hour of a 5-minute time-lapse); the others are skipped.
	MinInterval time.Duration
	// MaxBytesPerSecond caps the target's bandwidth (0: no cap); targets
	// share the link fairly within their caps.
	MaxBytesPerSecond int64
	// Concurrency is how many transfers run at once (default 1).
	Concurrency int
	// Priority orders targets competing for the link: higher goes first.
	Priority int

	location *time.Location
	lat, lon float64
}

// Retention says when pictures leave /perm.
type Retention struct {
	// MaxAge deletes pictures older than this once every target has them;
	// zero keeps them until disk use requires otherwise.
	MaxAge time.Duration
	// HighWater and LowWater are percentages of /perm: above HighWater,
	// the oldest pictures every target has are deleted until use is below
	// LowWater.
	HighWater, LowWater int
	// Critical is the percentage above which the oldest pictures are
	// deleted even if a target still needs them (loudly).
	Critical int
}

// Error is one problem of a configuration file, located by its line and
// field: "config.json: line 12: targets[0].url: required".
type Error = strictjson.Error

// Parse decodes and validates a configuration file; name (usually the
// file's path) prefixes every error. All problems are returned together
// (errors.Join), each an *Error with its line and, for a bad value, its
// field; strictjson.Errors lists them.
//
// Processing specs ("process") are only checked to be JSON: the uploader
// reads them (appliance/process), and this package does not import it so
// that camerad does not link image processing. ParseChecked checks them.
func Parse(name string, data []byte) (*Config, error) {
	return ParseChecked(name, data, nil)
}

// ParseChecked is Parse that also checks each target's processing spec
// with checkSpec (process.CheckSpec): every error it returns is located in
// the file, as targets[i].process and below. The host tool and the
// device's configuration endpoint check files this way.
func ParseChecked(name string, data []byte, checkSpec func(spec []byte) error) (*Config, error) {
	f := defaults()
	if err := strictjson.Unmarshal(name, data, &f); err != nil {
		return nil, err
	}
	c, fieldErrs := f.validate()
	var errs []*Error
	for _, e := range fieldErrs {
		errs = append(errs, &Error{Field: e.Field, Err: e.Err})
	}
	var idx lineIndex
	if checkSpec != nil {
		for i, t := range f.Targets {
			if len(t.Process) == 0 || !json.Valid(t.Process) {
				continue // reported by validate
			}
			if idx == nil {
				idx = indexLines(data)
			}
			field := fmt.Sprintf("targets[%d].process", i)
			for _, e := range strictjson.Errors(checkSpec(t.Process)) {
				if e.Line > 0 {
					// A decoding error inside the spec: its offset is
					// relative to the spec, which is a verbatim part of
					// data.
					off := idx[field].value + e.Offset
					errs = append(errs, &Error{Line: strictjson.Line(data, off), Offset: off, Field: field, Err: e.Err})
					continue
				}
				ef := &Error{Field: field, Err: e.Err}
				if e.Field != "" {
					ef.Field += "." + e.Field
				}
				errs = append(errs, ef)
			}
		}
	}
	if len(errs) == 0 {
		return c, nil
	}
	if idx == nil {
		idx = indexLines(data)
	}
	out := make([]error, len(errs))
	for _, e := range errs {
		e.Name = name
		if e.Line == 0 {
			e.Line = idx.line(e.Field)
		}
	}
	// In file order, so a person can fix them top to bottom.
	slices.SortStableFunc(errs, func(a, b *Error) int { return a.Line - b.Line })
	for i, e := range errs {
		out[i] = e
	}
	return nil, errors.Join(out...)
}

// Check validates a configuration file without using it.
func Check(name string, data []byte) error {
	_, err := Parse(name, data)
	return err
}

// Default returns the built-in default configuration, a fresh copy each
// time.
func Default() *Config {
	c, err := Parse("default.json", defaultJSON)
	if err != nil {
		panic("config: the built-in default.json is invalid: " + err.Error())
	}
	return c
}

// DefaultJSON returns the text of the built-in default configuration, a
// starting point for a site's own file.
func DefaultJSON() []byte {
	return append([]byte(nil), defaultJSON...)
}

// Load reads permDir/lapsebox/config.json (permDir is "/perm" on a device)
// and returns it with its path as source. If the file does not exist, it
// returns the built-in default and DefaultSource.
//
// If the file exists but cannot be read or is invalid, Load returns the
// error (naming the file, each field and line) together with the
// configuration it replaced (PrevPath, kept by the device's configuration
// endpoint) if that one is valid, else the built-in default, so that the
// caller can keep taking and sending pictures while the error is shown,
// rather than stop.
func Load(permDir string) (c *Config, source string, err error) {
	u := LoadInUse(permDir)
	return u.Config, u.Source, u.Err
}

// InUse is the configuration Load chooses, with the bytes it came from.
type InUse struct {
	// Config, Source and Err are what Load returns.
	Config *Config
	Source string
	Err    error
	// Data is the text of Source (the built-in default's for
	// DefaultSource).
	Data []byte
	// File is the text of config.json, nil if there is none, whether or
	// not it is the one in use.
	File []byte
}

// LoadInUse is Load, telling more.
func LoadInUse(permDir string) InUse {
	path := filepath.Join(permDir, Path)
	data, err := ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return InUse{Config: Default(), Source: DefaultSource, Data: DefaultJSON()}
	}
	u := InUse{File: data}
	if err == nil {
		if u.Config, err = Parse(path, data); err == nil {
			u.Source, u.Data = path, data
			return u
		}
	} else {
		err = fmt.Errorf("config: %w", err)
	}
	u.Err = err
	prev := filepath.Join(permDir, PrevPath)
	if b, perr := ReadFile(prev); perr == nil {
		if c, perr := Parse(prev, b); perr == nil {
			u.Config, u.Source, u.Data = c, prev, b
			return u
		}
	}
	u.Config, u.Source, u.Data = Default(), DefaultSource, DefaultJSON()
	return u
}

// MaxFileSize is the largest configuration file read or accepted: a site
// with many targets needs a few KiB.
const MaxFileSize = 256 << 10

// ReadFile reads a configuration file that must be a regular file of at
// most MaxFileSize bytes: a symbolic link is not followed (nothing on /perm
// should point elsewhere), and a FIFO or device does not block the reader.
func ReadFile(path string) ([]byte, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file (%v): not read", path, fi.Mode().Type())
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if ofi, err := f.Stat(); err != nil || !os.SameFile(fi, ofi) {
		return nil, fmt.Errorf("%s changed while being opened: not read", path)
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxFileSize {
		return nil, fmt.Errorf("%s is larger than %d KiB: not read", path, MaxFileSize>>10)
	}
	return b, nil
}

// Marshal encodes c as a configuration file that Parse reads back to the
// same configuration, secrets included: use it only to write the file.
// The schedule is written fully resolved (every window with its interval).
func (c *Config) Marshal() ([]byte, error) {
	f := c.file()
	for k, v := range c.Secrets {
		f.Secrets[k] = v.Reveal()
	}
	return marshal(f)
}

// MarshalRedacted encodes c like Marshal, with every secret replaced by
// "[redacted]": for status pages and logs.
func (c *Config) MarshalRedacted() ([]byte, error) {
	return marshal(c.file())
}

// String returns c as one line of redacted JSON.
func (c *Config) String() string {
	b, err := json.Marshal(c.file())
	if err != nil {
		return fmt.Sprintf("config: %v", err)
	}
	return string(b)
}

func marshal(f fileConfig) ([]byte, error) {
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// file converts c back to the file's shape, secrets redacted.
func (c *Config) file() fileConfig {
	f := fileConfig{
		Site: fileSite{Name: c.Site.Name, TimeZone: c.Site.TimeZone, Latitude: c.Site.Latitude, Longitude: c.Site.Longitude},
		Camera: fileCamera{Model: c.Camera.Model, Serial: c.Camera.Serial, Mode: string(c.Camera.Mode),
			Keep: string(c.Camera.Keep), MinSize: c.Camera.MinSize},
		Schedule: fileSchedule{Interval: "5m", MinGap: schedule.FormatDuration(c.Schedule.MinGap), Windows: []fileWindow{}},
		Targets:  []fileTarget{},
		Retention: fileRetention{MaxAge: formatDays(c.Retention.MaxAge), HighWater: c.Retention.HighWater,
			LowWater: c.Retention.LowWater, Critical: c.Retention.Critical},
		Modem:    c.Modem.file(),
		Update:   c.Update.file(),
		Hardware: c.Hardware.file(),
		Status:   c.Status.file(),
		Secrets:  map[string]string{},
	}
	for i, w := range c.Schedule.Windows {
		iv := schedule.FormatDuration(w.Interval)
		if i == 0 {
			f.Schedule.Interval = iv
		}
		f.Schedule.Windows = append(f.Schedule.Windows, fileWindow{Days: w.Days.Names(), Start: w.Start.String(), End: w.End.String(), Interval: iv})
	}
	for _, t := range c.Targets {
		ft := fileTarget{Name: t.Name, Kind: string(t.Kind), Secret: t.Secret, URL: t.URL, Bucket: t.Bucket,
			Region: t.Region, User: t.User, Send: string(t.Send), Process: t.Process,
			MaxBytesPerSecond: t.MaxBytesPerSecond, Concurrency: t.Concurrency, Priority: t.Priority}
		if t.MinInterval > 0 {
			ft.MinInterval = schedule.FormatDuration(t.MinInterval)
		}
		for _, w := range t.Windows {
			ft.Windows = append(ft.Windows, fileWindow{Days: w.Days.Names(), Start: w.Start.String(), End: w.End.String()})
		}
		f.Targets = append(f.Targets, ft)
	}
	for k := range c.Secrets {
		f.Secrets[k] = redacted
	}
	return f
}

// Matches reports whether a camera with this model and serial number is the
// one configured.
func (c Camera) Matches(model, serial string) bool {
	return (c.Model == "" || containsFold(model, c.Model)) && (c.Serial == "" || serial == c.Serial)
}
