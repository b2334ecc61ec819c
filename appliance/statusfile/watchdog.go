package statusfile

import "time"

// Watchdog is watchdogd.json: whether the appliance is healthy and why
// not, whether the external watchdog is fed, the relays and their cycles,
// the inputs and the board's sensors.
type Watchdog struct {
	Updated time.Time `json:"updated"`

	// Healthy is the health model's verdict; Checks has every rule's,
	// failing ones first.
	Healthy bool          `json:"healthy"`
	Checks  []HealthCheck `json:"checks"`
	// StartupGraceUntil is when failing rules start to stop the feeding.
	StartupGraceUntil time.Time `json:"startupGraceUntil,omitzero"`

	// State is the watchdog's state in a word, for the heartbeat and
	// the fleet page: one of the WatchdogState constants.
	State string `json:"state"`
	// Feeding says whether the external watchdog is being fed, and
	// FeedingReason why (or why not).
	Feeding       bool   `json:"feeding"`
	FeedingReason string `json:"feedingReason"`
	Feeder        *Feed  `json:"feeder,omitempty"` // nil: no watchdog fitted

	Boots Boots `json:"boots"`
	// Alert is set when the appliance needs a person: escalation stopped
	// after quick reboots in a row.
	Alert string `json:"alert,omitempty"`

	// Hardware is "wired", or why nothing touches GPIO.
	Hardware string  `json:"hardware"`
	Relays   []Relay `json:"relays,omitempty"`
	Inputs   []Input `json:"inputs,omitempty"`
	Sensors  Sensors `json:"sensors"`

	// MaxRSSBytes is watchdogd's peak resident memory so far.
	MaxRSSBytes int64 `json:"maxRSSBytes"`
}

// Watchdog.State's values.
const (
	// WatchdogFeeding: healthy (or within the startup grace), fed.
	WatchdogFeeding = "feeding"
	// WatchdogStarving: unhealthy, not fed: the watchdog will reset the
	// appliance.
	WatchdogStarving = "starving"
	// WatchdogFedRegardless: unhealthy, but fed after quick reboots in a
	// row (Alert says so).
	WatchdogFedRegardless = "fed regardless"
	// WatchdogNone: no watchdog fitted (no hardware section, or no
	// watchdog line in it, or its line could not be had).
	WatchdogNone = "no watchdog"
)

// HealthCheck is one rule of the health model.
type HealthCheck struct {
	Rule string `json:"rule"` // "camerad status", "slots", "uploads", "perm", "clock"
	OK   bool   `json:"ok"`
	// Reason says what is wrong; for a rule that is OK it may say what
	// was checked.
	Reason string `json:"reason,omitempty"`
	// Since is when the problem was first seen (zero if OK); Counts says
	// whether it counts against health yet (past its grace).
	Since  time.Time `json:"since,omitzero"`
	Counts bool      `json:"counts"`
}

// Feed is the external watchdog's feeding.
type Feed struct {
	Chip      string    `json:"chip"`
	Line      string    `json:"line"`
	Period    Duration  `json:"period"`
	Pulse     Duration  `json:"pulse"`
	Pulses    int64     `json:"pulses"` // since watchdogd started
	LastPulse time.Time `json:"lastPulse,omitzero"`
	Error     string    `json:"error,omitempty"`
}

// Boots counts the reboots that came before the appliance was stable.
type Boots struct {
	// QuickReboots is how many boots in a row ended before a stable
	// period; at Limit the escalation stops.
	QuickReboots int  `json:"quickReboots"`
	Limit        int  `json:"limit"`
	Escalating   bool `json:"escalating"`
	// Stable is set once this boot has been healthy for long enough.
	Stable bool   `json:"stable"`
	Error  string `json:"error,omitempty"`
}

