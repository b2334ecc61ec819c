package cellular

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lapsebox/lapsebox/appliance/statusfile"
	"github.com/lapsebox/lapsebox/internal/durable"
)

// Usage counts the data that goes through the modem's network interface
// in the current billing period, from the interface's counters
// (/sys/class/net/IFACE/statistics), and keeps the count on /perm across
// restarts and reboots. The counters restart from zero when the interface
// is re-created or the appliance reboots; Usage notices both (the count
// went down, the boot ID changed) and adds only what is new.
type Usage struct {
	// Path is the file on /perm (statusfile.DataUsePath under /perm).
	Path string
	// Sysfs is where sysfs is mounted; BootID the kernel's boot ID file.
	Sysfs, BootID string
	// CapBytes is the monthly cap (0: none); BillingDay the day the
	// operator's count restarts; Location the site's time zone.
	CapBytes   uint64
	BillingDay int
	Location   *time.Location
	// Essential are the targets still sent to past the cap.
	Essential []string
	// SaveEvery bounds writes to the SD card: the count is saved at most
	// this often (default 10 minutes) unless the cap is crossed.
	SaveEvery time.Duration

	mu     sync.Mutex
	f      usageFile
	loaded bool
	saved  time.Time
}

// usageFile is DataUse plus the counters last seen, to count only what
// is new.
type usageFile struct {
	statusfile.DataUse
	Last *lastCounters `json:"lastCounters,omitempty"`
}

type lastCounters struct {
	Interface string `json:"interface"`
	BootID    string `json:"bootID"`
	Rx        uint64 `json:"rx"`
	Tx        uint64 `json:"tx"`
}

// period returns the first day of the billing period now is in.
func (u *Usage) period(now time.Time) string {
	return statusfile.BillingPeriod(now, u.BillingDay, u.Location)
}

func (u *Usage) load() error {
	if u.loaded {
		return nil
	}
	if _, err := durable.ReadJSON(u.Path, &u.f); err != nil {
		// Start counting again rather than stop: the cap errs on the
		// side of sending until the next period.
		u.f = usageFile{}
	}
	u.loaded = true
	return nil
}

// Update adds what iface counted since the last update ("" when the modem
// has no interface) and returns the month's use. It saves to /perm when
// SaveEvery has passed, the cap was crossed or the period changed.
func (u *Usage) Update(iface string, now time.Time) (statusfile.DataUse, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if err := u.load(); err != nil {
		return statusfile.DataUse{}, err
	}
	f := &u.f
	mustSave := false
	if p := u.period(now); f.Period != p {
		f.Period, f.RxBytes, f.TxBytes, f.UsedBytes = p, 0, 0, 0
		mustSave = true
	}
	if iface != "" {
		rx, errRx := u.counter(iface, "rx_bytes")
		tx, errTx := u.counter(iface, "tx_bytes")
		if errRx == nil && errTx == nil {
			boot := u.bootID()
			last := f.Last
			switch {
			case last == nil || last.Interface != iface || last.BootID != boot || rx < last.Rx || tx < last.Tx:
				// New counters (another interface, a reboot, the
				// interface re-created): all they hold is new, unless
				// they are the first ever seen.
				if last != nil {
					f.RxBytes += rx
					f.TxBytes += tx
				}
			default:
				f.RxBytes += rx - last.Rx
				f.TxBytes += tx - last.Tx
			}
			f.Last = &lastCounters{Interface: iface, BootID: boot, Rx: rx, Tx: tx}
		}
	}
	wasOver := f.OverCap
	f.UsedBytes = f.RxBytes + f.TxBytes
	f.CapBytes = u.CapBytes
	f.OverCap = u.CapBytes > 0 && f.UsedBytes >= u.CapBytes
	f.EssentialOnly = f.OverCap
	f.EssentialTargets = u.Essential
	f.Interface = iface
	f.Updated = now
	every := u.SaveEvery
	if every <= 0 {
		every = 10 * time.Minute
	}
	if mustSave || f.OverCap != wasOver || now.Sub(u.saved) >= every {
		if err := u.save(); err != nil {
			return f.DataUse, err
		}
		u.saved = now
	}
	return f.DataUse, nil
}

// Save writes the count now (at shutdown).
func (u *Usage) Save() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if !u.loaded {
		return nil
	}
	return u.save()
}

func (u *Usage) save() error {
	if err := durable.WriteJSON(u.Path, u.f); err != nil {
		return fmt.Errorf("data use: %w", err)
	}
	return nil
}

func (u *Usage) counter(iface, name string) (uint64, error) {
	b, err := os.ReadFile(filepath.Join(u.Sysfs, "class", "net", iface, "statistics", name))
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
}

func (u *Usage) bootID() string {
	b, _ := os.ReadFile(u.BootID)
	return strings.TrimSpace(string(b))
}
