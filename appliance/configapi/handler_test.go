package configapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/appliance/config"
)

const testPassword = "correct-horse-battery-staple-42"

// device is a fake device tree: /perm and /etc, with the endpoint served
// over real HTTP on 127.0.0.1.
type device struct {
	perm, etc string
	h         *Handler
	srv       *httptest.Server
	clock     *clock
}

// clock is the failure limiter's time, moved by hand.
type clock struct{ unixNano atomic.Int64 }

func (c *clock) now() time.Time          { return time.Unix(0, c.unixNano.Load()) }
func (c *clock) advance(d time.Duration) { c.unixNano.Add(int64(d)) }

func newDevice(t *testing.T) *device {
	t.Helper()
	d := &device{perm: t.TempDir(), etc: t.TempDir(), clock: &clock{}}
	d.clock.unixNano.Store(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC).UnixNano())
	d.write(t, filepath.Join(d.etc, "gokr-pw.txt"), testPassword+"\n")
	d.h = &Handler{PermDir: d.perm, EtcDir: d.etc, Logf: t.Logf, Now: d.clock.now}
	d.srv = httptest.NewServer(d.h)
	t.Cleanup(d.srv.Close)
	return d
}

func (d *device) write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func (d *device) config(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(d.perm, config.Path))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return string(b)
}

// request sends one request; user "" sends no credentials.
func (d *device) request(t *testing.T, method, query, user, password string, body io.Reader) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, d.srv.URL+Path+query, body)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	resp, err := d.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func (d *device) client() *Device {
	return &Device{BaseURL: d.srv.URL, Password: testPassword}
}

func example(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("../config/testdata/example.json")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var exampleSecrets = []string{"tok_3f9a1c2e7b", "hunter2-but-longer", `"1234"`}

// TestUnauthorized checks that every wrong credential gets the same answer
// and changes nothing.
func TestUnauthorized(t *testing.T) {
	d := newDevice(t)
	d.write(t, filepath.Join(d.perm, config.Path), string(example(t)))
	var first []byte
	for _, tc := range []struct{ name, user, password string }{
		{"no credentials", "", ""},
		{"wrong password", User, "not-" + testPassword},
		{"password prefix", User, testPassword[:10]},
		{"wrong user", "root", testPassword},
		{"empty password", User, ""},
	} {
		for _, method := range []string{"GET", "PUT"} {
			resp, body := d.request(t, method, "?secrets=1", tc.user, tc.password, strings.NewReader(`{"site": {"name": "evil", "time_zone": "UTC"}}`))
			if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
				t.Errorf("%s %s: %s, WWW-Authenticate %q", tc.name, method, resp.Status, resp.Header.Get("WWW-Authenticate"))
			}
			if first == nil {
				first = body
			} else if !bytes.Equal(body, first) {
				t.Errorf("%s %s: body %q differs from %q", tc.name, method, body, first)
			}
			for _, s := range exampleSecrets {
				if bytes.Contains(body, []byte(s)) {
					t.Errorf("%s %s: answer shows a secret", tc.name, method)
				}
			}
			d.clock.advance(time.Minute) // stay under the failure limit
		}
	}
	if got := d.config(t); got != string(example(t)) {
		t.Errorf("config.json changed by unauthorized requests:\n%s", got)
	}
	resp, _ := d.request(t, "GET", "", User, testPassword, nil)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("right password: %s", resp.Status)
	}
}

