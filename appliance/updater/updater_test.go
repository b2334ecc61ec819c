package updater_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/appliance/bootdisk"
	"github.com/lapsebox/lapsebox/appliance/config"
	"github.com/lapsebox/lapsebox/appliance/statusfile"
	"github.com/lapsebox/lapsebox/appliance/updater"
	"github.com/lapsebox/lapsebox/cloud/server"
	"github.com/lapsebox/lapsebox/cloud/server/servertest"
	"github.com/lapsebox/lapsebox/hw"
	"github.com/lapsebox/lapsebox/image/bootconf"
	"github.com/lapsebox/lapsebox/image/disk"
	"github.com/lapsebox/lapsebox/image/disk/disktest"
	"github.com/lapsebox/lapsebox/image/fat"
	"github.com/lapsebox/lapsebox/image/release"
	"github.com/lapsebox/lapsebox/image/update"
	"github.com/lapsebox/lapsebox/image/update/updatetest"
)

var (
	build1 = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	build2 = build1.Add(24 * time.Hour)
	build3 = build2.Add(24 * time.Hour)
)

// squashfs returns n bytes that look like a squashfs image to the
// updater (magic, bytes_used): random, so that no two blocks are alike.
func squashfs(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	copy(b, "hsqs")
	binary.LittleEndian.PutUint64(b[40:], uint64(n))
	return b
}

type fixture struct {
	cloud   *servertest.Cloud
	priv    ed25519.PrivateKey
	pub     ed25519.PublicKey
	gokrazy *updatetest.Device
	root1   []byte // the running root
	boot1   []byte // the boot partition
	disk    string // the whole disk: its tables and boot slots
	svc     *updater.Service
	now     time.Time
	service func() *updater.Service // a fresh one, as after a restart
}

// start runs a cloudd with one device, a fake gokrazy running build1 and
// an updater for it, whose root and boot partitions are files.
func start(t *testing.T, window string) *fixture {
	t.Helper()
	f := &fixture{cloud: servertest.Start(t, server.Config{}, server.Options{}), now: time.Date(2026, 6, 1, 3, 0, 0, 0, time.UTC)}
	f.cloud.AddDevice(t, "site7", "token-site7")
	f.pub, f.priv, _ = ed25519.GenerateKey(rand.Reader)
	f.gokrazy = updatetest.New(t, build1.Format(time.RFC3339))
	url := f.gokrazy.Start()

	dir := t.TempDir()
	f.root1 = squashfs(20 * release.BlockSize)
	f.boot1 = bootFS(t, "1", 0)
	// The partition is larger than the squashfs in it.
	rootPart := append(append([]byte(nil), f.root1...), make([]byte, 1<<20)...)
	os.WriteFile(filepath.Join(dir, "sda2"), rootPart, 0o600)
	os.WriteFile(filepath.Join(dir, "sda1"), f.boot1, 0o600)
	f.disk = filepath.Join(dir, "sda")
	disktest.Write(t, f.disk, f.boot1)
	cfg, err := config.Parse("config.json", []byte(fmt.Sprintf(`{"site": {"name": "s", "time_zone": "UTC"},
		"targets": [{"name": "home", "kind": "cloud", "url": %q, "secret": "tok"}],
		"secrets": {"tok": "token-site7"}, "update": {"window_start": %q, "window_end": "05:00", "poll_every": "1h"}}`,
		f.cloud.URL, window)))
	if err != nil {
		t.Fatal(err)
	}
	perm, run := filepath.Join(dir, "perm"), filepath.Join(dir, "run")
	os.MkdirAll(perm, 0o755)
	f.service = func() *updater.Service {
		return &updater.Service{Config: cfg, Perm: perm, RunDir: run,
			Build: release.BuildInfo{Board: "pc", Hostname: "lapsebox", Build: build1}, Key: f.pub,
			Disk:    bootdisk.Disk{Whole: f.disk, Root: filepath.Join(dir, "sda2"), Boot: filepath.Join(dir, "sda1"), RootNumber: 2},
			Device:  "site7",
			Gokrazy: update.Device{BaseURL: url, Password: f.gokrazy.Password},
			Now:     func() time.Time { return f.now },
			Logf:    t.Logf,
			Sensors: hw.Sensors{Sys: dir, Proc: dir, Perm: perm},
			// Waiting for the camera ends at once: the fake clock
			// stands still.
			InstallWait: 20 * time.Millisecond,
		}
	}
	f.svc = f.service()
	return f
}

