package e2e

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/appliance/store"
	"github.com/lapsebox/lapsebox/cloud/ingest"
	"github.com/lapsebox/lapsebox/cloud/ingest/ingesttest"
	"github.com/lapsebox/lapsebox/image"
	"github.com/lapsebox/lapsebox/image/qemu"
	"github.com/lapsebox/lapsebox/image/update"
	"github.com/lapsebox/lapsebox/ptp/sim"
)

var (
	cutsFlag = flag.Int("cuts", 4, "TestPowerCut: how many power cuts (make soak CUTS=100)")
	cutSeed  = flag.Uint64("cut-seed", 0, "TestPowerCut: seed for the cut instants and the cached pages that survive (0: from the clock)")
)

// powercutConfig takes a RAW+JPG pair every 10 s, sends both to cloudd,
// and lets retention delete what cloudd has once it is a minute old
// (camerad prunes when it starts, so at every boot).
func powercutConfig(token string) string {
	return fmt.Sprintf(`{
  "site": {"name": "powercut", "time_zone": "UTC"},
  "camera": {"mode": "capture", "keep": "both", "min_size": 3000},
  "schedule": {"interval": "10s", "min_gap": "3s"},
  "targets": [{"name": "cloud", "kind": "cloud", "url": "http://%s", "secret": "token", "send": "originals"}],
  "retention": {"max_age": "1m", "high_water": 85, "low_water": 75, "critical": 95},
  "secrets": {"token": %q}
}`, cloudGuestAddr, token)
}

// phase is what a cut aims at.
type phase string

const (
	// phaseCapture cuts within 2 s of the shutter release: the
	// transfer from the camera, the store's write and its commit.
	phaseCapture phase = "capture"
	// phaseUpload cuts in the middle of an upload's body, or just after
	// cloudd confirmed a photo and before the device recorded it.
	phaseUpload phase = "upload"
	// phaseRetention cuts within 2.5 s of camerad's start: the store's
	// recovery and the retention pass that follows it.
	phaseRetention phase = "retention"
	// phaseAnytime cuts at any instant of a 10 s slot.
	phaseAnytime phase = "anytime"
)

var phases = []phase{phaseCapture, phaseUpload, phaseRetention, phaseAnytime}

// flushTime is how long the disk takes to write its cache out on a
// flush, in the order of an SD card's.
const flushTime = 30 * time.Millisecond