// TestPasswordFiles follows gokrazy: /perm/gokr-pw.txt wins over
// /etc/gokr-pw.txt, and an image without /etc/gokr-pw.txt accepts nothing.
func TestPasswordFiles(t *testing.T) {
	d := newDevice(t)
	d.write(t, filepath.Join(d.perm, "gokr-pw.txt"), "perm-password\n")
	for pw, want := range map[string]int{"perm-password": 200, testPassword: 401} {
		if resp, _ := d.request(t, "GET", "", User, pw, nil); resp.StatusCode != want {
			t.Errorf("password %q: %s, want %d", pw, resp.Status, want)
		}
	}
	if err := os.Remove(filepath.Join(d.etc, "gokr-pw.txt")); err != nil {
		t.Fatal(err)
	}
	for _, pw := range []string{"perm-password", ""} {
		resp, body := d.request(t, "GET", "", User, pw, nil)
		if resp.StatusCode != http.StatusForbidden || !bytes.Contains(body, []byte("no HTTP password")) {
			t.Errorf("without /etc/gokr-pw.txt, password %q: %s %s", pw, resp.Status, body)
		}
	}
}

// TestFailureLimit checks that a client that keeps guessing is refused,
// right password included, until it has waited; other clients are not.
func TestFailureLimit(t *testing.T) {
	d := newDevice(t)
	for i := range failBurst {
		if resp, _ := d.request(t, "GET", "", User, "guess", nil); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("guess %d: %s", i, resp.Status)
		}
	}
	resp, body := d.request(t, "GET", "", User, testPassword, nil)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "11" {
		t.Errorf("after %d failures: %s, Retry-After %q: %s", failBurst, resp.Status, resp.Header.Get("Retry-After"), body)
	}
	// Another client is not held back.
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", Path, nil)
	req.RemoteAddr = "192.168.7.3:4000"
	req.SetBasicAuth(User, testPassword)
	d.h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Errorf("another client: %d", rec.Code)
	}
	d.clock.advance(failEvery)
	if resp, _ := d.request(t, "GET", "", User, testPassword, nil); resp.StatusCode != http.StatusOK {
		t.Errorf("after waiting: %s", resp.Status)
	}
	// A success does not refill: one more failure, and it waits again.
	d.request(t, "GET", "", User, "guess", nil)
	if resp, _ := d.request(t, "GET", "", User, testPassword, nil); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("a failure after waiting: %s, want 429", resp.Status)
	}
}

func TestLimiterPrefixes(t *testing.T) {
	var l limiter
	now := time.Now()
	a, b, c := clientKey("[fd00:1::5]:1"), clientKey("[fd00:1::99]:2"), clientKey("[fd00:2::5]:1")
	if a != b || a == c || clientKey("10.0.0.1:5") == clientKey("10.0.0.2:5") || clientKey("[::ffff:10.0.0.1]:5") != clientKey("10.0.0.1:6") {
		t.Errorf("keys: %v %v %v", a, b, c)
	}
	for range failBurst {
		l.failed(a, now)
	}
	if l.wait(b, now) == 0 || l.wait(c, now) != 0 {
		t.Errorf("same /64 waits %v, another /64 %v", l.wait(b, now), l.wait(c, now))
	}
	// The table is bounded: once full of clients that have not recovered,
	// newcomers share one bucket.
	for i := range maxClients + 10 {
		l.failed(clientKey(fmt.Sprintf("10.1.%d.%d:1", i/256, i%256)), now)
	}
	if l.Len() > maxClients+1 {
		t.Errorf("%d clients kept, want at most %d", l.Len(), maxClients+1)
	}
}