// Relay is one relay and its power cycles.
type Relay struct {
	Device  string `json:"device"`
	Chip    string `json:"chip,omitempty"`
	Line    string `json:"line,omitempty"`
	Wired   bool   `json:"wired"`
	Powered bool   `json:"powered"`
	// CyclesLastHour counts the cycles started in the last hour.
	CyclesLastHour int            `json:"cyclesLastHour"`
	Cycles         []RelayCycle   `json:"cycles,omitempty"`   // newest last
	Refusals       []RelayRefusal `json:"refusals,omitempty"` // newest last
	Error          string         `json:"error,omitempty"`
}

// RelayCycle is one power cycle.
type RelayCycle struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end,omitzero"`
	Off   Duration  `json:"off"`
	From  string    `json:"from,omitempty"`
	Error string    `json:"error,omitempty"`
}

// RelayRefusal is a power cycle refused.
type RelayRefusal struct {
	Time   time.Time `json:"time"`
	From   string    `json:"from,omitempty"`
	Reason string    `json:"reason"`
}

// Input is an input line and its edges.
type Input struct {
	Name      string    `json:"name"`
	Chip      string    `json:"chip"`
	Line      string    `json:"line"`
	Value     *int      `json:"value,omitempty"` // logical; nil if unreadable
	Events    int64     `json:"events"`
	Lost      int64     `json:"lost"`               // events the kernel dropped
	LastEdge  string    `json:"lastEdge,omitempty"` // "rising", "falling"
	LastEvent time.Time `json:"lastEvent,omitzero"`
	Error     string    `json:"error,omitempty"`
}

// Sensors are the board's readings.
type Sensors struct {
	Temperatures []Temperature `json:"temperatures,omitempty"`
	Throttle     *Throttle     `json:"throttle,omitempty"` // Raspberry Pi only
	Perm         *Disk         `json:"perm,omitempty"`
	Uptime       Duration      `json:"uptime"`
	Clock        Clock         `json:"clock"`
	// Warnings are readings past their limits (heat, under-voltage).
	Warnings []string `json:"warnings,omitempty"`
	Errors   []string `json:"errors,omitempty"`
}

// Temperature is a thermal zone.
type Temperature struct {
	Zone    string  `json:"zone"`
	Type    string  `json:"type,omitempty"`
	Celsius float64 `json:"celsius"`
}

// Throttle is the Raspberry Pi firmware's report on power and heat.
type Throttle struct {
	Source                  string `json:"source"`
	Raw                     uint32 `json:"raw"`
	UnderVoltage            bool   `json:"underVoltage"`
	FrequencyCapped         bool   `json:"frequencyCapped"`
	Throttled               bool   `json:"throttled"`
	SoftTempLimit           bool   `json:"softTempLimit"`
	UnderVoltageOccurred    bool   `json:"underVoltageOccurred"`
	FrequencyCappedOccurred bool   `json:"frequencyCappedOccurred"`
	ThrottledOccurred       bool   `json:"throttledOccurred"`
	SoftTempLimitOccurred   bool   `json:"softTempLimitOccurred"`
}

// Disk is a file system's use.
type Disk struct {
	UsedBytes   uint64  `json:"usedBytes"`
	TotalBytes  uint64  `json:"totalBytes"`
	UsedPercent float64 `json:"usedPercent"`
}

// Clock is the system clock's state.
type Clock struct {
	Time      time.Time `json:"time"`
	Plausible bool      `json:"plausible"`
	// Synchronized is the kernel's flag; gokrazy's ntp steps the clock
	// without setting it. Nil where unknown.
	Synchronized *bool `json:"synchronized,omitempty"`
	// Steps counts the jumps of the clock watchdogd saw (NTP setting it,
	// a person), LastStep the newest.
	Steps    int        `json:"steps"`
	LastStep *ClockStep `json:"lastStep,omitempty"`
}

// ClockStep is a jump of the system clock.
type ClockStep struct {
	Time time.Time `json:"time"` // after the step
	By   Duration  `json:"by"`   // positive: forward
}