// TestPowerCut cuts the appliance's power again and again at random
// instants, aimed at captures, store commits, uploads and retention, and
// reboots it on the same disk each time. After each cut the disk must
// hold a store that recovers and passes store.Verify, no partial or empty
// photo, every photo the device said was durable (camerad logs "captured"
// only after the store's fsyncs), and photos that left the outbox must be
// on cloudd; cloudd must hold no photo twice and nothing that differs from
// what the camera took and the device kept.
//
// What a cut loses. Killing QEMU (or a process) keeps everything written
// to the host's page cache, so it never tested fsync. Here the guest's
// disk is served by qemu.WriteCache, a volatile write cache in the test
// process: QEMU's virtio disk runs with cache=writeback, so the guest
// kernel sees a disk with a write cache and sends flushes (fsync, journal
// commits; FUA writes become write+flush since the cache does not offer
// FUA). Written pages stay in memory until a flush; at the cut each of
// them reaches the disk image with probability 1/2, in no order, the rest
// is lost, and the disk answers nothing more, so QEMU's own flush when it
// quits cannot save them. The guest's page cache is lost with the VM. Not
// covered: torn writes within a 4 KiB page, a disk that lies about
// flushes, and power loss in the middle of the camera's own card write.
//
// -cuts sets the number of cuts (4 by default, one aimed at each phase;
// make soak CUTS=100), and
// the test logs a table of cuts, photos, lost, duplicated and corrupt.
func TestPowerCut(t *testing.T) {
	needVM(t)
	const token = "powercut-device-token-0123456789"
	seed := *cutSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (-cut-seed)", seed)
	s := &soak{
		t:         t,
		rng:       rand.New(rand.NewPCG(seed, 1)),
		claims:    map[string]int{},
		claimedAt: map[string]time.Time{},
		sums:      map[string]string{},
		fired:     make(chan struct{}, 1),
		hit:       map[phase]int{},
	}
	start := time.Now()

	// cloudd's ingest on the host's loopback, reached through a
	// GuestForward, its uploads watched.
	cloud := ingesttest.Start(t, ingesttest.Options{Tokens: map[string]string{"lapsebox": token},
		Wrap: s.watchUploads})
	s.cloudDir = filepath.Join(cloud.Root, "lapsebox")
	s.cameraDir = t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cam, err := sim.ServeRedir(ctx, sim.RedirConfig{
		Sim: sim.Config{SerialNumber: "CUT600D0001", Quality: sim.RAWAndJPEG,
			JPEGSize: 400_000, JPEGWidth: 1280, JPEGHeight: 853, RAWSize: 1_500_000},
		PhotoDir: s.cameraDir,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer cam.Close()
	s.cam = cam

	img := buildImage(t, "pc", t.TempDir(), time.Now())
	s.manifest = img.manifest
	s.board, _ = image.LookupBoard("pc")
	s.stateDir = t.TempDir()
	s.disk = filepath.Join(s.stateDir, "disk.img")
	if err := qemu.CopyDisk(img.path, s.disk); err != nil {
		t.Fatal(err)
	}
	if err := image.WritePermFile(ctx, s.disk, img.manifest, "lapsebox/config.json", []byte(powercutConfig(token))); err != nil {
		t.Fatal(err)
	}
	s.dev = update.Device{Password: password(t, img.manifest)}
	s.cloudAddr = cloud.Addr()

	for i := 1; i <= *cutsFlag && !t.Failed(); i++ {
		s.cut(i, phases[(i-1)%len(phases)])
	}
	if !t.Failed() {
		s.drain()
	}
	t.Logf("power cuts: %d in %v (seed %d)", s.cuts, time.Since(start).Round(time.Second), seed)
	t.Logf("%6s %7s %5s %10s %7s", "cuts", "photos", "lost", "duplicated", "corrupt")
	t.Logf("%6d %7d %5d %10d %7d", s.cuts, len(s.claims), s.lost, s.duplicated, s.corrupt)
	t.Logf("aimed at and reached: capture %d, upload %d, retention %d, anytime %d of %d each",
		s.hit[phaseCapture], s.hit[phaseUpload], s.hit[phaseRetention], s.hit[phaseAnytime], (s.cuts+len(phases)-1)/len(phases))
	t.Logf("on disk after the cuts: %d transactions in tmp/ (uncommitted), %d in commit/ (committed, not in place), %d orphans of a deletion; cloudd: %d uploads, %d retention passes that deleted photos",
		s.inTmp, s.inCommit, s.orphans, s.delivered, s.retention)
	t.Logf("write cache: %d cuts found unflushed pages, %d of them lost, %d kept; e2fsck repaired more than a journal replay does after %d cuts; the camera took %d shots",
		s.unflushedCuts, s.lostPages, s.keptPages, s.fsckRepairs, s.cam.Sim.Shots())
	if s.lost+s.duplicated+s.corrupt > 0 {
		t.Errorf("%d lost, %d duplicated, %d corrupt", s.lost, s.duplicated, s.corrupt)
	}
}

// soak is TestPowerCut's state across boots.
type soak struct {
	t         *testing.T
	rng       *rand.Rand
	cam       *sim.RedirCamera
	manifest  *image.Manifest
	board     *image.Board
	dev       update.Device
	stateDir  string
	disk      string
	cloudDir  string
	cloudAddr string
	cameraDir string

	// claims maps every photo the device said was durable to the cut
	// before which it said so.
	claims map[string]int
	// claimedAt is when the test first read each claim, by the host's
	// clock.
	claimedAt map[string]time.Time
	// sums caches the sha256 of the camera's and cloudd's files.
	sums map[string]string
	// drained is when the outbox was first seen empty at the end, and
	// stayed so for longer than uploadd takes to notice a new photo:
	// every photo claimed durable before then must be on cloudd. Claim
	// times, not capture times: on a loaded machine a capture can take
	// longer to reach the store than any margin chosen for it.
	drained time.Time

	// The upload watch: armed by an upload cut, it fires once.
	mu    sync.Mutex
	armed func(ev uploadEvent) bool
	fired chan struct{}

	cuts, lost, duplicated, corrupt int
	hit                             map[phase]int
	inTmp, inCommit, orphans        int
	delivered, retention            int
	lostPages, keptPages            int
	unflushedCuts                   int
	fsckRepairs                     int
}

// uploadEvent is what cloudd's watch reports of a photo's upload.
type uploadEvent struct {
	read, total int64 // body bytes received so far, and announced
	done        bool  // cloudd answered the request
}

// watchUploads wraps cloudd's handler so that an armed upload cut fires
// in the middle of a body or after cloudd's answer. Only photos' uploads
// count: uploadd's heartbeat is a POST with a body too.
func (s *soak) watchUploads(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		upload := (r.Method == http.MethodPatch || r.Method == http.MethodPost) && strings.HasPrefix(r.URL.Path, ingest.FilesPath)
		if upload && r.ContentLength != 0 {
			r.Body = &watchedBody{ReadCloser: r.Body, total: r.ContentLength, s: s}
			defer s.event(uploadEvent{total: r.ContentLength, done: true})
		}
		h.ServeHTTP(w, r)
	})
}

