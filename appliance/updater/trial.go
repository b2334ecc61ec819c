package updater

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/lapsebox/lapsebox/appliance/health"
	"github.com/lapsebox/lapsebox/appliance/statusfile"
	"github.com/lapsebox/lapsebox/image/bootconf"
	"github.com/lapsebox/lapsebox/image/release"
	"github.com/lapsebox/lapsebox/image/update"
)

// DefaultTrialEvery is how often a trial is judged.
const DefaultTrialEvery = 15 * time.Second

// trial is a release running on trial, judged by updated in that release.
type trial struct {
	attempt  *statusfile.UpdateAttempt
	since    time.Time // wall clock, for the status
	start    time.Time // monotonic start (Now in tests)
	deadline time.Duration
	model    *health.Model
	reached  bool // the central server answered from this build
	// firstSlot is the first capture slot camerad announced in the
	// trial: one before the deadline must give a picture.
	firstSlot time.Time
	// rollback is set once the trial failed: only the reboot remains.
	rollback string
}

// verdict is one judgement of a trial.
type verdict struct {
	commit   bool
	rollback string // why the device returns to its committed root
	waiting  string // what the commit still waits for
	// healthy: every health rule passes, watchdogd's verdict too; the
	// commit waits, if at all, for time, a picture or the server.
	healthy bool
}

// startTrial begins judging the running release, on trial.
func (s *Service) startTrial(a *statusfile.UpdateAttempt) {
	h := s.Config.Hardware.Health
	now := s.now()
	s.trial = &trial{attempt: a, since: now, start: s.mono(), deadline: s.Config.Update.TrialTime,
		model: &health.Model{Config: health.Config{
			StartupGrace: h.StartupGrace, StaleAfter: h.StaleAfter, CameraGrace: h.CameraGrace,
			UploadStall: h.UploadStall, PermCritical: h.PermCritical,
			Required: []string{"camerad", "uploadd"}, Self: "updated",
		}}}
	s.st.State = "on trial"
	s.st.Trial = &statusfile.Trial{Release: a.Release, Since: now, Deadline: now.Add(s.trial.deadline), Waiting: "the first check"}
	s.logf("updater: %s runs on trial until %s", a.Release.Version, s.st.Trial.Deadline.Format(time.RFC3339))
}

// mono is a monotonic clock: the trial's deadline must not move with a
// wall clock that NTP sets after the boot.
func (s *Service) mono() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// judge judges the trial once. The release is committed when, at once:
// it has run long enough for a dead or hung service to show (the health
// model's StaleAfter), every rule of the health model passes, camerad
// took a picture in this boot (unless no slot comes before the
// deadline), watchdogd (when present) finds the appliance healthy, and
// the central server answered. It is rolled back as soon as a service
// is found dead or hung, or at the deadline with what it still waited
// for.
func (s *Service) judge(ctx context.Context) verdict {
	t := s.trial
	elapsed := s.mono().Sub(t.start)
	now := s.now()
	files := health.ReadFiles(s.RunDir, "updated")
	v := t.model.Judge(health.Snapshot{Wall: now, Mono: elapsed, Files: files, Sensors: s.Sensors.Read()})
	for _, c := range v.Checks {
		if c.Rule == "status files" && c.Counts {
			return verdict{rollback: c.Reason}
		}
	}
	if !t.reached {
		_, err := s.client.Latest(ctx, s.Build.Board, s.Config.Update.Channel)
		t.reached = err == nil || errors.Is(err, release.ErrNoRelease)
	}
	var waiting []string
	for _, c := range v.Checks {
		if !c.OK {
			waiting = append(waiting, c.Rule+": "+c.Reason)
		}
	}
	w, watchdogOK := s.watchdogVerdict(now)
	healthy := len(waiting) == 0 && watchdogOK
	if stale := t.model.Config.StaleAfter; elapsed < stale {
		waiting = append(waiting, fmt.Sprintf("the services to run for %s", stale))
	}
	if cam := files["camerad"].Camera; cam != nil && cam.Mode == "capture" {
		if t.firstSlot.IsZero() {
			t.firstSlot = cam.NextSlot
		}
		deadline := now.Add(t.deadline - elapsed)
		if cam.Captures == 0 && (t.firstSlot.IsZero() || t.firstSlot.Before(deadline)) {
			waiting = append(waiting, "camerad to take a picture")
		}
	}
	if !watchdogOK {
		waiting = append(waiting, w)
	}
	if !t.reached {
		waiting = append(waiting, "an answer from the central server")
	}
	if len(waiting) == 0 {
		return verdict{commit: true}
	}
	why := strings.Join(waiting, "; ")
	if elapsed >= t.deadline {
		return verdict{rollback: fmt.Sprintf("not healthy after %s on trial: waiting for %s", t.deadline, why)}
	}
	return verdict{waiting: why, healthy: healthy}
}

// watchdogVerdict reads watchdogd's verdict, when it runs: a fresh
// watchdog.json that finds the appliance unhealthy holds the commit.
func (s *Service) watchdogVerdict(now time.Time) (string, bool) {
	var w statusfile.Watchdog
	mod, err := statusfile.Read(filepath.Join(s.RunDir, "watchdogd.json"), &w)
	if errors.Is(err, os.ErrNotExist) {
		return "", true // not in the image: the model above is the judge
	}
	switch {
	case err != nil:
		return "watchdogd's status: " + err.Error(), false
	case now.Sub(mod) > s.Config.Hardware.Health.StaleAfter:
		return "watchdogd's status is stale", false
	case !w.Healthy:
		for _, c := range w.Checks {
			if !c.OK {
				return "watchdogd: " + c.Rule + ": " + c.Reason, false
			}
		}
		return "watchdogd finds the appliance unhealthy", false
	}
	return "", true
}

