package config

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/appliance/process"
	"github.com/lapsebox/lapsebox/appliance/schedule"
	"github.com/lapsebox/lapsebox/internal/strictjson"
)

func readExample(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/example.json")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDefault(t *testing.T) {
	c := Default()
	if c.Site.Location != time.UTC || c.Camera.Mode != Capture || c.Camera.MinSize != DefaultMinSize {
		t.Errorf("Default() = %v", c)
	}
	// Every 5 minutes, all day: 288 slots.
	from := time.Date(2026, 6, 15, 0, 0, 0, 0, time.UTC)
	if n := len(c.Schedule.Slots(from, from.Add(24*time.Hour))); n != 288 {
		t.Errorf("default schedule: %d slots a day, want 288", n)
	}
	if Default() == c || Default().Secrets == nil {
		t.Errorf("Default() does not return a fresh copy")
	}
}

func TestLoad(t *testing.T) {
	perm := t.TempDir()
	c, src, err := Load(perm)
	if err != nil || src != DefaultSource || c.Site.Name != "lapsebox" {
		t.Fatalf("Load(empty perm) = %v, %q, %v", c, src, err)
	}

	path := filepath.Join(perm, "lapsebox", "config.json")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, readExample(t), 0o600); err != nil {
		t.Fatal(err)
	}
	c, src, err = Load(perm)
	if err != nil || src != path || c.Site.Name != "Quai de la Gare tower crane" {
		t.Fatalf("Load(perm with file) = %v, %q, %v", c, src, err)
	}

	// An invalid file: the error names the file, the default comes back.
	if err := os.WriteFile(path, []byte("{\n \"site\": {\"name\": \"x\", \"time_zone\": \"Mars/Olympus\"}\n}"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, src, err = Load(perm)
	if err == nil || !strings.Contains(err.Error(), path+": line 2: site.time_zone: \"Mars/Olympus\" is not a known time zone") {
		t.Errorf("Load(invalid) error = %v", err)
	}
	if c == nil || src != DefaultSource {
		t.Errorf("Load(invalid) = %v, %q; want the default", c, src)
	}
}

func TestExample(t *testing.T) {
	c, err := Parse("example.json", readExample(t))
	if err != nil {
		t.Fatal(err)
	}
	paris, _ := time.LoadLocation("Europe/Paris")
	if c.Site.Location.String() != "Europe/Paris" || *c.Site.Latitude != 48.8339 {
		t.Errorf("site = %+v", c.Site)
	}
	if c.Camera != (Camera{Model: "Canon EOS", Mode: Capture, Keep: KeepBoth, MinSize: 3000}) {
		t.Errorf("camera = %+v", c.Camera)
	}
	w := c.Schedule.Windows
	if len(w) != 3 || w[0].Interval != 5*time.Minute || w[1].Interval != 10*time.Minute ||
		w[0].Start != (schedule.Edge{Anchor: schedule.Sunrise, Offset: -30 * time.Minute}) ||
		!w[2].Days.Has(time.Friday) || w[2].Days.Has(time.Monday) {
		t.Errorf("windows = %+v", w)
	}
	if got, ok := c.Schedule.Next(time.Date(2026, 6, 13, 11, 2, 0, 0, paris)); !ok || !got.Equal(time.Date(2026, 6, 13, 11, 10, 0, 0, paris)) {
		t.Errorf("Saturday Next = %v", got)
	}
	if len(c.Targets) != 3 || c.Targets[1].Name != "client-share" || c.Targets[1].Kind != WebDAV || c.Targets[1].Secret != "client-dav" || c.Targets[1].Send != SendJPG || c.Targets[1].User != "site7" || len(c.Targets[1].Windows) != 1 || c.Targets[1].MaxBytesPerSecond != 50000 {
		t.Errorf("targets = %+v", c.Targets)
	}
	if c.Retention != (Retention{MaxAge: 365 * 24 * time.Hour, HighWater: 85, LowWater: 75, Critical: 95}) {
		t.Errorf("retention = %+v", c.Retention)
	}
	if c.Secrets["sim-pin"].Reveal() != "1234" {
		t.Errorf("secrets = %v", c.Secrets)
	}
}

// TestErrors checks that each bad value is reported with the file, the line
// and the field.
func TestErrors(t *testing.T) {
	const base = `{
  "site": {"name": "s", "time_zone": "Europe/Paris", "latitude": 48.8, "longitude": 2.3},
  "schedule": {
    "windows": [
      {"start": "07:00", "end": "19:00"},
      {"start": "%s", "end": "%s", "interval": "%s", "days": [%s]}
    ]
  },
  "targets": [%s],
  "retention": {%s},
  "secrets": {%s}
}`
	type fill struct{ start, end, iv, days, targets, retention, secrets string }
	ok := fill{"08:00", "09:00", "10m", `"mon"`, `{"name": "a", "kind": "s3", "url": "https://s3.example", "bucket": "b"}`, `"max_age": "30d"`, `"k": "v"`}
	for _, tc := range []struct {
		name string
		edit func(f *fill)
		want []string
	}{
		{"valid", func(*fill) {}, nil},
		{"bad start", func(f *fill) { f.start = "25:00" },
			[]string{`x.json: line 6: schedule.windows[1].start: "25:00" is not a time of day`}},
		{"bad end and interval", func(f *fill) { f.end = "sunset+forever"; f.iv = "0s" },
			[]string{`line 6: schedule.windows[1].end: "sunset+forever": bad offset`, `line 6: schedule.windows[1].interval: 0s is not between 1s and 24h`}},
		{"bad day", func(f *fill) { f.days = `"mon", "funday"` },
			[]string{`line 6: schedule.windows[1].days[1]: "funday" is not a day of the week`}},
		{"unknown kind", func(f *fill) { f.targets = `{"name": "a", "kind": "ftp"}` },
			[]string{`line 9: targets[0].kind: "ftp" is not a target kind`}},
		{"duplicate target", func(f *fill) {
			f.targets = `{"name": "a", "kind": "s3", "url": "https://s3.example", "bucket": "b"}, {"name": "a", "kind": "cloud", "url": "https://cloud.example"}`
		},
			[]string{`line 9: targets[1].name: "a" is already the name of targets[0]`}},
		{"bad target name", func(f *fill) { f.targets = `{"name": "A B", "kind": "s3", "url": "https://s3.example", "bucket": "b"}` },
			[]string{`targets[0].name: "A B" is not a name`}},
		{"missing secret", func(f *fill) {
			f.targets = `{"name": "a", "kind": "s3", "url": "https://s3.example", "bucket": "b", "secret": "nope"}`
		},
			[]string{`targets[0].secret: "nope" is not in secrets`}},
		{"water marks", func(f *fill) { f.retention = `"high_water": 70, "low_water": 80` },
			[]string{`line 10: retention.low_water: 80 is not below high_water (70)`}},
		{"max age", func(f *fill) { f.retention = `"max_age": "a year"` },
			[]string{`retention.max_age: "a year" is not a duration`}},
		{"empty secret", func(f *fill) { f.secrets = `"k": ""` },
			[]string{`line 11: secrets.k: empty`}},
		{"all at once", func(f *fill) {
			f.start = "7h"
			f.end = "noon"
			f.targets = `{"name": "a", "kind": "ftp"}`
			f.secrets = `"k": ""`
		},
			[]string{"windows[1].start", "windows[1].end", "targets[0].kind", "secrets.k"}},
	} {
		f := ok
		tc.edit(&f)
		data := fmt.Sprintf(base, f.start, f.end, f.iv, f.days, f.targets, f.retention, f.secrets)
		err := Check("x.json", []byte(data))
		if tc.want == nil {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error\n%v\ndoes not contain %q", tc.name, err, w)
			}
		}
		if n := len(strings.Split(err.Error(), "\n")); n != len(tc.want) {
			t.Errorf("%s: %d errors, want %d:\n%v", tc.name, n, len(tc.want), err)
		}
	}
}

