package health

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/lapsebox/lapsebox/internal/durable"
)

// Boots counts, on /perm, the boots in a row that ended before the
// appliance was stable (healthy for StableAfter). At Limit it stops the
// escalation: the watchdog is then fed whatever the health says, and an
// alert raised, rather than power-cycle a box that rebooting does not
// cure, over and over.
type Boots struct {
	Path        string // "/perm/lapsebox/boots.json"
	Limit       int
	StableAfter time.Duration

	st           bootState
	healthySince time.Duration
	healthy      bool
	err          error
}

type bootState struct {
	BootID       string `json:"bootId"`
	QuickReboots int    `json:"quickReboots"`
	Stable       bool   `json:"stable"`
}

// BootIDFile is where the kernel gives each boot its identity.
const BootIDFile = "/proc/sys/kernel/random/boot_id"

// Start reads the counter for the boot bootID: a new boot after one that
// never became stable counts, one after a stable boot starts again from
// zero; the same boot (the service restarted) changes nothing.
func (b *Boots) Start(bootID string) error {
	data, err := os.ReadFile(b.Path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		b.st = bootState{}
	case err != nil:
		b.err = fmt.Errorf("boot counter: %w", err)
		return b.err
	default:
		if err := json.Unmarshal(data, &b.st); err != nil {
			// Counting from zero again lets the escalation run: better
			// than never escalating.
			b.err = fmt.Errorf("boot counter %s unreadable (%v): counting from zero", b.Path, err)
			b.st = bootState{}
		}
	}
	if b.st.BootID == bootID {
		return b.err
	}
	switch {
	case b.st.BootID == "":
	case b.st.Stable:
		b.st.QuickReboots = 0
	default:
		b.st.QuickReboots++
	}
	b.st.BootID, b.st.Stable = bootID, false
	return errors.Join(b.err, b.save())
}

// Observe notes a verdict at mono (the monotonic clock): once healthy for
// StableAfter in a row, the boot is stable and the count starts again.
func (b *Boots) Observe(mono time.Duration, healthy bool) error {
	switch {
	case !healthy:
		b.healthy = false
	case !b.healthy:
		b.healthy, b.healthySince = true, mono
	case !b.st.Stable && mono-b.healthySince >= b.StableAfter:
		b.st.Stable, b.st.QuickReboots = true, 0
		return b.save()
	}
	return nil
}

// Escalating reports whether an unhealthy appliance may be left to the
// watchdog.
func (b *Boots) Escalating() bool { return b.st.QuickReboots < b.Limit }

// QuickReboots is the count.
func (b *Boots) QuickReboots() int { return b.st.QuickReboots }

// Stable reports whether this boot became stable.
func (b *Boots) Stable() bool { return b.st.Stable }

// Err is the last failure to read or write the counter.
func (b *Boots) Err() error { return b.err }

// Alert says what a person should know when the escalation stopped.
func (b *Boots) Alert() string {
	if b.Escalating() {
		return ""
	}
	return fmt.Sprintf("%d reboots in a row without %s of health: the watchdog is fed regardless, the appliance needs a look",
		b.st.QuickReboots, strings.TrimSuffix(b.StableAfter.String(), "0s"))
}

func (b *Boots) save() error {
	data, _ := json.Marshal(b.st)
	if err := durable.WriteFile(b.Path, data); err != nil {
		b.err = fmt.Errorf("boot counter: %w", err)
		return b.err
	}
	return nil
}
