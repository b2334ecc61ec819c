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
// statusd does not say that it holds the image's boot files, and never
// goes over a release on trial or a move between boot slots.
func TestPushBoot(t *testing.T) {
	const build = "2026-12-06T10:00:00Z"
	aaaa, bbbb := strings.Repeat("a", 64), strings.Repeat("b", 64)
	m := &image.Manifest{Boot: image.Region{SHA256: aaaa}}
	st := &update.DeviceStatus{BuildTimestamp: build}
	// view is what statusd says: the running build's boot files, and
	// those on the partition in slot (partition "": it cannot read them).
	view := func(built, partition string, slot int) deviceView {
		return deviceView{
			snap: &status.Snapshot{Build: status.Build{GokrazyTimestamp: build, BootSHA256: built}},
			bootFiles: func() (*status.BootFiles, error) {
				if partition == "" {
					return nil, errors.New("statusd: GET http://lapsebox:8080/api/boot: 404 Not Found")
				}
				return &status.BootFiles{SHA256: partition, Bytes: 16 << 20, Slot: slot}, nil
			},
		}
	}
	// unread is a view whose boot partition must not be read: the
	// snapshot alone decides.
	unread := func(v deviceView) deviceView {
		v.bootFiles = func() (*status.BootFiles, error) {
			t.Error("the boot partition was read, though the snapshot decided")
			return nil, errors.New("read for nothing")
		}
		return v
	}
	other := unread(view(aaaa, aaaa, 0))
	other.snap.Build.GokrazyTimestamp = "2026-12-01T00:00:00Z"
	for _, tc := range []struct {
		name string
		v    deviceView
		send bool
		why  string
	}{
		{"same boot files", view(aaaa, aaaa, 0), false, "holds the image's boot files"},
		{"new boot files", view(bbbb, bbbb, 0), true, "holds other boot files"},
		// A push wrote v2's boot files, then failed before its reboot:
		// v1 runs on them. Pushing v1 again writes v1's back, and
		// pushing v2 again does not write them twice.
		{"after a failed push, the build's", view(aaaa, bbbb, 0), true, "holds other boot files"},
		{"after a failed push, the new", view(bbbb, aaaa, 0), false, "holds the image's boot files"},
		{"statusd unreachable", unread(deviceView{snapErr: errors.New("connection refused")}), true, "connection refused"},
		{"another device's statusd", other, true, "not the same device"},
		// An older statusd, without /api/boot: its build's word.
		{"older statusd, same", view(aaaa, "", 0), false, "404"},
		{"older statusd, new", view(bbbb, "", 0), true, "the boot files changed"},
		{"older image without the record", view("", "", 0), true, "does not record"},
	} {
		send, why, err := pushBoot(tc.v, st, m)
		if err != nil || send != tc.send || !strings.Contains(why, tc.why) {
			t.Errorf("%s: send %v (%q, %v), want %v and %q", tc.name, send, why, err, tc.send, tc.why)
		}
	}

	trial := unread(view(aaaa, aaaa, 0))
	trial.snap.Update = &statusfile.Update{Trial: &statusfile.Trial{Release: statusfile.Release{Version: "v7"}}}
	if _, _, err := pushBoot(trial, st, m); err == nil || !strings.Contains(err.Error(), "v7 on trial") {
		t.Errorf("a push during a trial: %v, want a refusal", err)
	}
	moving := view(aaaa, aaaa, 1)
	if _, _, err := pushBoot(moving, st, m); err == nil || !strings.Contains(err.Error(), "boot slot 1") {
		t.Errorf("a push while updated moves boot files: %v, want a refusal", err)
	}
}