func TestErrorsOther(t *testing.T) {
	for _, tc := range []struct {
		in, want string
	}{
		{"{\n \"site\": {\"name\": \"s\", \"time_zone\": \"UTC\"},\n \"camra\": {}\n}", `x.json: line 3: unknown field "camra"`},
		{"{\n \"site\": {\"name\": \"s\", \"time_zone\": \"UTC\"},\n \"camera\": {\"min_size\": \"big\"}\n}", `x.json: line 3: field "camera.min_size": cannot use a JSON string`},
		{`{"site": {"name": "s"}}`, `x.json: line 1: site.time_zone: required`},
		{`{"site": {"time_zone": "Local", "name": "s"}}`, `site.time_zone: "Local" depends on the machine`},
		{"{\"site\": {\"name\": \"s\", \"time_zone\": \"UTC\"},\n\"schedule\": {\"windows\": [{\"start\": \"sunrise\", \"end\": \"sunset\"}]}}", `x.json: line 1: site.latitude: required: schedule.windows[0].start uses the sun`},
		{`{"site": {"name": "s", "time_zone": "UTC", "latitude": 95, "longitude": 0}}`, `site.latitude: 95 is not between -90 and 90`},
		{`{"site": {"name": "s", "time_zone": "UTC", "latitude": 45}}`, `site: give both latitude and longitude`},
		{`{"site": {"name": "s", "time_zone": "UTC"}, "schedule": {"interval": "1ms"}}`, `schedule.interval: 1ms is not between 1s and 24h`},
		{`{"site": {"name": "s", "time_zone": "UTC"}, "schedule": {"min_gap": "2h"}}`, `schedule.min_gap: 2h0m0s is not between 0 and 1h`},
		{`{"site": {"name": "s", "time_zone": "UTC"}, "camera": {"mode": "video", "keep": "tiff"}}`, `camera.keep: "tiff" is not "jpg", "raw" or "both"`},
		{`{"site": {"name": "s", "time_zone": "UTC"}, "schedule": {"windows": [{"start": "24:00", "end": "01:00"}]}}`, `schedule.windows[0].start: 24:00 ends a day`},
	} {
		err := Check("x.json", []byte(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Check(%q) = %v; want it to contain %q", tc.in, err, tc.want)
		}
	}
}

func TestSecretsNeverShown(t *testing.T) {
	c, err := Parse("example.json", readExample(t))
	if err != nil {
		t.Fatal(err)
	}
	secrets := []string{"tok_3f9a1c2e7b", "hunter2-but-longer", "1234"}
	red, err := c.MarshalRedacted()
	if err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("config", "secret", c.Secrets["sim-pin"], "secrets", c.Secrets)
	slog.New(slog.NewTextHandler(&logged, nil)).Info("config", "secret", c.Secrets["sim-pin"])
	for name, out := range map[string]string{
		"String":          c.String(),
		"MarshalRedacted": string(red),
		"%v pointer":      fmt.Sprintf("%v", c),
		"%v value":        fmt.Sprintf("%v", *c),
		"%+v value":       fmt.Sprintf("%+v", *c),
		"%#v value":       fmt.Sprintf("%#v", *c),
		"%s secrets":      fmt.Sprintf("%s %q %x", c.Secrets["sim-pin"], c.Secrets["sim-pin"], c.Secrets["sim-pin"]),
		"slog":            logged.String(),
	} {
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("%s shows secret %q:\n%s", name, s, out)
			}
		}
		if !strings.Contains(out, redacted) && name != "%x" {
			t.Errorf("%s has no %q", name, redacted)
		}
	}
	full, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range secrets {
		if !bytes.Contains(full, []byte(s)) {
			t.Errorf("Marshal lost secret %q", s)
		}
	}
}

