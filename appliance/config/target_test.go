package config

import (
	"strings"
	"testing"
	"time"
)

func parseTargets(t *testing.T, targets string) (*Config, error) {
	t.Helper()
	return Parse("t.json", []byte(`{"site": {"name": "s", "time_zone": "Europe/Paris"},
"targets": [`+targets+`], "secrets": {"tok": "x"}}`))
}

func TestTargetPolicyErrors(t *testing.T) {
	for _, tc := range []struct{ targets, want string }{
		{`{"name": "a", "kind": "cloud"}`, `targets[0].url: required`},
		{`{"name": "a", "kind": "cloud", "url": "ftp://x"}`, `targets[0].url: "ftp://x" is not an http or https URL`},
		{`{"name": "a", "kind": "webdav", "url": "https://u:p@x/"}`, `credentials in the URL`},
		{`{"name": "a", "kind": "webdav", "url": "https://x/dav/?access_token=abc"}`, `targets[0].url: a query string would show`},
		{`{"name": "a", "kind": "cloud", "url": "https://x/?"}`, `targets[0].url: a query string would show`},
		{`{"name": "a", "kind": "s3", "url": "https://x"}`, `targets[0].bucket: required`},
		{`{"name": "a", "kind": "cloud", "url": "https://x", "send": "everything"}`, `targets[0].send: "everything" is not one of`},
		{`{"name": "a", "kind": "webdav", "url": "https://x", "send": "derived"}`, `targets[0].process: required`},
		{`{"name": "a", "kind": "cloud", "url": "https://x", "min_interval": "often"}`, `targets[0].min_interval`},
		{`{"name": "a", "kind": "cloud", "url": "https://x", "concurrency": 50}`, `targets[0].concurrency: 50`},
		{`{"name": "a", "kind": "cloud", "url": "https://x", "windows": [{"start": "25:00", "end": "06:00"}]}`, `targets[0].windows[0].start`},
		{`{"name": "a", "kind": "cloud", "url": "https://x", "windows": [{"start": "sunset", "end": "sunrise"}]}`, `site.latitude: required: targets[0].windows[0] uses the sun`},
	} {
		_, err := parseTargets(t, tc.targets)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.targets, err, tc.want)
		}
	}
	// A URL that does not parse is shown without the password it holds.
	_, err := parseTargets(t, `{"name": "a", "kind": "webdav", "url": "https://alice:hunter2@x:port/?t=s3cret"}`)
	if err == nil || strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), "targets[0].url") {
		t.Errorf("unparsable URL with credentials: %v", err)
	}
	c, err := parseTargets(t, `{"name": "watcher", "kind": "cloud", "send": "nothing"}`)
	if err != nil || c.Targets[0].Wants(false) {
		t.Errorf("a supervision-only target: %v, wants a JPG: %v", err, c != nil && c.Targets[0].Wants(false))
	}
}

func TestTargetDefaultsAndWants(t *testing.T) {
	c, err := parseTargets(t, `{"name": "c", "kind": "cloud", "url": "https://x"},
{"name": "d", "kind": "webdav", "url": "https://x"},
{"name": "l", "kind": "livecam", "url": "https://x"}`)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []struct {
		send      Send
		raw, jpeg bool
	}{{SendOriginals, true, true}, {SendJPG, false, true}, {SendLatest, false, true}} {
		tg := c.Targets[i]
		if tg.Send != want.send || tg.Wants(true) != want.raw || tg.Wants(false) != want.jpeg || tg.Concurrency != 1 {
			t.Errorf("%s: send %s, wants RAW %v JPG %v, concurrency %d", tg.Name, tg.Send, tg.Wants(true), tg.Wants(false), tg.Concurrency)
		}
	}
}

func TestTargetInWindow(t *testing.T) {
	c, err := parseTargets(t, `{"name": "night", "kind": "cloud", "url": "https://x", "windows": [{"start": "22:00", "end": "06:00"}]}`)
	if err != nil {
		t.Fatal(err)
	}
	paris, _ := time.LoadLocation("Europe/Paris")
	tg := c.Targets[0]
	for _, tc := range []struct {
		at       time.Time
		in       bool
		nextOpen time.Time
	}{
		{time.Date(2026, 11, 26, 23, 0, 0, 0, paris), true, time.Time{}},
		{time.Date(2026, 11, 27, 5, 59, 0, 0, paris), true, time.Time{}},
		{time.Date(2026, 11, 27, 6, 0, 0, 0, paris), false, time.Date(2026, 11, 27, 22, 0, 0, 0, paris)},
		{time.Date(2026, 11, 27, 12, 0, 0, 0, paris), false, time.Date(2026, 11, 27, 22, 0, 0, 0, paris)},
	} {
		in, next := tg.InWindow(tc.at)
		if in != tc.in || !next.Equal(tc.nextOpen) {
			t.Errorf("InWindow(%v) = %v, %v; want %v, %v", tc.at, in, next, tc.in, tc.nextOpen)
		}
	}
	if in, _ := c.Targets[0].InWindow(time.Now()); !in && len(c.Targets[0].Windows) == 0 {
		t.Error("a target without windows is closed")
	}
}
