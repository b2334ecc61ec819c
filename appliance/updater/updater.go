// Package updater is updated's logic: it pulls signed releases from the
// central server and installs them through gokrazy's own update
// handlers, the way a host pushes one (image/update), but from inside
// the device and only when that harms no picture.
//
// Each look, inside the site's maintenance window and while the store is
// below its high-water mark, fetches the channel's latest signed
// manifest and verifies it (signature with the key baked into the image,
// board, hostname, newer than the running build). A release refused for
// what it is is remembered by the hash of its manifest and never tried
// again. An accepted one is assembled into staging files on /perm, block
// by block: blocks the running root (and boot file system) already has
// are copied, the others fetched and checked; an interrupted download
// resumes where it stopped. When the device lacks more than a few
// blocks, a patch from the running root (image/delta), if the server has
// one, writes the staged root first (and one from the boot file system
// the staged boot files), and only the blocks it got wrong travel
// (patch.go). Away from any capture slot, the staged root
// (and boot file system, only when it changed) is written into the
// inactive partition, the boot configuration switched and the device
// rebooted.
//
// A release that keeps the device's boot file system is booted once, on
// trial (gokrazy's /update/testboot): the boot configuration still names
// the committed root, so a reboot, a crash or a watchdog reset returns
// to it. updated in the release on trial judges it (trial.go) and
// commits it (/update/switch) once healthy, or records why not and
// reboots into the committed root; a release whose trial failed twice is
// refused. A release that changes the boot file system (a new kernel)
// goes into the boot slot not in use (bootslot.go): where gokrazy's
// reboot kexecs (amd64) it runs on trial from there, the partition
// tables still naming the old slot, and is switched to once healthy;
// elsewhere it is switched to for good.
package updater

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/lapsebox/lapsebox/appliance/bootdisk"
	"github.com/lapsebox/lapsebox/appliance/config"
	"github.com/lapsebox/lapsebox/appliance/statusfile"
	"github.com/lapsebox/lapsebox/hw"
	"github.com/lapsebox/lapsebox/image/bootconf"
	"github.com/lapsebox/lapsebox/image/release"
	"github.com/lapsebox/lapsebox/image/update"
)

// Service pulls and installs releases for one site configuration.
type Service struct {
	Config *config.Config
	// Perm is the persistent partition; updated keeps its state and the
	// staging files in <Perm>/lapsebox/update.
	Perm string
	// RunDir holds the status files: camerad.json is read, updated.json
	// written.
	RunDir string
	// Build is the running image's build information, Key the public key
	// releases must be signed with (both from the root file system).
	Build release.BuildInfo
	Key   ed25519.PublicKey
	// Disk names the running root's partitions.
	Disk bootdisk.Disk
	// Device is the device's name at the central server.
	Device string
	// Gokrazy reaches gokrazy's update handlers.
	Gokrazy update.Device
	// HTTP fetches releases (nil: a client with timeouts).
	HTTP *http.Client
	// Now returns the time (nil: time.Now); Jitter a random duration
	// below max (nil: uniform).
	Now    func() time.Time
	Jitter func(max time.Duration) time.Duration
	Logf   func(format string, args ...any)
	// StatusEvery is how often the status file is rewritten while
	// nothing changes (0: DefaultStatusEvery).
	StatusEvery time.Duration
	// Cmdline is the kernel's command line (/proc/cmdline): it says
	// whether the running root is on trial.
	Cmdline string
	// Sensors reads the board for the health model that judges a
	// trial; its Perm is the store's file system.
	Sensors hw.Sensors
	// TrialEvery is how often a trial is judged (0: DefaultTrialEvery).
	TrialEvery time.Duration
	// InstallWait is how long a staged release waits, without returning,
	// for the camera to spare a moment (0: DefaultInstallWait).
	InstallWait time.Duration
	// KexecTrials says that gokrazy's reboot starts the kernel of
	// partition 1 by kexec (on amd64): new boot files then run on trial
	// from the boot slot not in use (bootslot.go). Elsewhere they are
	// written for good.
	KexecTrials bool
	// Pushes are boot files a host pushed (PushHandler), which Run
	// writes between two looks (nil: none).
	Pushes <-chan PushRequest

	mu     sync.Mutex // guards last and the status file
	last   []byte     // the status last written, as JSON
	st     statusfile.Update
	state  *state
	client *release.Client
	trial  *trial // the release on trial that this updated judges
	retry  time.Time
	// rootSHA256 is the running root's, once hashed.
	rootSHA256 string
	// pushed says that a host pushed boot files, which wait for its
	// reboot: no release is installed meanwhile.
	pushed bool
}