// roundTrip checks that an accepted configuration encodes, decodes to the
// same configuration and encodes to the same bytes.
func roundTrip(t *testing.T, c *Config) {
	t.Helper()
	b1, err := c.Marshal()
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	c2, err := Parse("round-trip.json", b1)
	if err != nil {
		t.Fatalf("re-parse of\n%s\n: %v", b1, err)
	}
	b2, err := c2.Marshal()
	if err != nil {
		t.Fatalf("Marshal again: %v", err)
	}
	if !bytes.Equal(b1, b2) {
		t.Fatalf("round trip changed the file:\n%s\n---\n%s", b1, b2)
	}
	if c.Site.Location.String() != c2.Site.Location.String() || len(c.Schedule.Windows) != len(c2.Schedule.Windows) {
		t.Fatalf("round trip changed the configuration: %v / %v", c, c2)
	}
	for i := range c.Schedule.Windows {
		if c.Schedule.Windows[i] != c2.Schedule.Windows[i] {
			t.Fatalf("window %d: %+v became %+v", i, c.Schedule.Windows[i], c2.Schedule.Windows[i])
		}
	}
}

func TestRoundTrip(t *testing.T) {
	c, err := Parse("example.json", readExample(t))
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, c)
	roundTrip(t, Default())
}

func TestDurations(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		str  string
		bad  bool
	}{
		{in: "0", want: 0, str: "0s"},
		{in: "10m", want: 10 * time.Minute, str: "10m"},
		{in: "1h30m", want: 90 * time.Minute, str: "1h30m"},
		{in: "30d", want: 30 * 24 * time.Hour, str: "30d"},
		{in: "1d12h", want: 36 * time.Hour, str: "1d12h"},
		{in: "", bad: true},
		{in: "d", bad: true},
		{in: "-1d", bad: true},
		{in: "1d-1h", bad: true},
		{in: "36501d", bad: true},
		{in: "876000h", want: 36500 * 24 * time.Hour, str: "36500d"},
		{in: "876001h", bad: true},
		{in: "36500d1s", bad: true},
		{in: "ten minutes", bad: true},
	} {
		got, err := parseDuration(tc.in)
		if tc.bad {
			if err == nil {
				t.Errorf("parseDuration(%q) = %v, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || got != tc.want || formatDays(got) != tc.str {
			t.Errorf("parseDuration(%q) = %v, %v (formatted %q); want %v, %q", tc.in, got, err, formatDays(got), tc.want, tc.str)
		}
	}
}

func TestCameraMatches(t *testing.T) {
	for _, tc := range []struct {
		c             Camera
		model, serial string
		want          bool
	}{
		{Camera{}, "Nikon D750", "1", true},
		{Camera{Model: "canon eos"}, "Canon EOS 600D", "", true},
		{Camera{Model: "canon eos"}, "Nikon D750", "", false},
		{Camera{Model: "EOS", Serial: "0123"}, "Canon EOS 650D", "0123", true},
		{Camera{Model: "EOS", Serial: "0123"}, "Canon EOS 650D", "9999", false},
		{Camera{Serial: "0123"}, "anything", "0123", true},
	} {
		if got := tc.c.Matches(tc.model, tc.serial); got != tc.want {
			t.Errorf("%+v.Matches(%q, %q) = %v", tc.c, tc.model, tc.serial, got)
		}
	}
}

func TestFieldErrorsAreTyped(t *testing.T) {
	err := Check("x.json", []byte(`{"site": {"name": "", "time_zone": "UTC"}}`))
	var fe *Error
	if !errors.As(err, &fe) || fe.Field != "site.name" || fe.Line != 1 || fe.Name != "x.json" {
		t.Errorf("errors.As(%v) = %+v", err, fe)
	}
}

// TestParseChecked checks processing specs through the real checker: each
// problem inside a spec is reported at its line in the configuration file,
// with its path below the target.
func TestParseChecked(t *testing.T) {
	if _, err := ParseChecked("example.json", readExample(t), process.CheckSpec); err != nil {
		t.Fatalf("example.json: %v", err)
	}
	const file = `{
  "site": {"name": "s", "time_zone": "UTC"},
  "targets": [
    {"name": "web", "kind": "livecam", "url": "https://example.com/dav/",
     "process": %s}
  ]
}`
	for _, tc := range []struct {
		name, spec string
		want       []string
	}{
		{"valid", `{"outputs": [{"name": "web", "width": 640}]}`, nil},
		{"old spelling", "{\n       \"Outputs\": [{\"Name\": \"web\",\n         \"Width\": 640}]}", []string{
			`x.json: line 6: targets[0].process: "Outputs": use "outputs"`,
			`x.json: line 6: targets[0].process: "Name": use "name"`,
			`x.json: line 7: targets[0].process: "Width": use "width"`,
		}},
		{"bad values", "{\"outputs\": [\n  {\"name\": \"web\", \"width\": 640, \"fit\": \"stretch\"},\n  {\"name\": \"web\", \"width\": 320}]}", []string{
			`x.json: line 6: targets[0].process.outputs[0].fit: "stretch" is not "fit" or "fill"`,
			`x.json: line 7: targets[0].process.outputs[1].name: "web" is used twice`,
		}},
		{"wrong type", `{"outputs": [{"name": "web", "width": "640"}]}`, []string{
			`x.json: line 5: targets[0].process: field "outputs.width": cannot use a JSON string`,
		}},
	} {
		data := fmt.Sprintf(file, tc.spec)
		_, err := ParseChecked("x.json", []byte(data), process.CheckSpec)
		errs := strictjson.Errors(err)
		if len(errs) != len(tc.want) {
			t.Errorf("%s: %d errors, want %d:\n%v", tc.name, len(errs), len(tc.want), err)
			continue
		}
		for i, e := range errs {
			if !strings.HasPrefix(e.Error(), tc.want[i]) {
				t.Errorf("%s: error %d:\n got %s\nwant %s…", tc.name, i, e, tc.want[i])
			}
		}
		// Parse alone takes any JSON as a spec.
		if _, err := Parse("x.json", []byte(data)); err != nil {
			t.Errorf("%s: Parse: %v", tc.name, err)
		}
	}
}

// TestOldSpelling checks that keys differing from the file's snake_case only
// by case or underscores are errors that give the right spelling.
func TestOldSpelling(t *testing.T) {
	in := "{\n \"Site\": {\"name\": \"s\", \"timeZone\": \"UTC\"},\n \"camera\": {\"MinSize\": 1},\n \"targets\": [{\"name\": \"a\", \"kind\": \"cloud\", \"url\": \"https://c.example\", \"maxBytesPerSecond\": 5}]\n}"
	want := []string{
		`x.json: line 2: "Site": use "site"`,
		`x.json: line 2: "timeZone": use "time_zone"`,
		`x.json: line 3: "MinSize": use "min_size"`,
		`x.json: line 4: "maxBytesPerSecond": use "max_bytes_per_second"`,
	}
	errs := strictjson.Errors(Check("x.json", []byte(in)))
	if len(errs) != len(want) {
		t.Fatalf("%d errors, want %d: %q", len(errs), len(want), errs)
	}
	for i, e := range errs {
		if e.Error() != want[i] {
			t.Errorf("error %d: %q, want %q", i, e, want[i])
		}
	}
}

// TestReadFileRefuses checks what is never read as a configuration: a
// symbolic link (even to a valid file), a FIFO (which would block) and a
// file too large.
func TestReadFileRefuses(t *testing.T) {
	dir := t.TempDir()
	valid := filepath.Join(dir, "valid.json")
	if err := os.WriteFile(valid, readExample(t), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFile(valid); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.json")
	if err := os.Symlink(valid, link); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo.json")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.json")
	if err := os.WriteFile(big, bytes.Repeat([]byte(" "), MaxFileSize+1), 0o600); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{link: "not a regular file", fifo: "not a regular file", big: "larger than 256 KiB"} {
		if _, err := ReadFile(path); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ReadFile(%s) = %v, want an error saying %q", filepath.Base(path), err, want)
		}
	}
	// Load reports the link and goes on with the default.
	perm := t.TempDir()
	if err := os.MkdirAll(filepath.Join(perm, "lapsebox"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(valid, filepath.Join(perm, Path)); err != nil {
		t.Fatal(err)
	}
	if c, src, err := Load(perm); err == nil || src != DefaultSource || c.Site.Name != Default().Site.Name {
		t.Errorf("Load through a symlink = %q, %q, %v", c.Site.Name, src, err)
	}
}
