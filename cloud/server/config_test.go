package server

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoadConfig(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "cloudd.json")
	os.WriteFile(p, []byte(`{
  "root": "/srv/lapsebox",
  "database": "postgres://cloudd@db.internal/lapsebox?sslmode=verify-full",
  "listen": ":443", "tls_cert": "/etc/lapsebox/cert.pem", "tls_key": "/etc/lapsebox/key.pem",
  "alerts": {"silent_after": "20m", "grace": {"dark": "2h"}},
  "smtp": {"server": "smtp.example.com:587", "user": "u", "password": "p", "from": "a@example.com", "to": ["b@example.com"]}
}`), 0o600)
	c, err := LoadConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.Alerts.rules()
	if err != nil || r.SilentAfter != 20*time.Minute || r.Grace["dark"] != 2*time.Hour || c.SMTP.To[0] != "b@example.com" {
		t.Errorf("%+v %+v %v", c, r, err)
	}
	for _, bad := range []struct{ doc, want string }{
		{`{"root": "x", "lsten": ":80"}`, `unknown field "lsten"`},
		{`{"root": "x",
"alerts": {"silent_after": "soon"}}`, `line 2: "soon": want a duration`},
		{`{"root": "x",
"alerts": {"grace": {"darkness": "1h"}}}`, ""},
	} {
		os.WriteFile(p, []byte(bad.doc), 0o600)
		c, err := LoadConfig(p)
		if err == nil {
			_, err = c.Alerts.rules()
		}
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: %v, want %q", bad.doc, err, bad.want)
		}
	}
}

func TestArchiveConfig(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "cloudd.json")
	secret := filepath.Join(dir, "s3.secret")
	os.WriteFile(secret, []byte("from-a-file\n"), 0o600)
	for _, tc := range []struct{ doc, want string }{
		{`{"root": "/srv/p", "archive": {"dir": "/mnt/b/lapsebox", "scrub_interval": "12h", "scrub_rate": 1000000}}`, ""},
		{`{"root": "/srv/p", "archive": {"s3": {"endpoint": "http://127.0.0.1:9000", "bucket": "b", "prefix": "lapsebox/", "access_key": "a", "secret_key_file": "` + secret + `", "path_style": true}}}`, ""},
		{`{"root": "/srv/p", "archive": {"dir": "/mnt/b", "s3": {"endpoint": "http://h", "bucket": "b", "access_key": "a", "secret_key": "s"}}}`, "both set"},
		{`{"root": "/srv/p", "archive": {"dir": "b"}}`, "want an absolute path"},
		{`{"root": "/srv/p", "archive": {"dir": "/srv/p/copy"}}`, "must not be in the photos' root"},
		{`{"root": "/srv/p", "archive": {"dir": "/srv"}}`, "must not be in the photos' root"},
		{`{"root": "/srv/p", "archive": {"s3": {"endpoint": "http://h", "bucket": "b", "access_key": "a"}}}`, "are required"},
		{`{"root": "/srv/p", "archive": {"s3": {"endpoint": "http://h", "bucket": "b", "access_key": "a", "secret_key": "s", "secret_key_file": "f"}}}`, "both set"},
		{`{"root": "/srv/p", "archive": {"s3": {"endpoint": "ftp://h", "bucket": "b", "access_key": "a", "secret_key": "s"}}}`, "endpoint"},
		{`{"root": "/srv/p", "archive": {"s3": {"endpoint": "http://h", "bucket": "b", "prefix": "../x/", "access_key": "a", "secret_key": "s"}}}`, "prefix"},
		{`{"root": "/srv/p", "archive": {"s3": {"endpoint": "http://h", "bucket": "b", "prefix": "x", "access_key": "a", "secret_key": "s"}}}`, "ending in a slash"},
		{`{"root": "/srv/p",
"archive": {"s3": {"endpoint": "http://h", "bukket": "b"}}}`, `line 2: unknown field "bukket"`},
		{`{"root": "/srv/p", "archive": {"dir": "/mnt/b", "scrub_interval": "daily"}}`, "want a duration"},
		{`{"root": "/srv/p", "ingest": {"max_size": 6000000000}, "archive": {"s3": {"endpoint": "http://h", "bucket": "b", "access_key": "a", "secret_key": "s"}}}`, "more than the 5368709120 bytes"},
	} {
		os.WriteFile(p, []byte(tc.doc), 0o600)
		c, err := LoadConfig(p)
		if err == nil {
			_, err = c.Archive.check(c.Root, c.Ingest.MaxSize)
		}
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: %v, want %q", tc.doc, err, tc.want)
		}
	}
	if iv, rate := (*ArchiveConfig)(nil).scrub(); iv != DefaultScrubInterval || rate != DefaultScrubRate {
		t.Errorf("defaults: %v, %d", iv, rate)
	}
}

func TestLoadPagesConfig(t *testing.T) {
	p := filepath.Join(t.TempDir(), "cloudd.json")
	os.WriteFile(p, []byte(`{"root": "/srv/lapsebox",
  "pages": {"live_refresh": "10s", "timelapse": {"after": "90m", "fps": 30, "deflicker": true, "backfill_days": 7, "ffmpeg": "/opt/ffmpeg"}}}`), 0o600)
	c, err := LoadConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	tl := c.Pages.Timelapse.config()
	if time.Duration(c.Pages.LiveRefresh) != 10*time.Second || tl.After != 90*time.Minute || tl.FPS != 30 || !tl.Deflicker || tl.Backfill != 7 || tl.FFmpeg != "/opt/ffmpeg" || tl.Off {
		t.Errorf("pages: %+v, %+v", c.Pages, tl)
	}
	os.WriteFile(p, []byte(`{"root": "x", "pages": {"timelapse": {"deflickr": true}}}`), 0o600)
	if _, err := LoadConfig(p); err == nil || !strings.Contains(err.Error(), `unknown field "deflickr"`) {
		t.Errorf("a misspelt key: %v", err)
	}
}