func (s *soak) event(ev uploadEvent) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.armed != nil && s.armed(ev) {
		s.armed = nil
		select {
		case s.fired <- struct{}{}:
		default:
		}
	}
}

type watchedBody struct {
	io.ReadCloser
	read, total int64
	s           *soak
}

func (b *watchedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.read += int64(n)
	b.s.event(uploadEvent{read: b.read, total: b.total})
	return n, err
}

// boot starts the VM on the soak's disk and follows camerad's and
// uploadd's logs.
func (s *soak) boot(ctx context.Context) (*qemu.VM, *deviceLog) {
	t := s.t
	t.Helper()
	vm, err := qemu.Start(ctx, qemu.Config{
		Image: s.disk, Board: s.board, StateDir: s.stateDir,
		WriteCache: &qemu.WriteCacheConfig{Survive: 0.5, Rand: rand.New(rand.NewPCG(s.rng.Uint64(), 2)), FlushTime: flushTime},
		Forwards:   []qemu.Forward{{Name: "gokrazy", GuestPort: s.manifest.HTTPPort}, {Name: "statusd", GuestPort: 8080}},
		ToHost:     []qemu.GuestForward{{GuestAddr: cloudGuestAddr, HostAddr: s.cloudAddr}},
		ExtraArgs:  append([]string{"-device", "usb-ehci,id=ehci"}, s.cam.Args()...),
	})
	if err != nil {
		t.Fatal(err)
	}
	statusdPasswords.Store(vm, password(t, s.manifest))
	t.Cleanup(func() { vm.Stop() })
	s.dev.BaseURL = "http://" + vm.Addr("gokrazy")
	waitBuild(t, vm, s.dev, s.manifest.BuildTimestamp)
	l := &deviceLog{}
	l.follow(ctx, s.dev, "/user/camerad")
	l.follow(ctx, s.dev, "/user/uploadd")
	return vm, l
}

