package statusfile

import "time"

// Modem is modemd.json: the cellular modem, its SIM, the network, the
// link, the data used this month and the SMS traffic.
type Modem struct {
	// State is what modemd is doing: "no modem", "starting", "SIM",
	// "registering", "registered", "connected", "escalating".
	State string `json:"state"`
	// Problem says what a person must fix (a PIN the SIM refused, no
	// SIM card, a denied registration), or what is being waited for.
	Problem string    `json:"problem,omitempty"`
	Updated time.Time `json:"updated"`

	Port   string      `json:"port,omitempty"` // "/dev/ttyUSB2"
	Device *ModemInfo  `json:"device,omitempty"`
	SIM    *SIM        `json:"sim,omitempty"`
	Net    *Network    `json:"network,omitempty"`
	Link   Link        `json:"link"`
	Data   DataUse     `json:"dataUse"`
	SMS    SMSCounters `json:"sms"`

	// LastEscalation is the last step taken to bring the link back;
	// Escalations the last few, newest last.
	LastEscalation *Escalation  `json:"lastEscalation,omitempty"`
	Escalations    []Escalation `json:"escalations,omitempty"`

	// MaxRSSBytes is modemd's peak resident memory so far.
	MaxRSSBytes int64 `json:"maxRSSBytes"`
}

// ModemInfo is the modem itself.
type ModemInfo struct {
	Manufacturer string `json:"manufacturer"`
	Model        string `json:"model"`
	Firmware     string `json:"firmware"`
	IMEI         string `json:"imei"`
	USB          string `json:"usb,omitempty"` // "2c7c:0125 Quectel EG25-G at USB 1-1.3"
}

// SIM is the SIM card. The IMSI is left out: it identifies the
// subscriber to anyone who reads the page.
type SIM struct {
	State           string `json:"state"` // "READY", "SIM PIN", "SIM PUK", "NOT INSERTED", "BUSY"
	ICCID           string `json:"iccid,omitempty"`
	PINAttemptsLeft *int   `json:"pinAttemptsLeft,omitempty"`
}

// Network is the registration and the signal.
type Network struct {
	Registration string    `json:"registration"` // "registered", "roaming", "searching", "denied", …
	Roaming      bool      `json:"roaming"`
	Operator     string    `json:"operator,omitempty"`
	Technology   string    `json:"technology,omitempty"` // "LTE", "3G", "2G"
	SignalDBM    *int      `json:"signalDBM,omitempty"`  // RSRP on LTE, RSSI otherwise
	SignalBars   int       `json:"signalBars"`           // 0–5
	RSRQ         *float64  `json:"rsrq,omitempty"`       // dB
	SINR         *float64  `json:"sinr,omitempty"`       // dB
	SignalSource string    `json:"signalSource,omitempty"`
	SignalTime   time.Time `json:"signalTime,omitzero"`
}

// Link is whether the appliance reaches the central server through the
// modem.
type Link struct {
	Connected      bool      `json:"connected"`
	DownSince      time.Time `json:"downSince,omitzero"`
	Interface      string    `json:"interface,omitempty"` // "usb0"
	IP             string    `json:"ip,omitempty"`
	Data           string    `json:"data,omitempty"` // how data flows ("ECM"), or why not
	ProbeURL       string    `json:"probeURL,omitempty"`
	LastProbe      time.Time `json:"lastProbe,omitzero"`
	LastProbeError string    `json:"lastProbeError,omitempty"`
	// LastOutage is the length of the last outage that ended.
	LastOutage Duration `json:"lastOutage,omitempty"`
}

// DataUse is the data used through the modem's interface this billing
// month, counted from the interface's counters and kept on /perm
// (DataUsePath) across reboots. Past the cap, uploadd sends only to the
// essential targets.
type DataUse struct {
	// Period is the billing month's first day, "2026-07-05".
	Period    string `json:"period"`
	RxBytes   uint64 `json:"rxBytes"`
	TxBytes   uint64 `json:"txBytes"`
	UsedBytes uint64 `json:"usedBytes"`
	CapBytes  uint64 `json:"capBytes"` // 0: no cap
	OverCap   bool   `json:"overCap"`
	// EssentialOnly is set past the cap: uploadd sends to
	// EssentialTargets only until the next period.
	EssentialOnly    bool      `json:"essentialOnly"`
	EssentialTargets []string  `json:"essentialTargets,omitempty"`
	Interface        string    `json:"interface,omitempty"`
	Updated          time.Time `json:"updated,omitzero"`
}

// BillingPeriod is the first day ("2026-07-05") of the billing period
// that now lies in, for periods starting on billingDay (1–28; less is 1)
// of each month in loc (nil: UTC): DataUse.Period, as modemd writes it
// and uploadd checks it.
func BillingPeriod(now time.Time, billingDay int, loc *time.Location) string {
	if loc == nil {
		loc = time.UTC
	}
	t := now.In(loc)
	start := time.Date(t.Year(), t.Month(), max(billingDay, 1), 0, 0, 0, 0, loc)
	if t.Before(start) {
		start = start.AddDate(0, -1, 0)
	}
	return start.Format("2006-01-02")
}

// DataUsePath is where modemd keeps DataUse across reboots, relative to
// /perm. uploadd reads the cap state from here (or from modemd.json's
// dataUse, which is the same document).
const DataUsePath = "lapsebox/modem/data-use.json"

// SMSCounters count messages since modemd started.
type SMSCounters struct {
	Sent          int       `json:"sent"`
	Received      int       `json:"received"`
	Commands      int       `json:"commands"` // obeyed, from allowed numbers
	Ignored       int       `json:"ignored"`  // from other numbers, or unknown
	AlertsHeld    int       `json:"alertsHeld"`
	LastAlert     string    `json:"lastAlert,omitempty"`
	LastAlertTime time.Time `json:"lastAlertTime,omitzero"`
}

// Escalation is one step taken to bring the link back.
type Escalation struct {
	Time   time.Time `json:"time"`
	Step   string    `json:"step"` // "re-attach", "radio off/on", "modem reset", "power cycle", "switch to ECM"
	Reason string    `json:"reason"`
	Error  string    `json:"error,omitempty"`
}