// Result values of statusfile.UpdateAttempt.
const (
	ResultInstalled  = "installed"
	ResultRebooting  = "rebooting"
	ResultTrying     = "trying"
	ResultRolledBack = "rolled back"
	ResultRefused    = "refused"
	ResultFailed     = "failed"
)

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().In(s.Config.Site.Location)
	}
	return time.Now().In(s.Config.Site.Location)
}

func (s *Service) logf(format string, args ...any) {
	if s.Logf != nil {
		s.Logf(format, args...)
	}
}

func (s *Service) dir() string { return filepath.Join(s.Perm, "lapsebox", "update") }

// DefaultStatusEvery keeps updated.json fresh: its age is the service's
// heartbeat, and watchdogd's health model takes a file unchanged for
// 90 s for a hung service, which would stop the feeding (in the middle
// of a long download too).
const DefaultStatusEvery = 30 * time.Second

func (s *Service) writeStatus() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.Updated = s.now()
	s.last, _ = json.Marshal(&s.st)
	if err := statusfile.Write(filepath.Join(s.RunDir, "updated.json"), &s.st); err != nil {
		s.logf("%v", err)
	}
}

// heartbeat rewrites the last status with a new time until ctx is done.
// It works on a copy decoded from the last write, so it never reads the
// status while a look changes it.
func (s *Service) heartbeat(ctx context.Context) {
	every := s.StatusEvery
	if every <= 0 {
		every = DefaultStatusEvery
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.mu.Lock()
		var st statusfile.Update
		if s.last != nil && json.Unmarshal(s.last, &st) == nil {
			st.Updated = s.now()
			if err := statusfile.Write(filepath.Join(s.RunDir, "updated.json"), &st); err != nil {
				s.logf("%v", err)
			}
		}
		s.mu.Unlock()
	}
}

// Run looks for releases until ctx is done. Without an update section it
// only says so in its status file.
func (s *Service) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	var beat sync.WaitGroup
	beat.Go(func() { s.heartbeat(ctx) })
	defer beat.Wait()
	defer cancel()
	// The boot slots are tidied, and pushes taken, with or without an
	// update section: a host may push to any device.
	if err := s.prepare(); err != nil {
		s.logf("%v", err)
	}
	u := s.Config.Update
	if u == nil {
		s.st = statusfile.Update{State: "disabled", Running: s.Build.Build, Version: s.Build.Version, Board: s.Build.Board}
		s.writeStatus()
		s.takePushes(ctx)
		return nil
	}
	if err := s.setup(); err != nil {
		s.st.Deferred = err.Error()
		s.writeStatus()
		s.logf("%v", err)
		s.takePushes(ctx)
		return nil
	}
	if s.trial != nil {
		s.runTrial(ctx)
		if s.trial != nil { // rolled back: the reboot stops this root
			<-ctx.Done()
			return nil
		}
	}
	var last time.Time
	for {
		next := NextLook(*u, s.now(), last, s.Jitter)
		if !s.retry.IsZero() && s.retry.Before(next) {
			next = s.retry
		}
		s.retry = time.Time{}
		s.st.NextCheck = next
		if s.st.State != "up to date" && s.st.State != "deferred" && s.st.State != "rebooting" {
			s.st.State = "waiting"
		}
		s.writeStatus()
		t := time.NewTimer(time.Until(next))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case p := <-s.Pushes:
			t.Stop()
			s.takePush(p)
			continue
		case <-t.C:
		}
		last = s.now()
		s.Look(ctx)
	}
}

// takePushes writes pushed boot files until ctx is done.
func (s *Service) takePushes(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case p := <-s.Pushes:
			s.takePush(p)
		}
	}
}

