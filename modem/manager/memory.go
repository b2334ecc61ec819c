package manager

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/lapsebox/lapsebox/internal/durable"
)

// memory is what modemd must not forget across restarts, in one small
// JSON file on /perm: the PINs a SIM refused (so that no restart ever
// tries one again: three refusals lock the SIM), a PIN attempt whose
// answer never came (counted as a refusal), and the power cycles of the
// last day (their cap must hold across restarts too).
type memory struct {
	path string
	mu   sync.Mutex
	m    memoryFile
}

type memoryFile struct {
	// Refused are PINs a SIM refused, by SIM and PIN hash.
	Refused []pinRecord `json:"refused,omitempty"`
	// Attempt is a PIN sent whose answer was not yet recorded.
	Attempt *pinRecord `json:"attempt,omitempty"`
	// PowerCycles are the relay's cycles in the last 24 hours.
	PowerCycles []time.Time `json:"powerCycles,omitempty"`
}

// pinRecord names a PIN for a SIM without keeping the PIN: the SHA-256 of
// the ICCID and the PIN.
type pinRecord struct {
	ICCID string    `json:"iccid"`
	Hash  string    `json:"hash"`
	Time  time.Time `json:"time"`
}

// pinHash hashes a PIN with its SIM's ICCID.
func pinHash(iccid, pin string) string {
	h := sha256.Sum256([]byte("lapsebox-sim-pin\x00" + iccid + "\x00" + pin))
	return hex.EncodeToString(h[:])
}

// loadMemory reads path; a missing file is an empty memory, and "" keeps
// the memory in RAM only (tests, the host command).
func loadMemory(path string) (*memory, error) {
	m := &memory{path: path}
	if path == "" {
		return m, nil
	}
	if _, err := durable.ReadJSON(path, &m.m); err != nil {
		// A damaged file must not let a refused PIN through: refuse to
		// start rather than forget.
		return nil, fmt.Errorf("manager: %s is damaged or unreadable (%v): remove it only after checking the SIM's PIN", filepath.Base(path), err)
	}
	return m, nil
}

func (m *memory) save() error {
	if m.path == "" {
		return nil
	}
	if err := durable.WriteJSON(m.path, m.m); err != nil {
		return fmt.Errorf("manager: remembering: %w", err)
	}
	return nil
}

// refused reports whether the SIM refused this PIN before (or whether an
// attempt with it never got its answer recorded), and when.
func (m *memory) refused(iccid, pin string) (time.Time, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	h := pinHash(iccid, pin)
	for _, r := range m.m.Refused {
		if r.ICCID == iccid && r.Hash == h {
			return r.Time, true
		}
	}
	if a := m.m.Attempt; a != nil && a.ICCID == iccid && a.Hash == h {
		return a.Time, true
	}
	return time.Time{}, false
}

// attempt records, durably and before the PIN is sent, that it is about
// to be tried: if modemd dies before the answer, the PIN counts as
// refused.
func (m *memory) attempt(iccid, pin string, now time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.m.Attempt = &pinRecord{ICCID: iccid, Hash: pinHash(iccid, pin), Time: now}
	return m.save()
}

// accepted clears the attempt: the SIM took the PIN.
func (m *memory) accepted() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.m.Attempt = nil
	return m.save()
}

// refuse records a refused PIN.
func (m *memory) refuse(iccid, pin string, now time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.m.Attempt = nil
	m.m.Refused = append(m.m.Refused, pinRecord{ICCID: iccid, Hash: pinHash(iccid, pin), Time: now})
	return m.save()
}

func (m *memory) powerCycles() []time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]time.Time(nil), m.m.PowerCycles...)
}

func (m *memory) setPowerCycles(ts []time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.m.PowerCycles = ts
	return m.save()
}