// cut boots the VM, cuts its power at an instant aimed at p, and checks
// the disk it leaves.
func (s *soak) cut(i int, p phase) {
	t := s.t
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	vm, logs := s.boot(ctx)
	booted := time.Now()
	defer func() {
		if t.Failed() {
			t.Logf("serial console:\n%s", tail(vm.SerialOutput(), 6000))
			t.Logf("camerad and uploadd:\n%s", tail(strings.Join(logs.all(), "\n"), 6000))
		}
	}()

	// Each aim waits for its moment up to a minute, then cuts anyway.
	wait := time.NewTimer(time.Minute)
	defer wait.Stop()
	reached := false
	switch p {
	case phaseCapture:
		shots := s.cam.Sim.Shots()
		for !reached && !expired(wait) {
			if s.cam.Sim.Shots() > shots {
				reached = true
				sleepUniform(s.rng, 2*time.Second)
			}
			time.Sleep(10 * time.Millisecond)
		}
	case phaseUpload:
		mid := s.rng.IntN(2) == 0
		frac := s.rng.Float64()
		after := time.Duration(s.rng.Int64N(int64(300 * time.Millisecond)))
		s.mu.Lock()
		s.armed = func(ev uploadEvent) bool {
			if mid {
				return !ev.done && ev.total > 0 && float64(ev.read) >= frac*float64(ev.total)
			}
			return ev.done
		}
		s.mu.Unlock()
		select {
		case <-s.fired:
			reached = true
			if !mid {
				time.Sleep(after)
			}
		case <-wait.C:
		}
		s.mu.Lock()
		s.armed = nil
		s.mu.Unlock()
	case phaseRetention:
		for !reached && !expired(wait) {
			if at, ok := logs.first("site configuration:"); ok {
				reached = true
				time.Sleep(time.Until(at.Add(time.Duration(s.rng.Int64N(int64(2500 * time.Millisecond))))))
			}
			time.Sleep(10 * time.Millisecond)
		}
	case phaseAnytime:
		reached = true
		sleepUniform(s.rng, 10*time.Second)
	}
	// Half the cuts then wait for the next write the guest has not yet
	// flushed: the instants a power cut tests fsync at, rare when
	// chosen blindly since the guest flushes soon after it writes.
	if s.rng.IntN(2) == 0 {
		select {
		case <-vm.Cache.Unflushed():
			sleepUniform(s.rng, 20*time.Millisecond)
		case <-time.After(3 * time.Second):
		}
	}
	stats := vm.Cache.Stats()
	rep, err := vm.PowerCut()
	if err != nil {
		t.Fatalf("cut %d: %v", i, err)
	}
	logs.wait(10 * time.Second)
	s.cuts++
	if reached {
		s.hit[p]++
	}
	s.lostPages += rep.Lost
	s.keptPages += rep.Kept
	if rep.Lost+rep.Kept > 0 {
		s.unflushedCuts++
	}
	claimed := s.record(i, logs)
	t.Logf("cut %d (%s, reached %v) %.1fs after boot, after %d writes and %d flushes: %d unflushed pages lost, %d kept; %d photos claimed durable in this boot",
		i, p, reached, time.Since(booted).Seconds(), stats.Writes, stats.Flushes, rep.Lost, rep.Kept, claimed)
	s.check(fmt.Sprintf("after cut %d", i), false)
}

func expired(t *time.Timer) bool {
	select {
	case <-t.C:
		return true
	default:
		return false
	}
}

func sleepUniform(rng *rand.Rand, d time.Duration) {
	time.Sleep(time.Duration(rng.Int64N(int64(d))))
}

var (
	capturedRE  = regexp.MustCompile(` captured \S+: (.+) in [0-9.]+s$`)
	lateRE      = regexp.MustCompile(` stored (\S+), which arrived after its capture$`)
	deliveredRE = regexp.MustCompile(` cloud: delivered \S+ \(`)
	retentionRE = regexp.MustCompile(` retention: deleted \d+ photos`)
)

// record takes what the device said during a boot: the photos it called
// durable, the uploads cloudd confirmed, the retention passes.
func (s *soak) record(i int, logs *deviceLog) int {
	n := 0
	for _, ln := range logs.entries() {
		line := ln.text
		var files []string
		if m := capturedRE.FindStringSubmatch(line); m != nil {
			files = strings.Split(m[1], ", ")
		} else if m := lateRE.FindStringSubmatch(line); m != nil {
			files = []string{m[1]}
		}
		for _, f := range files {
			if _, ok := s.claims[f]; !ok {
				s.claims[f] = i
				s.claimedAt[f] = ln.at
				n++
			}
		}
		if deliveredRE.MatchString(line) {
			s.delivered++
		}
		if retentionRE.MatchString(line) {
			s.retention++
		}
	}
	return n
}