// onTrial reports whether the running root is on trial: booted with a
// trial's flag (the kernel's command line keeps it until the next boot)
// and not committed since.
func (s *Service) onTrial() bool {
	if !bootconf.OnTrial(s.Cmdline) {
		return false
	}
	c := s.state.Committed
	return c == nil || !c.Build.Equal(s.Build.Build)
}

// prepare reads the state, once, and finishes or undoes a switch of the
// boot slots that a cut interrupted.
func (s *Service) prepare() error {
	if s.state != nil {
		return nil
	}
	if s.Disk.Whole == "" {
		return errors.New("updater: the boot disk is unknown")
	}
	st, err := loadState(s.dir())
	if err != nil {
		return err
	}
	s.state = st
	if err := s.tidyBootSlots(); err != nil {
		// A release with new boot files will say so again; one
		// without needs no second slot.
		s.logf("updater: boot slots: %v", err)
	}
	return nil
}

// setup reads the state, finishes the record of an install the reboot
// interrupted and makes the release client.
func (s *Service) setup() error {
	u := s.Config.Update
	s.st = statusfile.Update{State: "waiting", Running: s.Build.Build, Version: s.Build.Version, Board: s.Build.Board, Channel: u.Channel}
	switch {
	case s.Build.Board == "":
		return fmt.Errorf("updater: the image does not say what it is (%s)", release.BuildPath)
	case s.Disk.Root == "":
		return errors.New("updater: the running root's partition is unknown")
	case s.Key == nil:
		return fmt.Errorf("updater: the image carries no release key (%s): it accepts no release", release.KeyPath)
	}
	var target *config.Target
	for i, t := range s.Config.Targets {
		if t.Kind == config.Cloud && (u.Target == "" || u.Target == t.Name) {
			target = &s.Config.Targets[i]
			break
		}
	}
	if target == nil {
		return errors.New("updater: no cloud target to pull releases from")
	}
	token := ""
	if target.Secret != "" {
		token = s.Config.Secrets[target.Secret].Reveal()
	}
	hc := s.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 2 * time.Minute}
	}
	s.client = &release.Client{BaseURL: target.URL, HTTP: hc, Auth: func(r *http.Request) {
		r.Header.Set("Authorization", "Bearer "+token)
		r.Header.Set("Lapsebox-Device", s.Device)
	}}
	if err := s.prepare(); err != nil {
		return err
	}
	st := s.state
	onTrial := s.onTrial()
	if !onTrial {
		c := &statusfile.Release{Version: s.Build.Version, Build: s.Build.Build}
		if old := st.Committed; old != nil && old.Build.Equal(c.Build) {
			c.Manifest = old.Manifest
		}
		st.Committed = c
	}
	if c := st.Committed; c != nil {
		s.st.Committed, s.st.CommittedVersion = c.Build, c.Version
	}
	a := st.LastAttempt
	switch {
	case a == nil:
	case a.Result == ResultRebooting && a.Release.Build.Equal(s.Build.Build):
		a.Result = ResultInstalled
		s.removeStaged()
	case a.Result == ResultRebooting:
		a.Result = ResultFailed
		a.Error = fmt.Sprintf("the device came back on build %s, not the release's %s (a power cut during the install, or a switch the boot loader did not follow)",
			s.Build.Build.Format(time.RFC3339), a.Release.Build.Format(time.RFC3339))
	case a.Result == ResultTrying && onTrial && a.Release.Build.Equal(s.Build.Build):
		a.Trial = true // the trial boot ran, even if its mark was lost
		s.startTrial(a)
	case a.Result == ResultTrying && !onTrial && a.Release.Build.Equal(s.Build.Build):
		// Committed by someone else (a host, by hand) before this start.
		a.Result = ResultInstalled
		s.removeStaged()
	case a.Result == ResultTrying && !a.Trial:
		// Stopped before the trial boot was marked: the root write, or
		// the boot files', was cut. The release was never tried; it
		// is, at the next look.
		written := "the root was"
		if a.BootWritten {
			written = "the root or the boot files were"
		}
		a.Result = ResultFailed
		a.Error = fmt.Sprintf("the install stopped before the trial boot was set up (a power cut or a crash while %s written); the device runs build %s",
			written, s.Build.Build.Format(time.RFC3339))
	case a.Result == ResultTrying && a.TrialHealthy:
		// Back on the committed root without a verdict, after the
		// release was found healthy: most likely a power cut.
		s.interrupt(a, fmt.Sprintf("the trial ended without a verdict after the release was found healthy: the device restarted on build %s (a power cut or a reset; counted apart from failures)",
			s.Build.Build.Format(time.RFC3339)))
	case a.Result == ResultTrying:
		// Back on the committed root without a verdict, before the
		// release was found healthy: the trial boot crashed, hung
		// until a watchdog reset, lost its power, or never started.
		s.fail(a, fmt.Sprintf("the trial ended without a verdict: the device restarted on build %s (a crash, a watchdog reset or a power cut during the trial, or a trial boot that did not start)",
			s.Build.Build.Format(time.RFC3339)))
	}
	if onTrial && s.trial == nil {
		s.st.State = "on trial"
		s.st.Deferred = "the running root is on trial, not started by updated: whoever started it commits it or reboots"
	}
	if err := st.save(s.dir()); err != nil {
		return err
	}
	s.st.LastAttempt = st.LastAttempt
	return nil
}