func TestPushAndPull(t *testing.T) {
	d := newDevice(t)
	c := d.client()
	ctx := context.Background()

	// Nothing on /perm: the default, which has no secrets.
	data, source, err := c.Pull(ctx, false)
	if err != nil || source != "default" || !bytes.Equal(data, config.DefaultJSON()) {
		t.Fatalf("Pull without a file = %q, %v\n%s", source, err, data)
	}

	res, err := c.Push(ctx, "site.json", example(t))
	if err != nil || !res.Changed || res.PreviousKept || res.Targets != 3 {
		t.Fatalf("Push = %+v, %v", res, err)
	}
	if got := d.config(t); got != string(example(t)) {
		t.Fatalf("config.json after the push:\n%s", got)
	}
	fi, err := os.Stat(filepath.Join(d.perm, config.Path))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("config.json mode %v, %v; want 0600 (it holds secrets)", fi.Mode(), err)
	}

	// Pull redacts unless the secrets are asked for.
	red, source, err := c.Pull(ctx, false)
	if err != nil || source != "config.json" {
		t.Fatalf("Pull = %q, %v", source, err)
	}
	for _, s := range exampleSecrets {
		if bytes.Contains(red, []byte(s)) {
			t.Errorf("pull shows secret %s", s)
		}
	}
	if !bytes.Contains(red, []byte(`"cloud-token": "[redacted]"`)) {
		t.Errorf("pull:\n%s", red)
	}
	full, _, err := c.Pull(ctx, true)
	if err != nil || !bytes.Equal(full, example(t)) {
		t.Errorf("Pull(secrets) = %v\n%s", err, full)
	}
	resp, _ := d.request(t, "HEAD", "", User, testPassword, nil)
	if resp.StatusCode != 200 || resp.Header.Get(SourceHeader) != "config.json" {
		t.Errorf("HEAD: %s %q", resp.Status, resp.Header.Get(SourceHeader))
	}

	// The pulled file, edited and pushed back, keeps the device's secrets.
	edited := bytes.Replace(red, []byte(`"interval": "10m"`), []byte(`"interval": "15m"`), 1)
	res, err = c.Push(ctx, "site.json", edited)
	if err != nil || !res.Changed || !res.PreviousKept {
		t.Fatalf("Push(edited) = %+v, %v", res, err)
	}
	want := bytes.Replace(example(t), []byte(`"interval": "10m"`), []byte(`"interval": "15m"`), 1)
	if got := d.config(t); got != string(want) {
		t.Errorf("config.json after pushing the pulled file:\n%s", got)
	}
	prev, err := os.ReadFile(filepath.Join(d.perm, config.PrevPath))
	if err != nil || !bytes.Equal(prev, example(t)) {
		t.Errorf("config.json.prev = %v\n%s", err, prev)
	}

	// The same file again changes nothing, and keeps the previous one.
	res, err = c.Push(ctx, "site.json", edited)
	if err != nil || res.Changed {
		t.Errorf("Push(same) = %+v, %v", res, err)
	}
	if prev2, _ := os.ReadFile(filepath.Join(d.perm, config.PrevPath)); !bytes.Equal(prev2, example(t)) {
		t.Error("pushing the same file again replaced config.json.prev")
	}
}

// TestPushInvalid checks that every problem comes back with its line and
// field, old spellings and processing specs included, and that nothing
// changes on the device.
func TestPushInvalid(t *testing.T) {
	d := newDevice(t)
	d.write(t, filepath.Join(d.perm, config.Path), string(example(t)))
	bad := `{
  "site": {"name": "s", "time_zone": "Mars/Olympus"},
  "targets": [
    {"name": "web", "kind": "livecam", "url": "ftp://x",
     "process": {"Outputs": [{"name": "web", "width": 640}]}},
    {"name": "dav", "kind": "webdav", "url": "https://dav.example/", "secret": "dav-password"}
  ],
  "secrets": {"dav-password": "[redacted]"}
}`
	_, err := d.client().Push(context.Background(), "site.json", []byte(bad))
	var rej *Rejected
	if !errors.As(err, &rej) {
		t.Fatalf("Push(invalid) = %v, want *Rejected", err)
	}
	want := []Problem{
		{Line: 2, Field: "site.time_zone", Message: `"Mars/Olympus" is not a known time zone`},
		{Line: 4, Field: "targets[0].url", Message: `"ftp://x" is not an http or https URL`},
		{Line: 5, Field: "targets[0].process", Message: `"Outputs": use "outputs"`},
		{Line: 8, Field: "secrets.dav-password", Message: `"[redacted]" stands for the device's secret of that name, and it has none: give the value`},
	}
	if len(rej.Problems) != len(want) {
		t.Fatalf("%d problems, want %d:\n%v", len(rej.Problems), len(want), err)
	}
	for i, p := range rej.Problems {
		if p != want[i] {
			t.Errorf("problem %d: %+v, want %+v", i, p, want[i])
		}
	}
	if !strings.HasPrefix(err.Error(), "site.json: line 2: site.time_zone: \"Mars/Olympus\"") {
		t.Errorf("error text:\n%v", err)
	}
	if got := d.config(t); got != string(example(t)) {
		t.Errorf("config.json changed by an invalid push:\n%s", got)
	}
	if _, err := os.Stat(filepath.Join(d.perm, config.PrevPath)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("an invalid push wrote config.json.prev: %v", err)
	}
	for _, body := range []string{"", "not json", `{"site": {"name": "s", "time_zone": "UTC"}} trailing`} {
		_, err := d.client().Push(context.Background(), "site.json", []byte(body))
		if !errors.As(err, &rej) {
			t.Errorf("Push(%q) = %v, want *Rejected", body, err)
		}
	}
}