// runTrial judges the trial every TrialEvery until it is decided.
func (s *Service) runTrial(ctx context.Context) {
	every := s.TrialEvery
	if every <= 0 {
		every = DefaultTrialEvery
	}
	for !s.CheckTrial(ctx) {
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}

// CheckTrial judges the release running on trial once and acts on the
// verdict: it commits the release, or records why not and reboots into
// the committed root. It reports whether the trial is decided (true
// also when there is none to judge). Run calls it every TrialEvery.
func (s *Service) CheckTrial(ctx context.Context) bool {
	if s.client == nil {
		if err := s.setup(); err != nil {
			s.st.Deferred = err.Error()
			s.writeStatus()
			return true
		}
	}
	t := s.trial
	if t == nil {
		s.writeStatus()
		return true
	}
	a := t.attempt
	var v verdict
	if t.rollback != "" {
		v.rollback = t.rollback
	} else {
		v = s.judge(ctx)
	}
	switch {
	case v.commit:
		commit := func() error { return update.Commit(ctx, s.Gokrazy) }
		if bootconf.OnSlotTrial(s.Cmdline) {
			commit = s.commitSlotTrial
		}
		if err := commit(); err != nil {
			s.st.Trial.Waiting = "the commit: " + err.Error()
			s.logf("updater: committing %s: %v", a.Release.Version, err)
			s.writeStatus()
			return false
		}
		a.Result, a.Error = ResultInstalled, ""
		s.state.Committed = &statusfile.Release{Version: s.Build.Version, Build: s.Build.Build, Manifest: a.Release.Manifest}
		s.st.Committed, s.st.CommittedVersion = s.Build.Build, s.Build.Version
		s.st.Trial, s.trial = nil, nil
		s.removeStaged()
		s.finish(a)
		s.logf("updater: %s committed after %s on trial", a.Release.Version, s.now().Sub(t.since).Round(time.Second))
		return true
	case v.rollback != "":
		if t.rollback == "" {
			t.rollback = v.rollback
			s.fail(a, v.rollback)
			s.logf("updater: %s rolled back: %s", a.Release.Version, v.rollback)
		}
		s.st.State, s.st.Trial.Waiting = "rebooting", "the reboot into the committed root: "+v.rollback
		s.writeStatus()
		if err := update.Reboot(ctx, s.Gokrazy); err != nil {
			// The record stands: a reboot by any other cause returns
			// to the committed root too. Ask again at the next check.
			s.logf("updater: rebooting to the committed root: %v", err)
			s.st.Trial.Waiting = "a reboot into the committed root (asking gokrazy failed: " + err.Error() + ")"
			s.writeStatus()
			return false
		}
		return true
	}
	if v.healthy && !a.TrialHealthy {
		// Recorded once, for the committed root to read if the trial
		// ends without a verdict: then it was most likely not the
		// release's doing.
		a.TrialHealthy = true
		s.state.LastAttempt = a
		if err := s.state.save(s.dir()); err != nil {
			s.logf("%v", err)
		}
		s.st.LastAttempt = a
	}
	s.st.Trial.Waiting = v.waiting
	s.writeStatus()
	return false
}

// fail records a failed trial of a's release; the second refuses it.
// The record is saved before the device leaves the root on trial, and
// found by the committed root's updated when it starts.
func (s *Service) fail(a *statusfile.UpdateAttempt, why string) {
	a.Failures++
	s.endTrial(a, why, a.Failures >= statusfile.MaxTrialFailures, fmt.Sprintf("failed its trial %d times", a.Failures))
}

// interrupt records a trial of a's release that ended without a verdict
// after the release was found healthy; the MaxTrialInterruptions-th
// refuses it.
func (s *Service) interrupt(a *statusfile.UpdateAttempt, why string) {
	a.Interrupted++
	s.endTrial(a, why, a.Interrupted >= statusfile.MaxTrialInterruptions, fmt.Sprintf("%d trials ended without a verdict", a.Interrupted))
}

// endTrial records a trial of a's release that did not commit it, and
// refuses the release if refuse, saying how often (count) and why.
func (s *Service) endTrial(a *statusfile.UpdateAttempt, why string, refuse bool, count string) {
	a.Result, a.Error = ResultRolledBack, why
	if refuse {
		a.Refusal = count + ", last: " + why
		s.state.refuse(a.Release.Manifest, a.Refusal)
	}
	s.state.LastAttempt = a
	if err := s.state.save(s.dir()); err != nil {
		s.logf("%v", err)
	}
	s.st.LastAttempt = a
}

// removeStaged drops the staging files of an installed release.
func (s *Service) removeStaged() {
	for _, name := range []string{"root.img", "boot.img", "mbr.img"} {
		os.Remove(filepath.Join(s.dir(), name))
	}
	entries, _ := os.ReadDir(s.dir())
	for _, e := range entries {
		if isPatchFile(e.Name()) {
			os.Remove(filepath.Join(s.dir(), e.Name()))
		}
	}
}