// drain boots once more without a cut, waits until the outbox is empty,
// stops the VM in order and checks that everything reached cloudd.
func (s *soak) drain() {
	t := s.t
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	vm, logs := s.boot(ctx)
	// Empty for longer than uploadd's poll interval (the first status may
	// predate uploadd's first look at the outbox), counted from when
	// camerad's loop runs: only then has its store.Open put in place the
	// outbox entries of a commit a cut interrupted, and uploadd may have
	// drained the rest of that capture before.
	deadline := time.Now().Add(5 * time.Minute)
	var empty time.Time
	for {
		pending, recovered, err := s.pending(vm)
		var parked *parkedError
		if errors.As(err, &parked) {
			t.Fatalf("%v\n%s", err, tail(strings.Join(logs.all(), "\n"), 6000))
		}
		switch {
		case pending != 0 || !recovered:
			empty = time.Time{}
		case empty.IsZero():
			empty = time.Now()
		case time.Since(empty) > 6*time.Second:
			s.drained = empty
		}
		if !s.drained.IsZero() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the outbox did not drain after the cuts (pending %d, %v)\n%s", pending, err, tail(strings.Join(logs.all(), "\n"), 6000))
		}
		time.Sleep(time.Second)
	}
	vm.Stop()
	logs.wait(10 * time.Second)
	s.record(s.cuts+1, logs)
	s.check("after the last boot", true)
	if t.Failed() {
		t.Logf("camerad and uploadd in the last boot:\n%s", tail(strings.Join(logs.all(), "\n"), 6000))
	}
}

// pending returns how many photos uploadd owes cloudd (-1: unknown), and
// whether camerad has recovered its store (its capture loop reports a
// state, which it does only after store.Open). A parked photo is owed
// too, and waits for a new configuration that never comes here: pending
// reports it as a *parkedError.
func (s *soak) pending(vm *qemu.VM) (int, bool, error) {
	st, err := readAppliance(vm)
	if err != nil {
		return -1, false, err
	}
	recovered := st.camerad.State != "" && st.camerad.State != "refusing to write"
	if len(st.uploadd.Targets) != 1 {
		return -1, recovered, fmt.Errorf("uploadd reports %d targets", len(st.uploadd.Targets))
	}
	tg := st.uploadd.Targets[0]
	if tg.Parked > 0 {
		return tg.Pending + tg.Parked, recovered, &parkedError{n: tg.Parked, reasons: tg.ParkedReasons}
	}
	return tg.Pending, recovered, nil
}

// parkedError is uploadd parking photos: cloudd refused them for good,
// by uploadd's reading of its answers.
type parkedError struct {
	n       int
	reasons []string
}

func (e *parkedError) Error() string {
	return fmt.Sprintf("uploadd parked %d photos for cloudd: %s", e.n, strings.Join(e.reasons, "; "))
}

// owedBy reports whether photo p should have reached cloudd by the time
// the outbox drained: it was claimed durable before then or, never
// claimed (a cut came between its commit and the log line), it is from
// an earlier boot, captured well before.
func (s *soak) owedBy(p string, captured time.Time) bool {
	if at, ok := s.claimedAt[p]; ok {
		return at.Before(s.drained)
	}
	return captured.Before(s.drained.Add(-time.Minute))
}

// sum returns a file's sha256; the camera's copies and cloudd's files
// never change once there, so each is read once.
func (s *soak) sum(p string) (string, error) {
	if sum, ok := s.sums[p]; ok {
		return sum, nil
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return "", err
	}
	s.sums[p] = sha256hex(b)
	return s.sums[p], nil
}

// tree maps the sha256 of every file under dir to its path.
func (s *soak) tree(dir string) map[string][]string {
	m := map[string][]string{}
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if sum, err := s.sum(p); err == nil {
			m[sum] = append(m[sum], p)
		} else {
			s.t.Errorf("%v", err)
		}
		return nil
	})
	return m
}

