package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/appliance/status"
	"github.com/lapsebox/lapsebox/appliance/statusfile"
	"github.com/lapsebox/lapsebox/image"
	"github.com/lapsebox/lapsebox/image/release"
	"github.com/lapsebox/lapsebox/image/update"
)

// The device answers a reboot with several lines; lapsebox update prints
// one line a step.
func TestOneLine(t *testing.T) {
	for in, want := range map[string]string{
		"All services killed in 537ms\nRebooting...\n": "All services killed in 537ms; Rebooting...",
		"up, build 2026-12-03T16:27:48Z":               "up, build 2026-12-03T16:27:48Z",
		"\n  \n":                                       "",
	} {
		if got := oneLine(in); got != want {
			t.Errorf("oneLine(%q) = %q, want %q", in, got, want)
		}
	}
}

// signedFixture is a disk image of a pc board (random root, boot and MBR
// regions), its image manifest and a release key.
type signedFixture struct {
	img      string
	m        *image.Manifest
	priv     ed25519.PrivateKey
	trust    string
	dir      string
	data     []byte
	running  *update.DeviceStatus
	released time.Time
}

func newSignedFixture(t *testing.T) *signedFixture {
	t.Helper()
	f := &signedFixture{dir: t.TempDir(), released: time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)}
	f.data = make([]byte, 3<<20)
	rand.Read(f.data)
	f.img = filepath.Join(f.dir, "lapsebox-pc.img")
	if err := os.WriteFile(f.img, f.data, 0o644); err != nil {
		t.Fatal(err)
	}
	region := func(off, size int64) image.Region {
		sum := sha256.Sum256(f.data[off : off+size])
		return image.Region{Offset: off, Size: size, SHA256: hex.EncodeToString(sum[:])}
	}
	f.m = &image.Manifest{Board: "pc", Hostname: "site7", BuildTimestamp: f.released.Format(time.RFC3339),
		BootCode: region(0, 446), Boot: region(1<<20, 512<<10), Root: region(2<<20, 1<<20)}
	f.trust = filepath.Join(f.dir, "release-key")
	if _, err := release.GenerateKey(f.trust); err != nil {
		t.Fatal(err)
	}
	var err error
	if f.priv, err = release.ReadPrivateKey(f.trust); err != nil {
		t.Fatal(err)
	}
	f.trust += ".pub"
	f.running = &update.DeviceStatus{Hostname: "site7", BuildTimestamp: f.released.Add(-time.Hour).Format(time.RFC3339)}
	return f
}

// sign writes the release manifest of the fixture's image, changed by
// edit, signed with key.
func (f *signedFixture) sign(t *testing.T, key ed25519.PrivateKey, edit func(*release.Manifest)) string {
	t.Helper()
	rm, _, closeImg, err := releaseManifest(f.img, f.m)
	if err != nil {
		t.Fatal(err)
	}
	closeImg()
	rm.Version, rm.Channel = "v2", "stable"
	if edit != nil {
		edit(rm)
	}
	signed, err := release.Sign(rm, key)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(f.dir, "v2.release")
	if err := os.WriteFile(p, signed, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// A push of a signed release goes ahead only for the image the release
// signs, with the trusted key, to a device that may install it; every
// other case is refused before a byte goes to the device, naming why.
func TestCheckSigned(t *testing.T) {
	f := newSignedFixture(t)
	_, otherKey, _ := ed25519.GenerateKey(rand.Reader)
	changedBlock := func(rm *release.Manifest) {
		rm.Root.SHA256 = strings.Repeat("0", 64)
	}
	for _, tt := range []struct {
		name    string
		key     ed25519.PrivateKey
		edit    func(*release.Manifest)
		running func(*update.DeviceStatus)
		want    string // "" : accepted
	}{
		{"the signed image", f.priv, nil, nil, ""},
		{"another key", otherKey, nil, nil, "does not trust"},
		{"another root", f.priv, changedBlock, nil, "root file system has"},
		{"another boot file system", f.priv, func(rm *release.Manifest) { rm.Boot.SHA256 = strings.Repeat("1", 64) }, nil, "boot file system has"},
		{"no MBR in the release", f.priv, func(rm *release.Manifest) { rm.MBR = nil }, nil, "MBR boot code is not in the release"},
		{"another board", f.priv, func(rm *release.Manifest) { rm.Board = "rpi" }, nil, "board"},
		{"another device", f.priv, nil, func(st *update.DeviceStatus) { st.Hostname = "site8" }, "site8"},
		{"a downgrade", f.priv, nil, func(st *update.DeviceStatus) {
			st.BuildTimestamp = f.released.Add(time.Hour).Format(time.RFC3339)
		}, "not newer than the running build"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			signed := f.sign(t, tt.key, tt.edit)
			st := *f.running
			if tt.running != nil {
				tt.running(&st)
			}
			rel, err := checkSigned(signed, f.trust, f.img, f.m, &st)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.want == "" && rel.Version != "v2":
				t.Errorf("release %+v", rel)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("error %v, want one saying %q", err, tt.want)
			}
		})
	}
	// An image changed after its build, its manifest and the release
	// still agreeing, is refused by readUpdate, before the push.
	signed := f.sign(t, f.priv, nil)
	f.data[2<<20+7] ^= 1
	os.WriteFile(f.img, f.data, 0o644)
	f.data[2<<20+7] ^= 1
	if _, err := checkSigned(signed, f.trust, f.img, f.m, f.running); err != nil {
		t.Fatal(err)
	}
	if _, _, err := readUpdate(f.img, f.m); err == nil || !strings.Contains(err.Error(), "changed since it was built") {
		t.Errorf("tampered image: %v", err)
	}
}

// TestPushBoot: a push writes the boot partition only when the device's
// statusd does not say that it runs the image's boot files, and never
// goes over a release on trial.
func TestPushBoot(t *testing.T) {
	const build = "2026-12-06T10:00:00Z"
	m := &image.Manifest{Boot: image.Region{SHA256: "aaaa"}}
	st := &update.DeviceStatus{BuildTimestamp: build}
	snap := func(boot string, trial bool) *status.Snapshot {
		s := &status.Snapshot{Build: status.Build{GokrazyTimestamp: build, BootSHA256: boot}}
		if trial {
			s.Update = &statusfile.Update{Trial: &statusfile.Trial{Release: statusfile.Release{Version: "v7"}}}
		}
		return s
	}
	other := snap("aaaa", false)
	other.Build.GokrazyTimestamp = "2026-12-01T00:00:00Z"
	for _, tc := range []struct {
		name     string
		snap     *status.Snapshot
		fetchErr error
		send     bool
		why      string
	}{
		{"same boot files", snap("aaaa", false), nil, false, "sending the root only"},
		{"new boot files", snap("bbbb", false), nil, true, "the boot files changed"},
		{"statusd unreachable", nil, errors.New("connection refused"), true, "connection refused"},
		{"image without the record", snap("", false), nil, true, "does not record"},
		{"another device's statusd", other, nil, true, "not the same device"},
	} {
		send, why, err := pushBoot(tc.snap, tc.fetchErr, st, m)
		if err != nil || send != tc.send || !strings.Contains(why, tc.why) {
			t.Errorf("%s: send %v (%q, %v), want %v and %q", tc.name, send, why, err, tc.send, tc.why)
		}
	}
	if _, _, err := pushBoot(snap("aaaa", true), nil, st, m); err == nil || !strings.Contains(err.Error(), "v7 on trial") {
		t.Errorf("a push during a trial: %v, want a refusal", err)
	}
}