func TestPushTooLarge(t *testing.T) {
	d := newDevice(t)
	d.write(t, filepath.Join(d.perm, config.Path), string(example(t)))
	big := append([]byte(`{"site": {"name": "`), bytes.Repeat([]byte("x"), config.MaxFileSize)...)
	big = append(big, `", "time_zone": "UTC"}}`...)
	// With a Content-Length, and streamed without one.
	for _, body := range []io.Reader{bytes.NewReader(big), io.MultiReader(bytes.NewReader(big))} {
		resp, msg := d.request(t, "PUT", "", User, testPassword, body)
		if resp.StatusCode != http.StatusRequestEntityTooLarge || !bytes.Contains(msg, []byte("larger than 256 KiB")) {
			t.Errorf("oversized push: %s %s", resp.Status, msg)
		}
	}
	if got := d.config(t); got != string(example(t)) {
		t.Error("config.json changed by an oversized push")
	}
}

// TestSymlinks checks that nothing is written through a symbolic link.
func TestSymlinks(t *testing.T) {
	ctx := context.Background()
	site := []byte(`{"site": {"name": "s", "time_zone": "UTC"}}`)

	// /perm/lapsebox pointing elsewhere: refused.
	d := newDevice(t)
	elsewhere := t.TempDir()
	if err := os.Symlink(elsewhere, filepath.Join(d.perm, "lapsebox")); err != nil {
		t.Fatal(err)
	}
	if _, err := d.client().Push(ctx, "site.json", site); err == nil || !strings.Contains(err.Error(), "could not save") {
		t.Errorf("Push through a symlinked directory = %v", err)
	}
	if entries, _ := os.ReadDir(elsewhere); len(entries) != 0 {
		t.Errorf("written through the symlink: %v", entries)
	}

	// config.json a symlink to a file elsewhere: replaced by a file, the
	// target untouched and not read (neither kept as .prev nor pulled).
	d = newDevice(t)
	target := filepath.Join(t.TempDir(), "target")
	d.write(t, target, `{"site": {"name": "target", "time_zone": "UTC"}, "secrets": {"k": "target-secret"}}`)
	if err := os.MkdirAll(filepath.Join(d.perm, "lapsebox"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, filepath.Join(d.perm, config.Path)); err != nil {
		t.Fatal(err)
	}
	data, source, err := d.client().Pull(ctx, true)
	if err != nil || source != "default" || bytes.Contains(data, []byte("target-secret")) {
		t.Errorf("Pull through a symlink = %q, %v:\n%s", source, err, data)
	}
	if _, err := d.client().Push(ctx, "site.json", site); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(filepath.Join(d.perm, config.Path)); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("config.json after the push: %v %v", fi.Mode(), err)
	}
	if b, _ := os.ReadFile(target); !bytes.Contains(b, []byte("target-secret")) {
		t.Error("the symlink's target was written")
	}
	if _, err := os.Stat(filepath.Join(d.perm, config.PrevPath)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the symlink's target was kept as .prev: %v", err)
	}
}