// check verifies the disk the VM left, and cloudd.
func (s *soak) check(when string, final bool) {
	t := s.t
	t.Helper()
	bad := func(counter *int, format string, args ...any) {
		*counter++
		t.Errorf("%s: "+format, append([]any{when}, args...)...)
	}

	// The file system first: the journal replays, and nothing else needs
	// repair beyond what the kernel does at mount (orphans, and the free
	// counts, which ext4 does not journal).
	perm := extractPerm(t, s.disk, s.manifest)
	out, err := exec.Command("e2fsck", "-fy", perm).CombinedOutput()
	if code := exitCode(err); code != 0 && code != 1 {
		bad(&s.corrupt, "e2fsck: exit %d: /perm is damaged:\n%s", code, tail(string(out), 4000))
		return
	}
	if fixes := fsckRepairs(string(out)); len(fixes) > 0 {
		s.fsckRepairs++
		bad(&s.corrupt, "e2fsck repaired /perm beyond a journal replay: %s", strings.Join(fixes, "; "))
	}
	dump := t.TempDir()
	debugfs(t, perm, 0, false, "rdump /lapsebox "+dump)
	dir := filepath.Join(dump, "lapsebox")
	os.Remove(perm)

	// What the cut interrupted, before recovery tidies it.
	for _, sub := range []struct {
		name string
		n    *int
	}{{"tmp", &s.inTmp}, {"commit", &s.inCommit}} {
		des, _ := os.ReadDir(filepath.Join(dir, sub.name))
		for _, d := range des {
			if !strings.HasSuffix(d.Name(), ".done") {
				*sub.n++
			}
		}
	}
	filepath.WalkDir(filepath.Join(dir, "photos"), func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".json") {
			if _, err := os.Lstat(strings.TrimSuffix(p, ".json")); err != nil {
				s.orphans++
			}
		}
		return nil
	})

	// Recovery, as camerad runs it at boot, then the store's invariants.
	st, err := store.Open(dir)
	if err != nil {
		bad(&s.corrupt, "store.Open: %v", err)
		return
	}
	for _, err := range st.Verify(true) {
		bad(&s.corrupt, "store.Verify: %v", err)
	}

	camera := s.tree(s.cameraDir)
	pending := map[string]store.Entry{}
	entries, err := st.Pending("cloud")
	if err != nil {
		bad(&s.corrupt, "outbox: %v", err)
	}
	for _, e := range entries {
		pending[e.Photo] = e
	}
	photos, err := st.Photos()
	if err != nil {
		bad(&s.corrupt, "%v", err)
	}
	stored := map[string]bool{}
	bySum := map[string]string{}
	for _, p := range photos {
		stored[p] = true
		sc, err := st.ReadSidecar(p)
		if err != nil {
			bad(&s.corrupt, "%v", err)
			continue
		}
		fi, err := os.Stat(filepath.Join(dir, filepath.FromSlash(p)))
		if err != nil || fi.Size() == 0 {
			bad(&s.corrupt, "photo %s is empty or unreadable (%v)", p, err)
			continue
		}
		if _, ok := camera[sc.SHA256]; !ok {
			bad(&s.corrupt, "photo %s (sha256 %s) is none of the pictures the camera took", p, sc.SHA256)
		}
		if other, ok := bySum[sc.SHA256]; ok {
			bad(&s.duplicated, "the camera's picture %s is stored twice, as %s and %s", camera[sc.SHA256][0], other, p)
		}
		bySum[sc.SHA256] = p
		onCloud := filepath.Join(s.cloudDir, strings.TrimPrefix(p, "photos/"))
		if got, err := s.sum(onCloud); err == nil {
			if got != sc.SHA256 {
				bad(&s.corrupt, "cloudd's %s has sha256 %s, the device's %s", onCloud, got, sc.SHA256)
			}
		} else if _, ok := pending[p]; !ok {
			bad(&s.lost, "photo %s left the outbox but cloudd does not have it", p)
		}
		if e, ok := pending[p]; final && ok && s.owedBy(p, sc.CaptureTime) {
			// Created and the attempts tell a commit's entry from one
			// requeued by a reconciliation, and one never tried from one
			// that failed.
			claimed, ok := s.claimedAt[p]
			t.Errorf("%s: %s still owed to cloudd after the outbox drained at %s: entry created %s, %d attempts, last error %q; claimed at %s (%v), captured %s",
				when, p, s.drained.Format(time.RFC3339Nano), e.Created.Format(time.RFC3339Nano), e.Attempts, e.LastError,
				claimed.Format(time.RFC3339Nano), ok, sc.CaptureTime.Format(time.RFC3339Nano))
		}
	}
	cloud := s.tree(s.cloudDir)
	for sum, ps := range cloud {
		if _, ok := camera[sum]; !ok {
			bad(&s.corrupt, "cloudd holds %s, none of the pictures the camera took", strings.Join(ps, ", "))
		}
		if len(ps) > 1 {
			bad(&s.duplicated, "cloudd holds the same picture %d times: %s", len(ps), strings.Join(ps, ", "))
		}
	}
	for p, cut := range s.claims {
		if stored[p] {
			continue
		}
		if _, err := os.Stat(filepath.Join(s.cloudDir, strings.TrimPrefix(p, "photos/"))); err != nil {
			bad(&s.lost, "photo %s, durable by the device's word before cut %d, is neither on the device nor on cloudd", p, cut)
		}
	}
	if final {
		t.Logf("%s: /perm holds %d photos, cloudd %d files, the camera made %d files", when, len(photos), len(cloud), len(camera))
	}
}

