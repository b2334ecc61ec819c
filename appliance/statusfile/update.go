package statusfile

import "time"

// Update is updated.json: the running build, the channel's latest
// release, and the last attempt to install one.
type Update struct {
	// State is what updated is doing: "disabled" (no update section),
	// "waiting" (for the next look), "deferred" (a release is there but
	// not now: see Deferred), "downloading", "installing", "rebooting",
	// "up to date".
	State string `json:"state"`
	// Step is, while "installing", the part gokrazy is writing: "root",
	// "boot", "mbr", then "switch" and "reboot" (image/update's steps).
	Step    string    `json:"step,omitempty"`
	Updated time.Time `json:"updated"`

	// Running is the build timestamp of the running root and Version
	// its version, Board its board; Channel the release channel
	// followed.
	Running time.Time `json:"running,omitzero"`
	Version string    `json:"version,omitempty"`
	Board   string    `json:"board,omitempty"`
	Channel string    `json:"channel,omitempty"`
	// Committed is the build the boot configuration names, the one the
	// device comes back on after a reboot, and CommittedVersion its
	// version: it differs from Running only while a release runs on
	// trial.
	Committed        time.Time `json:"committed,omitzero"`
	CommittedVersion string    `json:"committedVersion,omitempty"`
	// Trial is set while the running root is on trial.
	Trial *Trial `json:"trial,omitempty"`

	// Available is the channel's latest release, once seen.
	Available *Release `json:"available,omitempty"`
	// Deferred says why an available release is not installed now
	// ("outside the maintenance window 02:00–05:00", "the store is above
	// its high-water mark", "a capture is due at …").
	Deferred  string    `json:"deferred,omitempty"`
	NextCheck time.Time `json:"nextCheck,omitzero"`

	LastAttempt *UpdateAttempt `json:"lastAttempt,omitempty"`
}

// Release names a signed release.
type Release struct {
	Version string    `json:"version"`
	Build   time.Time `json:"build"`
	// Manifest is the sha256 of the signed manifest's bytes: what a
	// refusal is remembered by.
	Manifest string `json:"manifest"`
}

// UpdateAttempt is one attempt to install a release, kept across the
// reboot it ends with.
type UpdateAttempt struct {
	Time    time.Time `json:"time"`
	Release Release   `json:"release"`
	// Result is "installed" (the device runs it, committed),
	// "rebooting" (into a release written for good), "trying" (booted on
	// trial, not yet committed), "rolled back" (the trial failed and the
	// device returned to its committed root: Error says why), "refused"
	// (never tried again: Refusal says why), "failed" (tried again at
	// the next look: Error says why).
	Result  string `json:"result"`
	Refusal string `json:"refusal,omitempty"`
	Error   string `json:"error,omitempty"`

	// RootBytes is the size of the release's root; of its bytes (and the
	// boot file system's, when it changed) FetchedBytes travelled as
	// blocks, ReusedBytes were copied from what the device has,
	// ResumedBytes were already staged, by an interrupted attempt or by
	// a patch. PatchBytes is the size of the patches from the running
	// root and boot file system, when they travelled: the link carried
	// FetchedBytes plus PatchBytes.
	RootBytes    int64 `json:"rootBytes"`
	FetchedBytes int64 `json:"fetchedBytes"`
	PatchBytes   int64 `json:"patchBytes,omitempty"`
	ReusedBytes  int64 `json:"reusedBytes"`
	ResumedBytes int64 `json:"resumedBytes"`
	// BootWritten says whether the boot file system was rewritten.
	BootWritten bool `json:"bootWritten"`
	// Trial says the release's trial boot was set up (gokrazy marked
	// the boot files) or ran; a release whose boot file system changed
	// cannot be tried: it is written for good.
	Trial bool `json:"trial,omitempty"`
	// Failures counts the failed trials of this release so far; at
	// MaxTrialFailures it is refused.
	Failures int `json:"failures,omitempty"`
	// TrialHealthy says that updated in the release on trial found every
	// health rule passing at least once (the commit may still have
	// waited for time to pass, a picture or the central server).
	TrialHealthy bool `json:"trialHealthy,omitempty"`
	// Interrupted counts the trials of this release that ended without a
	// verdict after it was found healthy: a power cut, or a reset the
	// release is not known to have caused. They are not failures; at
	// MaxTrialInterruptions the release is refused all the same.
	Interrupted int `json:"interrupted,omitempty"`
}

// MaxTrialFailures is how many failed trials refuse a release: one may
// be bad luck, two are the release's. A trial that ends without a
// verdict before the release was found healthy counts as failed: a
// release that hangs or resets the device looks like that.
const MaxTrialFailures = 2

// MaxTrialInterruptions is how many trials that end without a verdict
// after the release was found healthy refuse it: a site whose power
// fails often should still take a good release, but a release that
// hangs the device some minutes into each trial must not be tried for
// ever.
const MaxTrialInterruptions = 3

// Trial is a release running on trial: it is committed once the health
// model has found the appliance healthy and the central server was
// reached from it, or the device returns to its committed root by
// Deadline.
type Trial struct {
	Release Release `json:"release"`
	// Since is when the trial began (the trial boot's updated start),
	// Deadline when it ends without a commit.
	Since    time.Time `json:"since"`
	Deadline time.Time `json:"deadline"`
	// Waiting says what the commit waits for, in a sentence.
	Waiting string `json:"waiting,omitempty"`
}