// bootFS returns a boot file system as the image writes it: a kernel
// (random bytes, seeded by kernel), cmdline.txt and the UEFI entry with
// root A's partition offset replaced by root.
func bootFS(t *testing.T, root string, kernel byte) []byte {
	return usedBootFS(t, root, kernel, "")
}

// usedBootFS is bootFS as gokrazy leaves it after trials: flags (what
// they left on the line, with the spaces they padded) before each
// newline, at the same length.
func usedBootFS(t *testing.T, root string, kernel byte, flags string) []byte {
	t.Helper()
	line := "console=tty1 root=PARTUUID=60c24cc1-f3f9-427a-8199-3a9f63470001/PARTNROFF=" + root + " init=/gokrazy/init rootwait"
	pad := strings.Repeat(" ", 320)
	line, pad = line+flags, pad[:len(pad)-len(flags)]
	w := fat.NewWriter(fat.Options{Label: "GOKRAZY"})
	vmlinuz := make([]byte, 3*release.BlockSize)
	for i := range vmlinuz {
		vmlinuz[i] = byte(i*31) ^ kernel
	}
	for _, f := range []struct{ name, data string }{{"vmlinuz", string(vmlinuz)},
		{"cmdline.txt", line + "\n" + pad}, {"loader/entries/gokrazy.conf", "options " + line + "\ntitle gokrazy\nlinux /vmlinuz" + pad}} {
		if err := w.AddFile(f.name, []byte(f.data)); err != nil {
			t.Fatal(err)
		}
	}
	var b bytes.Buffer
	if _, err := w.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// publish signs a release of root and boot with key and publishes it.
func (f *fixture) publish(t *testing.T, key ed25519.PrivateKey, m release.Manifest, root, boot []byte) *release.Manifest {
	t.Helper()
	if m.Version == "" {
		m.Version = m.Build.Format("2006.01.02")
	}
	if m.Board == "" {
		m.Board = "pc"
	}
	m.Channel, m.Hostnames, m.BlockSize = "stable", "lapsebox", release.BlockSize
	m.Root, _ = release.NewPart(bytes.NewReader(root), int64(len(root)))
	m.Boot, _ = release.NewPart(bytes.NewReader(boot), int64(len(boot)))
	signed, err := release.Sign(&m, key)
	if err != nil {
		t.Fatal(err)
	}
	pub := &release.Client{BaseURL: f.cloud.URL, Auth: func(r *http.Request) { r.SetBasicAuth("admin", f.cloud.Password) }}
	parts := map[*release.Part]io.ReaderAt{&m.Root: bytes.NewReader(root), &m.Boot: bytes.NewReader(boot)}
	if _, err := pub.Publish(context.Background(), signed, &m, parts); err != nil {
		t.Fatal(err)
	}
	return &m
}

func (f *fixture) status(t *testing.T) statusfile.Update {
	t.Helper()
	var st statusfile.Update
	if _, err := statusfile.Read(filepath.Join(f.svc.RunDir, "updated.json"), &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// changed returns a copy of b with n blocks from block i on rewritten.
func changed(b []byte, i, n int) []byte {
	c := append([]byte(nil), b...)
	rand.Read(c[i*release.BlockSize : (i+n)*release.BlockSize])
	return c
}

func TestPullAndInstall(t *testing.T) {
	f := start(t, "02:00")
	root2 := changed(f.root1, 5, 2)
	m := f.publish(t, f.priv, release.Manifest{Build: build2}, root2, f.boot1)
	idx, _ := release.NewIndex(release.Source{R: bytes.NewReader(f.root1), Size: int64(len(f.root1))})
	need := idx.Need(m.Root)
	if need > 2*release.BlockSize+2*2*release.MaxChunk {
		t.Fatalf("the release needs %d bytes the device lacks: more than the 2 changed blocks and their seams", need)
	}
	f.svc.Look(context.Background())

	st := f.status(t)
	a := st.LastAttempt
	if a == nil || a.Result != updater.ResultTrying || !a.Trial || a.Error != "" || st.State != "rebooting" {
		t.Fatalf("status %+v, attempt %+v", st, a)
	}
	if !bytes.Equal(f.gokrazy.Root(), root2) {
		t.Errorf("gokrazy got a root of %d bytes, not the release's", len(f.gokrazy.Root()))
	}
	if calls := f.gokrazy.Calls(); calls != "GET /update/features PUT /update/root POST /update/testboot POST /reboot" {
		t.Errorf("gokrazy saw %q; want the root written and booted on trial, the boot file system untouched", calls)
	}
	if a.FetchedBytes != need || a.ReusedBytes != m.Root.Size-need || a.BootWritten {
		t.Errorf("fetched %d, reused %d bytes, boot written %v; want %d fetched, the rest reused, boot not written",
			a.FetchedBytes, a.ReusedBytes, a.BootWritten, need)
	}
	// (The fake gokrazy names a root by its bytes.)
	if f.gokrazy.Build() != string(root2) {
		t.Fatal("the fake gokrazy does not run the release on trial after the reboot")
	}

	// The release boots on trial: once healthy it commits itself, and
	// drops the staging file.
	next := f.onTrial(build2)
	f.healthy(t, 1)
	if next.CheckTrial(context.Background()) {
		t.Fatal("decided at the trial's first check, before a dead service could show")
	}
	st = f.status(t)
	if st.State != "on trial" || st.Trial == nil || !strings.Contains(st.Trial.Waiting, "the services to run") ||
		!st.Committed.Equal(build1) || !st.Running.Equal(build2) {
		t.Errorf("on trial: %+v, trial %+v", st, st.Trial)
	}
	f.now = f.now.Add(3 * time.Minute)
	f.healthy(t, 2)
	if !next.CheckTrial(context.Background()) {
		t.Fatalf("healthy and past the stale time, not committed: %+v", f.status(t).Trial)
	}
	st = f.status(t)
	if st.LastAttempt == nil || st.LastAttempt.Result != updater.ResultInstalled || st.Trial != nil || !st.Committed.Equal(build2) {
		t.Errorf("after the commit: %+v, attempt %+v", st, st.LastAttempt)
	}
	if calls := f.gokrazy.Calls(); !strings.HasSuffix(calls, "POST /update/switch") {
		t.Errorf("gokrazy saw %q, want the switch that commits the trial", calls)
	}
	if _, err := os.Stat(filepath.Join(f.svc.Perm, "lapsebox/update/root.img")); !os.IsNotExist(err) {
		t.Errorf("staging file left after the install: %v", err)
	}
	// A reboot now stays on the release.
	f.gokrazy.RebootNow()
	if f.gokrazy.Build() != string(root2) {
		t.Error("after a reboot the device does not run the committed release")
	}
}

// onTrial returns the updated of a device that booted build on trial.
func (f *fixture) onTrial(build time.Time) *updater.Service {
	s := f.service()
	s.Build.Build = build
	s.Cmdline = "console=tty1 root=PARTUUID=60c24cc1-f3f9-427a-8199-3a9f63470001/PARTNROFF=1 " + bootconf.TrialFlag
	return s
}

// healthy writes camerad's and uploadd's status files as running
// services do, dated now: captures pictures taken since camerad started.
func (f *fixture) healthy(t *testing.T, captures int) {
	t.Helper()
	f.writeStatus(t, "camerad", &statusfile.Camera{State: "waiting", Mode: "capture", Captures: captures, NextSlot: f.now.Add(time.Minute)})
	f.writeStatus(t, "uploadd", &statusfile.Uploads{})
}

func (f *fixture) writeStatus(t *testing.T, service string, v any) {
	t.Helper()
	path := filepath.Join(f.svc.RunDir, service+".json")
	if err := statusfile.Write(path, v); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, f.now, f.now); err != nil {
		t.Fatal(err)
	}
}

// bootSlot returns n bytes of the disk's boot slot and which slot the
// MBR and the GPT name.
func (f *fixture) bootSlot(t *testing.T, slot int, n int) (fs []byte, mbr, gpt int) {
	t.Helper()
	d, err := os.Open(f.disk)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if mbr, gpt, err = disk.Slots(d); err != nil {
		t.Fatal(err)
	}
	fs = make([]byte, n)
	if _, err := d.ReadAt(fs, disk.BootSlotStart(slot)*disk.SectorSize); err != nil {
		t.Fatal(err)
	}
	return fs, mbr, gpt
}

// TestBootChanged installs a release with a new kernel: never over the
// boot files in use, but into the other boot slot, which the tables then
// name, and through a reboot by the firmware; back on the new release,
// the device rests on slot 0 again.
func TestBootChanged(t *testing.T) {
	f := start(t, "02:00")
	boot2 := bootFS(t, "1", 7)
	f.publish(t, f.priv, release.Manifest{Build: build2}, changed(f.root1, 3, 1), boot2)
	// The boot files cannot be written (as after a cut in the middle):
	// they still count as to be written at the next look, which must not
	// take the release for one that keeps the boot files.
	f.svc.Disk.Whole = filepath.Join(t.TempDir(), "gone")
	f.svc.Look(context.Background())
	if a := f.status(t).LastAttempt; a == nil || a.Result != updater.ResultFailed || !strings.Contains(a.Error, "writing the boot files") {
		t.Fatalf("attempt with the disk gone: %+v", a)
	}
	f.svc = f.service()
	f.gokrazy.ResetCalls()
	f.svc.Look(context.Background())
	if calls := f.gokrazy.Calls(); calls != "GET /update/features PUT /update/root POST /reboot?kexec=off" {
		t.Errorf("gokrazy saw %q; want the root written, then a reboot through the firmware", calls)
	}
	if a := f.status(t).LastAttempt; a == nil || !a.BootWritten || a.Result != updater.ResultRebooting {
		t.Errorf("attempt %+v", a)
	}
	slot1, mbr, gpt := f.bootSlot(t, 1, len(boot2))
	if mbr != 1 || gpt != 1 {
		t.Fatalf("the tables name boot slots %d (MBR) and %d (GPT), want 1", mbr, gpt)
	}
	if want := bootFS(t, "2", 7); !bytes.Equal(slot1, want) {
		t.Error("boot slot 1 does not hold the release's boot files naming root B")
	}
	if slot0, _, _ := f.bootSlot(t, 0, len(f.boot1)); !bytes.Equal(slot0, f.boot1) {
		t.Error("the boot files in use were written")
	}

	// The device came back on build 2, from slot 1.
	var logs []string
	svc := f.service()
	svc.Build.Build = build2
	svc.Logf = func(format string, args ...any) { logs = append(logs, fmt.Sprintf(format, args...)) }
	svc.Look(context.Background())
	slot0, mbr, gpt := f.bootSlot(t, 0, len(boot2))
	if mbr != 0 || gpt != 0 || !bytes.Equal(slot0, slot1) {
		t.Errorf("after the reboot: tables name slots %d and %d, slot 0 holds slot 1's files: %v; want slot 0, a copy (log %q)",
			mbr, gpt, bytes.Equal(slot0, slot1), logs)
	}
	if a := f.status(t).LastAttempt; a == nil || a.Result != updater.ResultInstalled {
		t.Errorf("after the reboot: attempt %+v", a)
	}
}

// TestBootSwitchFinished starts updated after a power cut in the middle
// of a switch of boot slots for good, between the GPT and the MBR: a UEFI
// machine, which reads the GPT, booted the new release from the new slot;
// the record of the switch, saved first, makes the start finish it,
// before the device comes to rest on slot 0.
func TestBootSwitchFinished(t *testing.T) {
	f := start(t, "02:00")
	boot2 := bootFS(t, "1", 7)
	f.publish(t, f.priv, release.Manifest{Build: build2}, changed(f.root1, 3, 1), boot2)
	f.svc.Look(context.Background())
	f.cutSwitch(t, map[string]any{"slot": 1, "bootSHA256": sha256hex(boot2)})

	var logs []string
	svc := f.service()
	svc.Build.Build, svc.Build.BootSHA256 = build2, sha256hex(boot2)
	svc.Logf = func(format string, args ...any) { logs = append(logs, fmt.Sprintf(format, args...)) }
	svc.Look(context.Background())
	if !strings.Contains(strings.Join(logs, "\n"), "finishing the switch to boot slot 1") {
		t.Errorf("the cut switch was not finished: log %q", logs)
	}
	slot0, m, g := f.bootSlot(t, 0, len(boot2))
	if m != 0 || g != 0 || !bytes.Equal(slot0, bootFS(t, "2", 7)) {
		t.Errorf("after the start: slots %d and %d, want 0 holding the release's files (finished, then copied back)", m, g)
	}
	if b, _ := os.ReadFile(f.statePath()); strings.Contains(string(b), "bootSwitch") {
		t.Errorf("the switch is still recorded: %s", b)
	}
}

func (f *fixture) statePath() string {
	return filepath.Join(f.svc.Perm, "lapsebox", "update", "state.json")
}

// cutSwitch leaves the state and the disk as a power cut in a switch to
// boot slot 1 leaves them between the GPT and the MBR: the switch
// recorded (as record), the GPT switched, the MBR not.
func (f *fixture) cutSwitch(t *testing.T, record any) {
	t.Helper()
	b, err := os.ReadFile(f.statePath())
	if err != nil {
		t.Fatal(err)
	}
	var st map[string]any
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	st["bootSwitch"] = record
	b, _ = json.Marshal(st)
	if err := os.WriteFile(f.statePath(), b, 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := os.OpenFile(f.disk, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := disk.SwitchBoot(d, 1, nil); err != nil {
		t.Fatal(err)
	}
	mbr := make([]byte, disk.SectorSize)
	d.ReadAt(mbr, 0)
	binary.LittleEndian.PutUint32(mbr[446+8:], uint32(disk.BootSlotStart(0)))
	d.WriteAt(mbr, 0)
	if _, m, g := f.bootSlot(t, 0, 1); m != 0 || g != 1 {
		t.Fatalf("the cut table: slots %d and %d", m, g)
	}
}

func TestRefusals(t *testing.T) {
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	for _, tt := range []struct {
		name   string
		key    func(f *fixture) ed25519.PrivateKey
		m      release.Manifest
		refuse string
	}{
		{"another key", func(*fixture) ed25519.PrivateKey { return other }, release.Manifest{Build: build2}, "does not trust"},
		{"older build", nil, release.Manifest{Build: build1.Add(-time.Hour)}, "not newer"},
		{"newer base needed", nil, release.Manifest{Build: build2, MinBuild: build1.Add(time.Hour)}, "needs a newer running build"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := start(t, "02:00")
			key := f.priv
			if tt.key != nil {
				key = tt.key(f)
			}
			f.publish(t, key, tt.m, changed(f.root1, 0, 1), f.boot1)
			f.svc.Look(context.Background())
			st := f.status(t)
			if a := st.LastAttempt; a == nil || a.Result != updater.ResultRefused || !strings.Contains(a.Refusal, tt.refuse) {
				t.Fatalf("attempt %+v, want refused: %s", a, tt.refuse)
			}
			if calls := f.gokrazy.Calls(); calls != "" {
				t.Errorf("gokrazy saw %q for a refused release", calls)
			}
			first := st.LastAttempt.Time
			// Never tried again, even by a restarted updated.
			f.now = f.now.Add(time.Hour)
			again := f.service()
			again.Look(context.Background())
			st = f.status(t)
			if !st.LastAttempt.Time.Equal(first) || !strings.Contains(st.Deferred, "refused earlier") {
				t.Errorf("second look: %+v, attempt %+v", st, st.LastAttempt)
			}
		})
	}
}

func TestDeferred(t *testing.T) {
	for _, tt := range []struct {
		name   string
		window string
		camera statusfile.Camera
		want   string
		staged bool // the release is downloaded, only the install waits
	}{
		{"outside the window", "04:00", statusfile.Camera{}, "outside the maintenance window", false},
		{"store above high water", "02:00", statusfile.Camera{Store: &statusfile.Store{UsedBytes: 90 << 30, TotalBytes: 100 << 30}}, "high-water mark", false},
		{"capture near", "02:00", statusfile.Camera{NextSlot: time.Date(2026, 6, 1, 3, 1, 0, 0, time.UTC)}, "a capture is due", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := start(t, tt.window)
			m := f.publish(t, f.priv, release.Manifest{Build: build2}, changed(f.root1, 3, 1), f.boot1)
			if err := statusfile.Write(filepath.Join(f.svc.RunDir, "camerad.json"), &tt.camera); err != nil {
				t.Fatal(err)
			}
			f.svc.Look(context.Background())
			st := f.status(t)
			if st.State != "deferred" || !strings.Contains(st.Deferred, tt.want) || st.LastAttempt != nil {
				t.Errorf("status %+v, want deferred: %s", st, tt.want)
			}
			if calls := f.gokrazy.Calls(); calls != "" {
				t.Errorf("gokrazy saw %q while deferred", calls)
			}
			_, err := os.Stat(filepath.Join(f.svc.Perm, "lapsebox/update/root.img"))
			if staged := err == nil; staged != tt.staged {
				t.Errorf("staged = %v, want %v", staged, tt.staged)
			}
			if !tt.staged {
				return
			}
			// Once the capture is past, the staged root is used: nothing
			// travels again.
			f.now = f.now.Add(2 * time.Minute)
			f.svc.Look(context.Background())
			a := f.status(t).LastAttempt
			if a == nil || a.Result != updater.ResultTrying || a.FetchedBytes != 0 || a.ResumedBytes != m.Root.Size {
				t.Errorf("after the capture: attempt %+v; want the staged root resumed whole", a)
			}
		})
	}
}

// On a schedule of slots seconds apart, the staged release waits in
// updated for the moment after a capture and goes in then, without a
// second download or reading the staged root again; while the camera
// captures, gokrazy hears nothing.
func TestInstallBetweenDenseCaptures(t *testing.T) {
	f := start(t, "02:00")
	f.svc.InstallWait = time.Minute
	m := f.publish(t, f.priv, release.Manifest{Build: build2}, changed(f.root1, 3, 1), f.boot1)
	camFile := filepath.Join(f.svc.RunDir, "camerad.json")
	slot := f.now.Add(-time.Second)
	capturing := statusfile.Camera{State: "capturing", NextSlot: slot,
		LastCapture: &statusfile.Capture{Slot: slot.Add(-20 * time.Second)}}
	if err := statusfile.Write(camFile, &capturing); err != nil {
		t.Fatal(err)
	}
	callsWhileCapturing := make(chan string, 1)
	go func() {
		// Long enough for the download to be done and the wait begun.
		for {
			time.Sleep(50 * time.Millisecond)
			if st, err := os.ReadFile(filepath.Join(f.svc.RunDir, "updated.json")); err == nil && strings.Contains(string(st), "a capture is under way") {
				break
			}
		}
		callsWhileCapturing <- f.gokrazy.Calls()
		done := statusfile.Camera{State: "waiting", NextSlot: slot.Add(20 * time.Second),
			LastCapture: &statusfile.Capture{Slot: slot}}
		if err := statusfile.Write(camFile, &done); err != nil {
			t.Error(err)
		}
	}()
	f.svc.Look(context.Background())
	if calls := <-callsWhileCapturing; calls != "" {
		t.Errorf("gokrazy saw %q during the capture", calls)
	}
	a := f.status(t).LastAttempt
	if a == nil || a.Result != updater.ResultTrying || a.FetchedBytes == 0 || a.FetchedBytes > a.RootBytes/4 || a.ResumedBytes != 0 {
		t.Errorf("attempt %+v; want the release installed after the capture, its changed block fetched once", a)
	}
	if a != nil && a.Release.Version != m.Version {
		t.Errorf("installed %s, want %s", a.Release.Version, m.Version)
	}
}

func TestNoUpdateSection(t *testing.T) {
	f := start(t, "02:00")
	f.svc.Config.Update = nil
	f.svc.StatusEvery = 10 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- f.svc.Run(ctx) }()
	// Disabled, it still keeps its status file fresh: watchdogd takes a
	// file that stops changing for a hung service.
	var first time.Time
	for {
		st, err := os.Stat(filepath.Join(f.svc.RunDir, "updated.json"))
		if err == nil && first.IsZero() {
			first = st.ModTime()
		}
		if err == nil && st.ModTime().After(first) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if st := f.status(t); st.State != "disabled" {
		t.Errorf("state %q", st.State)
	}
	if _, err := os.Stat(filepath.Join(f.svc.Perm, "lapsebox")); !os.IsNotExist(err) {
		t.Errorf("updated wrote to /perm without an update section: %v", err)
	}
}

// TestSlotTrial installs a release with a new kernel where gokrazy's
// reboot kexecs partition 1's kernel: the boot files go into the other
// slot, marked for a trial, the kernel is told partition 1 lies there
// while the tables keep naming slot 0, and gokrazy reboots (by kexec).
// Healthy, the release on trial drops the mark, switches the tables to
// its slot and brings the device to rest on slot 0 again.
func TestSlotTrial(t *testing.T) {
	var moved []int64
	defer updater.MovePartition(func(_ *os.File, start int64) error { moved = append(moved, start); return nil })()
	f := start(t, "02:00")
	boot2 := bootFS(t, "1", 7)
	f.publish(t, f.priv, release.Manifest{Build: build2}, changed(f.root1, 3, 1), boot2)
	f.svc.KexecTrials = true
	f.svc.Look(context.Background())
	if calls := f.gokrazy.Calls(); calls != "GET /update/features PUT /update/root POST /reboot" {
		t.Errorf("gokrazy saw %q; want the root written, then its (kexec) reboot", calls)
	}
	if a := f.status(t).LastAttempt; a == nil || a.Result != updater.ResultTrying || !a.Trial || !a.BootWritten {
		t.Fatalf("attempt %+v", a)
	}
	slot1, mbr, gpt := f.bootSlot(t, 1, len(boot2))
	if mbr != 0 || gpt != 0 {
		t.Errorf("the tables name slots %d and %d during the trial, want 0: a reset must end it", mbr, gpt)
	}
	want := bootFS(t, "2", 7)
	if err := bootconf.ForSlotTrial(want, 2); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(slot1, want) {
		t.Error("boot slot 1 does not hold the release's boot files, marked for the trial of root B")
	}
	if len(moved) != 1 || moved[0] != disk.BootSlotStart(1) {
		t.Errorf("partition 1 moved to %v, want slot 1's start %d", moved, disk.BootSlotStart(1))
	}

	// The kexec'd kernel runs root B with the mark.
	trial := f.service()
	trial.Build.Build, trial.Build.BootSHA256 = build2, sha256hex(boot2)
	trial.Cmdline = "console=tty1 root=PARTUUID=60c24cc1-f3f9-427a-8199-3a9f63470001/PARTNROFF=2 " + bootconf.SlotTrialFlag
	trial.KexecTrials = true
	f.healthy(t, 1)
	if trial.CheckTrial(context.Background()) {
		t.Fatal("decided at the trial's first check")
	}
	f.now = f.now.Add(3 * time.Minute)
	f.healthy(t, 2)
	if !trial.CheckTrial(context.Background()) {
		t.Fatalf("healthy, not committed: %+v", f.status(t).Trial)
	}
	st := f.status(t)
	if st.LastAttempt.Result != updater.ResultInstalled || !st.Committed.Equal(build2) {
		t.Errorf("after the commit: %+v, attempt %+v", st, st.LastAttempt)
	}
	if strings.Contains(f.gokrazy.Calls(), "/update/switch") {
		t.Error("gokrazy's switch was asked: on a kexec trial it would name the old root")
	}
	slot0, mbr, gpt := f.bootSlot(t, 0, len(boot2))
	if mbr != 0 || gpt != 0 || !bytes.Equal(slot0, bootFS(t, "2", 7)) {
		t.Errorf("after the commit: slots %d and %d; slot 0 holds the release's files for root B without the mark: %v",
			mbr, gpt, bytes.Equal(slot0, bootFS(t, "2", 7)))
	}
	if want := []int64{disk.BootSlotStart(1), disk.BootSlotStart(1), disk.BootSlotStart(0)}; fmt.Sprint(moved) != fmt.Sprint(want) {
		t.Errorf("partition 1 moved to %v, want %v (the trial, the commit, the rest on slot 0)", moved, want)
	}

	// Restarted after the commit, in the same boot: the kernel's command
	// line still has the flag, but the release is committed, and the
	// next one is looked for.
	again := f.service()
	again.Build, again.Cmdline, again.KexecTrials = trial.Build, trial.Cmdline, true
	f.gokrazy.ResetCalls()
	again.Look(context.Background())
	if st := f.status(t); st.State == "on trial" || strings.Contains(st.Deferred, "on trial") || st.State != "up to date" {
		t.Errorf("restarted after the commit: state %q, deferred %q; want up to date", st.State, st.Deferred)
	}
}

// TestSlotTrialCut cuts the power during a trial of new boot files: the
// firmware boots the slot the tables name, the committed one, and the
// trial counts as failed. Cut during the commit's switch instead, the
// start undoes it.
func TestSlotTrialCut(t *testing.T) {
	defer updater.MovePartition(func(*os.File, int64) error { return nil })()
	f := start(t, "02:00")
	boot2 := bootFS(t, "1", 7)
	f.publish(t, f.priv, release.Manifest{Build: build2}, changed(f.root1, 3, 1), boot2)
	f.svc.KexecTrials = true
	f.svc.Look(context.Background())

	// The record of a commit begun, the MBR not yet written.
	b, _ := os.ReadFile(f.statePath())
	var st map[string]any
	json.Unmarshal(b, &st)
	f.cutSwitch(t, st["bootTrial"])

	var logs []string
	back := f.service() // build 1, from slot 0
	back.Build.BootSHA256 = sha256hex(f.boot1)
	back.Logf = func(format string, args ...any) { logs = append(logs, fmt.Sprintf(format, args...)) }
	back.CheckTrial(context.Background())
	if !strings.Contains(strings.Join(logs, "\n"), "undoing the switch to boot slot 1") {
		t.Errorf("log %q", logs)
	}
	if _, m, g := f.bootSlot(t, 0, 1); m != 0 || g != 0 {
		t.Errorf("after the start: slots %d and %d, want 0", m, g)
	}
	a := f.status(t).LastAttempt
	if a.Result != updater.ResultRolledBack || a.Failures != 1 || !strings.Contains(a.Error, "without a verdict") {
		t.Errorf("attempt %+v; want the trial counted as failed", a)
	}
	if b, _ := os.ReadFile(f.statePath()); strings.Contains(string(b), "bootTrial") || strings.Contains(string(b), "bootSwitch") {
		t.Errorf("records left: %s", b)
	}
}

func sha256hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}