// fsckRepairs returns the problems e2fsck -y fixed other than those a
// journal replay and mount leave to it on a healthy ext4.
func fsckRepairs(out string) []string {
	var fixes []string
	lines := strings.Split(out, "\n")
	for i, line := range lines {
		q := strings.LastIndex(line, "? yes")
		if q < 0 {
			continue
		}
		problem := strings.TrimSpace(line[:q])
		if j := strings.LastIndex(problem, ".  "); j >= 0 || i == 0 {
			problem = problem[:max(j, 0)]
		} else {
			problem = strings.TrimSpace(lines[i-1])
		}
		if !strings.Contains(problem, "Free blocks count wrong") && !strings.Contains(problem, "Free inodes count wrong") &&
			!strings.Contains(problem, "orphan") {
			fixes = append(fixes, problem)
		}
	}
	return fixes
}

func sha256hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// deviceLog follows services' logs through gokrazy's /log endpoint, from
// the lines gokrazy kept since the service started.
type deviceLog struct {
	mu    sync.Mutex
	lines []logLine
	seen  map[string]bool
	wg    sync.WaitGroup
}

type logLine struct {
	at   time.Time // when the line reached the test
	text string
}

// follow reads service's stderr until ctx is done or the VM goes away,
// reconnecting meanwhile (a line read twice is kept once).
func (l *deviceLog) follow(ctx context.Context, dev update.Device, service string) {
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		for ctx.Err() == nil {
			req, _ := http.NewRequestWithContext(ctx, "GET", dev.BaseURL+"/log?stream=stderr&path="+url.QueryEscape(service), nil)
			req.SetBasicAuth("gokrazy", dev.Password)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				if errors.Is(err, syscall.ECONNREFUSED) {
					return // QEMU is gone
				}
				time.Sleep(200 * time.Millisecond)
				continue
			}
			sc := bufio.NewScanner(resp.Body)
			for sc.Scan() {
				l.add(sc.Text())
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				time.Sleep(200 * time.Millisecond)
			}
		}
	}()
}

func (l *deviceLog) add(text string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.seen == nil {
		l.seen = map[string]bool{}
	}
	if l.seen[text] {
		return
	}
	l.seen[text] = true
	l.lines = append(l.lines, logLine{time.Now(), text})
}

// wait waits for the followers to see the VM gone.
func (l *deviceLog) wait(timeout time.Duration) {
	done := make(chan struct{})
	go func() {
		l.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(timeout):
	}
}

// entries returns the lines so far with when each arrived.
func (l *deviceLog) entries() []logLine {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.lines)
}

func (l *deviceLog) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, ln := range l.lines {
		out = append(out, ln.text)
	}
	return out
}

// first returns when the first line containing s arrived.
func (l *deviceLog) first(s string) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, ln := range l.lines {
		if strings.Contains(ln.text, s) {
			return ln.at, true
		}
	}
	return time.Time{}, false
}