// conditions reads what camerad says of the store and the next capture;
// without its status, the store is measured directly.
func (s *Service) conditions(need uint64) Conditions {
	c := Conditions{Now: s.now(), Need: need}
	var cam statusfile.Camera
	if _, err := statusfile.Read(filepath.Join(s.RunDir, "camerad.json"), &cam); err == nil {
		c.NextSlot, c.Capturing = cam.NextSlot, cam.State == "capturing"
		if cam.LastCapture != nil && cam.NextSlot.After(cam.LastCapture.Slot) {
			c.Gap = cam.NextSlot.Sub(cam.LastCapture.Slot)
		}
		if cam.Store != nil {
			c.Used, c.Total = cam.Store.UsedBytes, cam.Store.TotalBytes
		}
	}
	if c.Total == 0 {
		var fs syscall.Statfs_t
		if err := syscall.Statfs(s.Perm, &fs); err == nil {
			c.Used = (fs.Blocks - fs.Bfree) * uint64(fs.Bsize)
			c.Total = c.Used + fs.Bavail*uint64(fs.Bsize)
		}
	}
	return c
}

func (s *Service) gate() Gate {
	return Gate{Update: *s.Config.Update, HighWater: s.Config.Retention.HighWater}
}

// deferred records why the release waits; it reports whether it does.
// Downloading may go on beside a capture; installing may not.
func (s *Service) deferred(need uint64, install bool) bool {
	c := s.conditions(need)
	if !install {
		c = c.withoutCamera()
	}
	why := s.gate().Check(c)
	s.st.Deferred = why
	if why != "" {
		// Staged and waiting only for the camera: look again once the
		// coming capture is done, not a whole poll later.
		switch {
		case install && c.NextSlot.After(c.Now):
			s.retry = c.NextSlot.Add(captureSettle)
		case install && c.Capturing:
			s.retry = c.Now.Add(captureSettle)
		}
		s.st.State = "deferred"
		s.writeStatus()
		return true
	}
	return false
}

// captureSettle is how long after a slot the install is tried again: a
// capture takes some seconds.
const captureSettle = 10 * time.Second

// DefaultInstallWait bounds how long a staged release waits for a
// moment between captures before updated leaves it to a later look: two
// of the gaps the gate asks for, so that a schedule of any density has
// its moment inside.
const DefaultInstallWait = 2 * CaptureGap

// awaitInstall waits until the release may be installed, and reports
// whether it may. While only the camera holds it up (a capture under way
// or due soon), it watches camerad's status every second, so that on a
// schedule of slots seconds apart the install goes in the moment after
// a capture; the staged parts are not read again. Anything else (the
// window closed, the store filled) and a wait longer than InstallWait
// leave the release to a later look.
func (s *Service) awaitInstall(ctx context.Context) bool {
	wait := s.InstallWait
	if wait == 0 {
		wait = DefaultInstallWait
	}
	poll := min(time.Second, wait/4)
	give := time.NewTimer(wait)
	defer give.Stop()
	for {
		c := s.conditions(0)
		why := s.gate().Check(c)
		if why == "" {
			s.st.Deferred = ""
			return true
		}
		if s.gate().Check(c.withoutCamera()) != "" {
			return !s.deferred(0, true)
		}
		if s.st.State != "deferred" || s.st.Deferred != why {
			s.st.State, s.st.Deferred = "deferred", why
			s.writeStatus()
		}
		t := time.NewTimer(poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-give.C:
			t.Stop()
			return !s.deferred(0, true)
		case <-t.C:
		}
	}
}

