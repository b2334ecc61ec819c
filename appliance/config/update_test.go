package config

import (
	"strings"
	"testing"
	"time"
)

func TestUpdateSection(t *testing.T) {
	if u := Default().Update; u != nil {
		t.Errorf("default configuration has an update section %+v; without one the device must pull nothing", u)
	}
	const base = `{"site": {"name": "s", "time_zone": "UTC"},
		"targets": [{"name": "cam", "kind": "livecam", "url": "https://w.example/"}, {"name": "home", "kind": "cloud", "url": "https://c.example/", "secret": "tok"}],
		"secrets": {"tok": "t0k3n"}, "update": %s}`
	c, err := Parse("x.json", []byte(strings.Replace(base, "%s", "{}", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if u := c.Update; u == nil || u.Channel != "stable" || u.PollEvery != 6*time.Hour || u.WindowStart.String() != "02:00" || u.WindowEnd.String() != "05:00" || u.TrialTime != 20*time.Minute {
		t.Errorf("empty update section %+v, want the defaults", u)
	}
	good := `{"target": "home", "channel": "beta", "window_start": "23:00", "window_end": "01:30", "poll_every": "1h", "trial_time": "45m"}`
	c, err = Parse("x.json", []byte(strings.Replace(base, "%s", good, 1)))
	if err != nil {
		t.Fatal(err)
	}
	if c.Update.Target != "home" || c.Update.Channel != "beta" || c.Update.PollEvery != time.Hour || c.Update.TrialTime != 45*time.Minute {
		t.Errorf("update %+v", c.Update)
	}
	// Written back and read again, it is the same.
	b, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	c2, err := Parse("again.json", b)
	if err != nil {
		t.Fatal(err)
	}
	if *c2.Update != *c.Update {
		t.Errorf("round trip: %+v, want %+v", c2.Update, c.Update)
	}
	for _, tt := range []struct{ at, want string }{{"22:59", "no"}, {"23:00", "yes"}, {"00:10", "yes"}, {"01:30", "no"}, {"12:00", "no"}} {
		at, _ := time.Parse("15:04", tt.at)
		if got := map[bool]string{true: "yes", false: "no"}[c.Update.InWindow(at)]; got != tt.want {
			t.Errorf("InWindow(%s) = %s, want %s", tt.at, got, tt.want)
		}
	}

	for _, tt := range []struct{ section, field, msg string }{
		{`{"target": "nowhere"}`, "update.target", "not the name of a target"},
		{`{"target": "cam"}`, "update.target", "releases come from a cloud target"},
		{`{"channel": "../x"}`, "update.channel", "lower-case letters"},
		{`{"window_start": "sunrise"}`, "update.window_start", "time of day"},
		{`{"window_end": "25:00"}`, "update.window_end", ""},
		{`{"poll_every": "1m"}`, "update.poll_every", "at least 10m"},
		{`{"trial_time": "30s"}`, "update.trial_time", "between 1m and 24h"},
		{`{"trial_time": "soon"}`, "update.trial_time", ""},
		{`{"Channel": "stable"}`, "", `use "channel"`},
	} {
		_, err := Parse("x.json", []byte(strings.Replace(base, "%s", tt.section, 1)))
		if err == nil {
			t.Errorf("%s: accepted", tt.section)
			continue
		}
		if !strings.Contains(err.Error(), tt.field) || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%s: %v, want %s: %s", tt.section, err, tt.field, tt.msg)
		}
	}
}
