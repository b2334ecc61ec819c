package updater

import (
	"fmt"
	"path/filepath"

	"github.com/lapsebox/lapsebox/appliance/statusfile"
	"github.com/lapsebox/lapsebox/internal/durable"
)

// maxRefusals bounds the remembered refusals; the oldest go first.
const maxRefusals = 32

// state is what updated keeps on /perm across restarts and reboots.
type state struct {
	// Refused are the manifests refused, by the sha256 of their signed
	// bytes, oldest first: none is ever tried again.
	Refused []refusal `json:"refused,omitempty"`
	// LastAttempt is the last install, finished on the next start.
	LastAttempt *statusfile.UpdateAttempt `json:"lastAttempt,omitempty"`
	// Committed is the build the boot configuration names, as the last
	// start outside a trial found it running: a trial's status shows it.
	Committed *statusfile.Release `json:"committed,omitempty"`
	// BootSHA256 is the boot file system last written: /update/switch
	// rewrites its cmdline afterwards, so the partition no longer hashes
	// to it although it is the same release's.
	BootSHA256 string `json:"bootSHA256,omitempty"`
	// BootSwitch is a switch of the boot slot begun and not known to be
	// finished (bootslot.go).
	BootSwitch *bootSwitch `json:"bootSwitch,omitempty"`
	// BootTrial is the boot slot written for a trial and the switch to
	// it that commits the trial (bootslot.go).
	BootTrial *bootSwitch `json:"bootTrial,omitempty"`
}

type refusal struct {
	Manifest string `json:"manifest"`
	Reason   string `json:"reason"`
}

func (s *state) refused(manifest string) (string, bool) {
	for _, r := range s.Refused {
		if r.Manifest == manifest {
			return r.Reason, true
		}
	}
	return "", false
}

func (s *state) refuse(manifest, reason string) {
	s.Refused = append(s.Refused, refusal{manifest, reason})
	if len(s.Refused) > maxRefusals {
		s.Refused = s.Refused[len(s.Refused)-maxRefusals:]
	}
}

func statePath(dir string) string { return filepath.Join(dir, "state.json") }

func loadState(dir string) (*state, error) {
	var s state
	if _, err := durable.ReadJSON(statePath(dir), &s); err != nil {
		return nil, fmt.Errorf("updater: %w", err)
	}
	return &s, nil
}

func (s *state) save(dir string) error {
	if err := durable.WriteJSON(statePath(dir), s); err != nil {
		return fmt.Errorf("updater: %w", err)
	}
	return nil
}