// Look looks for a release once and installs it when it may. It reports
// what happened in the status file and, for an attempt, in the state on
// /perm.
func (s *Service) Look(ctx context.Context) {
	if s.client == nil {
		if err := s.setup(); err != nil {
			s.st.Deferred = err.Error()
			s.writeStatus()
			return
		}
	}
	if s.onTrial() {
		return // never write the inactive root: on trial it is the committed one
	}
	if s.pushed {
		s.st.Deferred = "a host pushed boot files, which wait for its reboot"
		s.writeStatus()
		return
	}
	if s.deferred(0, false) {
		return
	}
	signed, err := s.client.Latest(ctx, s.Build.Board, s.Config.Update.Channel)
	if errors.Is(err, release.ErrNoRelease) {
		s.st.State, s.st.Available = "up to date", nil
		s.writeStatus()
		return
	}
	if err != nil {
		s.logf("updater: looking for a release: %v", err)
		s.st.Deferred = "the server could not be asked: " + err.Error()
		s.writeStatus()
		return
	}
	rel := statusfile.Release{Manifest: release.Hash(signed)}
	if m, err := release.Inspect(signed); err == nil {
		rel.Version, rel.Build = m.Version, m.Build
	}
	s.st.Available = &rel
	if why, ok := s.state.refused(rel.Manifest); ok {
		s.st.State, s.st.Deferred = "up to date", "refused earlier: "+why
		s.writeStatus()
		return
	}
	if m, err := release.Open(signed, s.Key); err == nil && m.Build.Equal(s.Build.Build) {
		s.st.State, s.st.Deferred = "up to date", ""
		s.writeStatus()
		return
	}
	attempt := &statusfile.UpdateAttempt{Time: s.now(), Release: rel}
	if a := s.state.LastAttempt; a != nil && a.Release.Manifest == rel.Manifest {
		attempt.Failures, attempt.Interrupted = a.Failures, a.Interrupted // trials before
	}
	m, err := release.Verify(signed, s.Key, s.Build.Device())
	if err != nil {
		attempt.Result, attempt.Refusal = ResultRefused, err.Error()
		s.state.refuse(rel.Manifest, err.Error())
		s.finish(attempt)
		s.logf("updater: refused: %v", err)
		return
	}
	attempt.RootBytes = m.Root.Size
	if s.deferred(uint64(m.Root.Size+m.Boot.Size), false) {
		return
	}
	if err := s.install(ctx, m, attempt); err != nil {
		if ctx.Err() != nil && (attempt.Result == ResultRebooting || attempt.Result == ResultTrying) {
			return // gokrazy stops every service on its way down
		}
		attempt.Result, attempt.Error = ResultFailed, err.Error()
		s.finish(attempt)
		s.logf("updater: %s: %v", m.Version, err)
	}
}

// finish records an attempt's end.
func (s *Service) finish(a *statusfile.UpdateAttempt) {
	s.state.LastAttempt = a
	if err := s.state.save(s.dir()); err != nil {
		s.logf("%v", err)
	}
	s.st.LastAttempt = a
	s.st.State = "waiting"
	if a.Result == ResultRebooting || a.Result == ResultTrying {
		s.st.State = "rebooting"
	}
	s.writeStatus()
}

