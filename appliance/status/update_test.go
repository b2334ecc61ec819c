package status

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/appliance/statusfile"
)

// The update section of the page and the JSON, from updated.json: the
// recorded device runs a release on trial.
func TestUpdateSection(t *testing.T) {
	tr := recordedDevice(t, false)
	h := tr.server()
	page := request(h, "GET", "/", "127.0.0.1:1", "gokrazy", testPassword).Body.String()
	for _, want := range []string{
		`<dt>running</dt><dd>2026.07.13 <span class="path">built 2026-07-13 06:00 UTC</span> <span class="path">rpi4</span>`,
		`<dt>committed</dt><dd>2026.07.01 <span class="path">built 2026-07-01 06:00 UTC</span> <span class="badge stale">not running</span> the device boots it after a reset`,
		"2026.07.13 since Jul 14 11:45; committed once healthy, or rolled back at Jul 14 12:05 UTC (in 5m 0s)",
		"waiting for a picture from camerad after the trial began",
		`<dt>available</dt><dd>2026.07.13`,
		"<dt>next look</dt><dd>Jul 14 17:38 UTC (in 5h 38m)</dd>",
		`2026.07.13 <span class="badge ">trying</span> Jul 14 11:38 (22m 0s ago), booted on trial`,
		"<dt>fetched</dt><dd>9.0 MiB of the root's 120.0 MiB, 109.0 MiB reused from the running root, 2.0 MiB resumed</dd>",
		`channel stable`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	var s Snapshot
	if err := json.Unmarshal(request(h, "GET", "/api/status", "127.0.0.1:1", "gokrazy", testPassword).Body.Bytes(), &s); err != nil {
		t.Fatal(err)
	}
	if u := s.Update; u == nil || u.Version != "2026.07.13" || u.CommittedVersion != "2026.07.01" || u.Trial == nil ||
		!u.Trial.Deadline.Equal(t0.Add(5*time.Minute)) || u.LastAttempt == nil || u.LastAttempt.FetchedBytes != 9<<20 || u.LastAttempt.RootBytes != 120<<20 {
		t.Errorf("the API's update: %+v", s.Update)
	}
	for _, e := range s.Errors {
		if e.Service == "updated" {
			t.Errorf("a trial in progress is an error: %+v", e)
		}
	}
}

// While updated installs, the page says which part gokrazy writes.
func TestUpdateInstallingStep(t *testing.T) {
	tr := recordedDevice(t, false)
	h := tr.server()
	p := filepath.Join(tr.run, "updated.json")
	if err := statusfile.Write(p, statusfile.Update{State: "installing", Step: "root", Updated: t0, Channel: "stable"}); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(p, t0, t0)
	page := request(h, "GET", "/", "127.0.0.1:1", "gokrazy", testPassword).Body.String()
	if want := `<span class="badge">installing</span> writing the root <span class="path">channel stable</span>`; !strings.Contains(page, want) {
		t.Errorf("the page lacks %q", want)
	}
}

// A release rolled back or refused shows why, on the page, in its
// recent errors and in the JSON; an error quoting the release server's
// URL with a password and a token shows neither.
func TestUpdateFailures(t *testing.T) {
	tr := recordedDevice(t, false)
	h := tr.server()
	rel := statusfile.Release{Version: "2026.07.13", Build: time.Date(2026, 7, 13, 6, 0, 0, 0, time.UTC), Manifest: strings.Repeat("9f", 32)}
	old := time.Date(2026, 7, 1, 6, 0, 0, 0, time.UTC)
	write := func(a *statusfile.UpdateAttempt) {
		t.Helper()
		p := filepath.Join(tr.run, "updated.json")
		if err := statusfile.Write(p, statusfile.Update{State: "waiting", Updated: t0, Running: old, Version: "2026.07.01", Channel: "stable",
			Committed: old, CommittedVersion: "2026.07.01", LastAttempt: a}); err != nil {
			t.Fatal(err)
		}
		os.Chtimes(p, t0, t0)
	}
	for _, tc := range []struct {
		name    string
		attempt statusfile.UpdateAttempt
		page    []string
		err     string
	}{
		{"rolled back", statusfile.UpdateAttempt{Time: t0.Add(-2 * time.Hour), Release: rel, Result: "rolled back", Trial: true, Failures: 1,
			RootBytes: 120 << 20, FetchedBytes: 9 << 20,
			Error: `camerad took no picture; "https://alice:pa55word@releases.example/v1/stable/manifest?token=tok-UPD" was not reached`},
			[]string{`<span class="badge bad">rolled back</span>`, "failed trials: 1",
				`<p class="err">camerad took no picture; &#34;https://releases.example/v1/stable/manifest?token=REDACTED&#34; was not reached</p>`},
			`2026.07.13 rolled back: camerad took no picture; "https://releases.example/v1/stable/manifest?token=REDACTED" was not reached`},
		{"rolled back twice", statusfile.UpdateAttempt{Time: t0.Add(-90 * time.Minute), Release: rel, Result: "rolled back", Trial: true, Failures: 2,
			Error: "not healthy after 20m0s on trial: waiting for camerad to take a picture", Refusal: "failed its trial 2 times, last: not healthy after 20m0s on trial"},
			[]string{`<span class="badge bad">rolled back</span>`, "failed trials: 2", `<p class="err">refused: failed its trial 2 times, last: not healthy after 20m0s on trial</p>`,
				`<p class="err">not healthy after 20m0s on trial: waiting for camerad to take a picture</p>`},
			"2026.07.13 rolled back: failed its trial 2 times, last: not healthy after 20m0s on trial"},
		{"refused", statusfile.UpdateAttempt{Time: t0.Add(-time.Hour), Release: rel, Result: "refused", Refusal: "signed by a key this device does not trust"},
			[]string{`<span class="badge bad">refused</span>`, `<p class="err">refused: signed by a key this device does not trust</p>`},
			"2026.07.13 refused: signed by a key this device does not trust"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			write(&tc.attempt)
			page := request(h, "GET", "/", "127.0.0.1:1", "gokrazy", testPassword).Body.String()
			for _, want := range tc.page {
				if !strings.Contains(page, want) {
					t.Errorf("the page lacks %q", want)
				}
			}
			if strings.Contains(page, "boots it after a reset") {
				t.Error("the committed release is said to differ")
			}
			api := request(h, "GET", "/api/status", "127.0.0.1:1", "gokrazy", testPassword).Body.String()
			for _, secret := range []string{"pa55word", "alice", "tok-UPD"} {
				if strings.Contains(page, secret) || strings.Contains(api, secret) {
					t.Errorf("the page or the API shows %q", secret)
				}
			}
			var s Snapshot
			if err := json.Unmarshal([]byte(api), &s); err != nil {
				t.Fatal(err)
			}
			if s.Update == nil || s.Update.LastAttempt == nil || s.Update.LastAttempt.Result != tc.attempt.Result {
				t.Errorf("the API's update: %+v", s.Update)
			}
			var got []string
			for _, e := range s.Errors {
				if e.Service == "updated" {
					for _, m := range e.Errors {
						got = append(got, m.Message)
					}
				}
			}
			if len(got) != 1 || got[0] != tc.err {
				t.Errorf("updated's recent errors: %q, want %q", got, tc.err)
			}
		})
	}
}