func TestMethods(t *testing.T) {
	d := newDevice(t)
	for _, m := range []string{"POST", "DELETE", "PATCH"} {
		resp, body := d.request(t, m, "", User, testPassword, strings.NewReader("{}"))
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD, PUT" {
			t.Errorf("%s: %s %s", m, resp.Status, body)
		}
	}
	if resp, _ := d.request(t, "GET", "?secrets=maybe", User, testPassword, nil); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("?secrets=maybe: %s", resp.Status)
	}
}

// TestClientRefusesRedirects checks that the client neither follows a
// redirect nor sends the password anywhere but the device.
func TestClientRefusesRedirects(t *testing.T) {
	var leaked bool
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, _, ok := r.BasicAuth(); ok {
			leaked = true
		}
		w.Write([]byte("{}"))
	}))
	defer other.Close()
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+Path, http.StatusTemporaryRedirect)
	}))
	defer redirector.Close()
	c := &Device{BaseURL: redirector.URL, Password: testPassword}
	if _, _, err := c.Pull(context.Background(), true); err == nil || !strings.Contains(err.Error(), "redirects are not followed") {
		t.Errorf("Pull from a redirector = %v", err)
	}
	if _, err := c.Push(context.Background(), "site.json", []byte("{}")); err == nil || !strings.Contains(err.Error(), "redirects are not followed") {
		t.Errorf("Push to a redirector = %v", err)
	}
	if leaked {
		t.Error("the password reached the redirect's target")
	}
}

func TestClientErrors(t *testing.T) {
	d := newDevice(t)
	c := d.client()
	c.Password = "wrong"
	if _, _, err := c.Pull(context.Background(), false); err == nil || !strings.Contains(err.Error(), "refused the password") {
		t.Errorf("Pull with a wrong password = %v", err)
	}
	// statusd's own password check answers in plain text.
	fence := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "unauthorized: user gokrazy and the device's password", http.StatusUnauthorized)
	}))
	defer fence.Close()
	if _, _, err := (&Device{BaseURL: fence.URL, Password: "wrong"}).Pull(context.Background(), false); err == nil || !strings.Contains(err.Error(), "refused the password") {
		t.Errorf("Pull refused by statusd's fence = %v", err)
	}
	notLapsebox := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "<html>404</html>", http.StatusNotFound)
	}))
	defer notLapsebox.Close()
	c = &Device{BaseURL: notLapsebox.URL, Password: testPassword}
	if _, err := c.Push(context.Background(), "site.json", []byte("{}")); err == nil || !strings.Contains(err.Error(), "404 Not Found, not lapsebox's configuration endpoint") {
		t.Errorf("Push to another server = %v", err)
	}
	for base, want := range map[string]string{
		"lapsebox":                 "http://lapsebox:8080/api/config",
		"http://10.0.0.7/":         "http://10.0.0.7:8080/api/config",
		"https://cam.example:8443": "https://cam.example:8443/api/config",
		"http://[fd00::1]/x/":      "http://[fd00::1]:8080/x/api/config",
	} {
		u, err := (&Device{BaseURL: base}).endpoint()
		if err != nil || u.String() != want {
			t.Errorf("endpoint(%q) = %v, %v; want %s", base, u, err, want)
		}
	}
	for _, base := range []string{"ftp://x", "http://user:pw@host/", "http://"} {
		if u, err := (&Device{BaseURL: base}).endpoint(); err == nil {
			t.Errorf("endpoint(%q) = %v, want an error", base, u)
		}
	}
	var rep reply
	if err := json.Unmarshal([]byte(`{"problems": [{"line": 3, "field": "f", "message": "m"}]}`), &rep); err != nil || rep.Problems[0].Line != 3 {
		t.Errorf("reply decoding: %+v %v", rep, err)
	}
}