// install stages the release's parts and writes them through gokrazy.
func (s *Service) install(ctx context.Context, m *release.Manifest, a *statusfile.UpdateAttempt) error {
	s.st.State = "downloading"
	s.writeStatus()
	if err := os.MkdirAll(s.dir(), 0o755); err != nil {
		return err
	}
	rootDev, err := os.Open(s.Disk.Root)
	if err != nil {
		return fmt.Errorf("opening the running root: %w", err)
	}
	defer rootDev.Close()
	partSize, _ := rootDev.Seek(0, io.SeekEnd)
	rootSize, err := squashfsSize(rootDev, partSize)
	if err != nil {
		return err
	}
	bootDev, err := os.Open(s.Disk.Boot)
	if err != nil {
		return fmt.Errorf("opening the boot partition: %w", err)
	}
	defer bootDev.Close()
	bootSize, _ := bootDev.Seek(0, io.SeekEnd)

	sources := []release.Source{{R: rootDev, Size: rootSize}}
	bootChanged := s.bootChanged(m.Boot, bootDev, bootSize)
	if bootChanged {
		sources = append(sources, release.Source{R: bootDev, Size: min(bootSize, m.Boot.Size)})
	}
	idx, err := release.NewIndex(sources...)
	if err != nil {
		return err
	}
	if err := s.patchRoot(ctx, m, rootDev, rootSize, idx.Need(m.Root), a); err != nil {
		if ctx.Err() != nil {
			return err
		}
		s.logf("%v: fetching the blocks instead", err)
	}
	root, err := s.assemble(ctx, "root.img", m.Root, sources, idx, a)
	if err != nil {
		return err
	}
	defer root.Close()
	img := update.Image{Root: root, BuildTimestamp: m.Build.Format(time.RFC3339), Trial: !bootChanged}
	var boot *os.File
	if bootChanged {
		if err := s.patchBoot(ctx, m, bootDev, idx.Need(m.Boot), a); err != nil {
			if ctx.Err() != nil {
				return err
			}
			s.logf("%v: fetching the blocks instead", err)
		}
		boot, err = s.assemble(ctx, "boot.img", m.Boot, sources, idx, a)
		if err != nil {
			return err
		}
		defer boot.Close()
		if m.MBR != nil {
			mbr, err := s.assemble(ctx, "mbr.img", *m.MBR, sources, idx, a)
			if err != nil {
				return err
			}
			defer mbr.Close()
			if img.MBR, err = io.ReadAll(mbr); err != nil {
				return err
			}
		}
	}
	// Staged. The boot partition must not stay open: the kernel moves
	// an open partition nowhere (bootslot.go), and gokrazy writes it.
	bootDev.Close()
	// The download may have taken long: look again before the camera
	// goes away.
	if !s.awaitInstall(ctx) {
		return nil // staged, for a later look (or a stop)
	}
	// Trial is set once gokrazy has marked the trial boot, below: an
	// install cut before that is no failed trial.
	a.BootWritten, a.Trial = bootChanged, false
	trial := img.Trial || (bootChanged && s.KexecTrials)
	a.Result = ResultRebooting
	if img.Trial {
		// Each trial leaves flags in the boot files' padding: tidy
		// them first, so that it never runs out.
		if err := bootconf.TidyPartition(s.Disk.Boot); err != nil {
			return fmt.Errorf("preparing the trial boot: %w", err)
		}
	}
	if trial {
		a.Result = ResultTrying
	}
	s.finish(a) // before the reboot: the next start completes the record
	s.st.State = "installing"
	s.writeStatus()
	var step string
	defer func() { s.st.Step = "" }()
	progress := func(p update.Progress) {
		if p.Step == step {
			return
		}
		step, s.st.Step = p.Step, p.Step
		switch {
		case step == update.StepReboot && trial:
			// The trial is set up (gokrazy's testboot mark, or the
			// boot slot on trial): whatever ends this boot, the
			// next runs the release on trial.
			a.Trial = true
			s.finish(a)
			s.st.State = "installing"
		case step == update.StepReboot && a.Result == ResultTrying:
			// The boot slot could not be tried: written for good.
			a.Result = ResultRebooting
			s.finish(a)
			s.st.State = "installing"
		}
		s.writeStatus()
	}
	if bootChanged {
		err = s.installWithBoot(ctx, img.Root, boot, m.Boot, img.MBR, &trial, progress)
	} else {
		err = update.Install(ctx, s.Gokrazy, img, progress)
	}
	if err != nil && step != update.StepReboot {
		a.Result = ResultFailed
	}
	if err == nil {
		s.st.State = "rebooting"
		s.writeStatus()
	}
	return err
}

