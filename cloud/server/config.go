package server

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/lapsebox/lapsebox/cloud/fleet"
	"github.com/lapsebox/lapsebox/cloud/gallery"
	"github.com/lapsebox/lapsebox/internal/strictjson"
)

// Config is cloudd's configuration: the file given with -config (JSON,
// snake_case keys, decoded strictly), or flags over the defaults. The
// zero value of a field is its default.
type Config struct {
	// Root holds the received photos, <root>/<device>/<name>; with the
	// embedded database, also the fleet state (<root>/.state/fleet.db).
	Root string `json:"root"`
	// Spool holds uploads in progress (default <root>/.spool).
	Spool string `json:"spool,omitempty"`
	// Database is the fleet state: "postgres://user@host/db?sslmode=…"
	// to share it between several cloudd, or an SQLite file (default
	// <root>/.state/fleet.db).
	Database string `json:"database,omitempty"`
	// Listen is the public address: devices' uploads and heartbeats, the
	// fleet page (default ":8080").
	Listen string `json:"listen,omitempty"`
	// AdminListen is the private address: metrics, the JSON API, the
	// status (default "localhost:9091"; "off": none).
	AdminListen string `json:"admin_listen,omitempty"`
	// TLSCert and TLSKey make Listen serve HTTPS.
	TLSCert string `json:"tls_cert,omitempty"`
	TLSKey  string `json:"tls_key,omitempty"`
	// PublicURL is how people reach the public address
	// ("https://cloud.example.com"), for links in notifications; an
	// https URL also marks the operators' cookies Secure behind a proxy
	// that terminates TLS.
	PublicURL string `json:"public_url,omitempty"`
	// TimeZone is where the fleet's days begin, for "missed today"
	// (default the server's).
	TimeZone string `json:"time_zone,omitempty"`
	// Tokens is a token file of device tokens' hashes (the format of
	// cloudd before its database), used beside the database's devices.
	Tokens string `json:"tokens,omitempty"`
	// Ingest bounds the uploads.
	Ingest IngestConfig `json:"ingest"`
	// Archive is the photos' second copy and its scrubber (nil: photos
	// are kept once).
	Archive *ArchiveConfig `json:"archive,omitempty"`
	// Alerts are the thresholds and grace periods.
	Alerts AlertsConfig `json:"alerts"`
	// Webhook and SMTP are where alerts go (neither: nowhere but the
	// fleet page, the metrics and the log).
	Webhook *WebhookConfig `json:"webhook,omitempty"`
	SMTP    *SMTPConfig    `json:"smtp,omitempty"`
	// Pages configures the customers' pages (cloud/gallery).
	Pages PagesConfig `json:"pages"`
}

// PagesConfig configures the customers' pages.
type PagesConfig struct {
	// LiveRefresh is how often a live page looks for a newer picture
	// (default 30s).
	LiveRefresh Duration        `json:"live_refresh,omitempty"`
	Timelapse   TimelapseConfig `json:"timelapse"`
}

// TimelapseConfig configures the daily time-lapse videos.
type TimelapseConfig struct {
	// Off: no videos.
	Off bool `json:"off,omitempty"`
	// After is how long after midnight (time_zone's) a day's video is
	// made (default 1h).
	After Duration `json:"after,omitempty"`
	// FPS is the frame rate (default 25).
	FPS int `json:"fps,omitempty"`
	// Deflicker evens out the brightness between frames.
	Deflicker bool `json:"deflicker,omitempty"`
	// BackfillDays is how many past days get a video at most (default 30).
	BackfillDays int `json:"backfill_days,omitempty"`
	// FFmpeg is the ffmpeg program (default: ffmpeg in PATH).
	FFmpeg string `json:"ffmpeg,omitempty"`
}

func (t TimelapseConfig) config() gallery.TimelapseConfig {
	return gallery.TimelapseConfig{Off: t.Off, After: time.Duration(t.After), FPS: t.FPS, Deflicker: t.Deflicker,
		Backfill: t.BackfillDays, FFmpeg: t.FFmpeg}
}

// IngestConfig bounds the uploads (see cloud/ingest).
type IngestConfig struct {
	MaxSize       int64    `json:"max_size,omitempty"`
	Expire        Duration `json:"expire,omitempty"`
	MaxUploads    int      `json:"max_uploads,omitempty"`
	MaxSpoolBytes int64    `json:"max_spool_bytes,omitempty"`
	MaxConns      int      `json:"max_conns,omitempty"`
}

// AlertsConfig are fleet.Rules in the file.
type AlertsConfig struct {
	SilentAfter     Duration            `json:"silent_after,omitempty"`
	MissedSlots     int                 `json:"missed_slots,omitempty"`
	MissedWindow    Duration            `json:"missed_window,omitempty"`
	MinPictureBytes int64               `json:"min_picture_bytes,omitempty"`
	MinBrightness   float64             `json:"min_brightness,omitempty"`
	QueueWindow     Duration            `json:"queue_window,omitempty"`
	QueueGrowth     int64               `json:"queue_growth,omitempty"`
	DiskPercent     float64             `json:"disk_percent,omitempty"`
	MinAutonomyDays float64             `json:"min_autonomy_days,omitempty"`
	MaxTempC        float64             `json:"max_temp_c,omitempty"`
	Grace           map[string]Duration `json:"grace,omitempty"`
}

// WebhookConfig posts alerts as JSON.
type WebhookConfig struct {
	URL string `json:"url"`
	// Secret signs each body (HMAC-SHA256 in Lapsebox-Signature).
	Secret string `json:"secret,omitempty"`
}

// SMTPConfig mails alerts, over STARTTLS.
type SMTPConfig struct {
	Server   string   `json:"server"` // "smtp.example.com:587"
	User     string   `json:"user,omitempty"`
	Password string   `json:"password,omitempty"`
	From     string   `json:"from"`
	To       []string `json:"to"`
}

// Duration is a time.Duration written as a string ("15m", "6h").
type Duration time.Duration

// UnmarshalJSON implements json.Unmarshaler.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("want a duration such as \"15m\"")
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		return fmt.Errorf("%q: want a duration such as \"15m\"", s)
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON implements json.Marshaler.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// LoadConfig reads a configuration file strictly: unknown fields and bad
// values are errors that name the field and line.
func LoadConfig(path string) (Config, error) {
	var c Config
	b, err := os.ReadFile(path)
	if err != nil {
		return c, err
	}
	if err := strictjson.Unmarshal(filepath.Base(path), b, &c); err != nil {
		return c, err
	}
	return c, nil
}

// rules are the file's alert settings as fleet.Rules.
func (a AlertsConfig) rules() (fleet.Rules, error) {
	r := fleet.Rules{
		SilentAfter: time.Duration(a.SilentAfter), MissedSlots: a.MissedSlots, MissedWindow: time.Duration(a.MissedWindow),
		MinPictureBytes: a.MinPictureBytes, MinLuma: a.MinBrightness, QueueWindow: time.Duration(a.QueueWindow),
		QueueGrowth: a.QueueGrowth, DiskPercent: a.DiskPercent, MinAutonomyDays: a.MinAutonomyDays, MaxTempC: a.MaxTempC,
		Grace: map[string]time.Duration{},
	}
	for k, v := range a.Grace {
		known := false
		for _, kind := range fleet.Kinds {
			known = known || kind == k
		}
		if !known {
			return r, fmt.Errorf("alerts.grace: %q is not a kind of alert (%v)", k, fleet.Kinds)
		}
		r.Grace[k] = time.Duration(v)
	}
	return r, nil
}