// installWithBoot installs a release with new boot files: the root into
// the inactive root partition (gokrazy's /update/root), the boot files
// into the other boot slot, naming that root (bootslot.go). With *trial,
// the tables keep naming the slot in use and gokrazy's reboot starts the
// new slot's kernel by kexec: any reset ends the trial. Without (or when
// the kernel cannot be told of the slot on trial: *trial is then
// cleared), the tables are switched to the new slot and the device
// reboots through the firmware, as at power-on.
func (s *Service) installWithBoot(ctx context.Context, root io.ReadSeeker, boot io.ReaderAt, p release.Part, bootCode []byte, trial *bool,
	progress func(update.Progress)) error {
	nroff, err := s.inactiveRoot()
	if err != nil {
		return err
	}
	if err := update.WriteRoot(ctx, s.Gokrazy, root, progress); err != nil {
		return err
	}
	progress(update.Progress{Step: update.StepBoot})
	if *trial {
		undo, err := s.stageSlotTrial(boot, p, bootCode, nroff)
		switch {
		case err == nil:
			progress(update.Progress{Step: update.StepReboot})
			if err := update.Reboot(ctx, s.Gokrazy); err != nil {
				// gokrazy stops the services (this one too, which
				// cancels ctx) before it answers: then the reboot is
				// under way, and partition 1 must stay where it is.
				if ctx.Err() == nil {
					undo()
				}
				return err
			}
			return nil
		case errors.Is(err, errNoSlotTrial):
			s.logf("updater: %v: writing the boot files for good", err)
			*trial = false
		default:
			return fmt.Errorf("writing the boot files: %w", err)
		}
	}
	// The boot files count as the release's (bootChanged) only once the
	// switch to them is done: a cut before leaves them to be written.
	if _, err := s.writeBootSlot(boot, p.Size, p.SHA256, bootCode, nroff); err != nil {
		return fmt.Errorf("writing the boot files: %w", err)
	}
	progress(update.Progress{Step: update.StepReboot})
	return update.RebootFirmware(ctx, s.Gokrazy)
}

// inactiveRoot returns the root partition gokrazy writes, the one not
// running, as its offset from the boot partition (PARTNROFF): 1 for
// root A, 2 for root B.
func (s *Service) inactiveRoot() (int, error) {
	switch s.Disk.RootNumber {
	case 2:
		return 2, nil
	case 3:
		return 1, nil
	}
	return 0, fmt.Errorf("the running root is partition %d, neither root A nor B", s.Disk.RootNumber)
}

// bootChanged reports whether the release's boot file system differs
// from the device's: the one the running root was built with (its
// build.json says), or the last one an update wrote (the state
// remembers). An image too old to say is compared byte for byte, once
// the command lines gokrazy rewrites at each switch and trial are put
// back as built; any other change (the vfat driver's dirty flag and
// access dates after a kexec reboot mounted it) counts as a change,
// which is safe: the boot files are written.
func (s *Service) bootChanged(p release.Part, dev io.ReaderAt, size int64) bool {
	if p.SHA256 == s.state.BootSHA256 || p.SHA256 == s.Build.BootSHA256 {
		return false
	}
	if s.Build.BootSHA256 != "" {
		return true
	}
	if size < p.Size {
		return true
	}
	fs := make([]byte, p.Size)
	if _, err := dev.ReadAt(fs, 0); err != nil {
		return true
	}
	if release.CheckPart(bytes.NewReader(fs), p) == nil {
		return false
	}
	if err := bootconf.Normalize(fs); err != nil {
		return true
	}
	return release.CheckPart(bytes.NewReader(fs), p) != nil
}

// assemble stages part p in the file name, resuming what is there.
func (s *Service) assemble(ctx context.Context, name string, p release.Part, sources []release.Source, idx release.Index,
	a *statusfile.UpdateAttempt) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(s.dir(), name), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	st, err := release.Assemble(ctx, p, f, sources, idx, s.client)
	a.FetchedBytes += st.Fetched
	a.ReusedBytes += st.Local
	a.ResumedBytes += st.Resumed
	if err == nil {
		err = f.Truncate(p.Size)
	}
	if err == nil {
		err = f.Sync()
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("staging %s: %w", strings.TrimSuffix(name, ".img"), err)
	}
	_, err = f.Seek(0, io.SeekStart)
	return f, err
}
