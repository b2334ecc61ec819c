package status

import "time"

// watchdogStatus is the part of watchdogd.json statusd shows: the health
// model's verdict and rules, the feeding, the relays and the sensors.
//
// It decodes the keys of statusfile.Watchdog, the shared type watchdogd
// writes, which is not on this branch yet; once it is, this becomes
// "type watchdogStatus = statusfile.Watchdog" and the types below go.
type watchdogStatus struct {
	Updated       time.Time     `json:"updated"`
	Healthy       bool          `json:"healthy"`
	Checks        []healthCheck `json:"checks"`
	Feeding       bool          `json:"feeding"`
	FeedingReason string        `json:"feedingReason"`
	Feeder        *struct {
		Error string `json:"error,omitempty"`
	} `json:"feeder,omitempty"`
	Boots struct {
		QuickReboots int    `json:"quickReboots"`
		Limit        int    `json:"limit"`
		Error        string `json:"error,omitempty"`
	} `json:"boots"`
	Alert    string  `json:"alert,omitempty"`
	Hardware string  `json:"hardware"`
	Relays   []relay `json:"relays,omitempty"`
	Sensors  sensors `json:"sensors"`
}

// healthCheck is one rule of watchdogd's health model.
type healthCheck struct {
	Rule   string    `json:"rule"`
	OK     bool      `json:"ok"`
	Reason string    `json:"reason,omitempty"`
	Since  time.Time `json:"since,omitzero"`
	Counts bool      `json:"counts"`
}

// relay is one of watchdogd's relays.
type relay struct {
	Device         string `json:"device"`
	Wired          bool   `json:"wired"`
	Powered        bool   `json:"powered"`
	CyclesLastHour int    `json:"cyclesLastHour"`
	Cycles         []struct {
		Start time.Time `json:"start"`
		From  string    `json:"from,omitempty"`
		Error string    `json:"error,omitempty"`
	} `json:"cycles,omitempty"`
	Error string `json:"error,omitempty"`
}

// sensors are the board's readings as watchdogd takes them.
type sensors struct {
	Temperatures []struct {
		Zone    string  `json:"zone"`
		Type    string  `json:"type,omitempty"`
		Celsius float64 `json:"celsius"`
	} `json:"temperatures,omitempty"`
	Throttle *struct {
		UnderVoltage         bool `json:"underVoltage"`
		Throttled            bool `json:"throttled"`
		FrequencyCapped      bool `json:"frequencyCapped"`
		UnderVoltageOccurred bool `json:"underVoltageOccurred"`
		ThrottledOccurred    bool `json:"throttledOccurred"`
	} `json:"throttle,omitempty"`
	Clock struct {
		Plausible    bool  `json:"plausible"`
		Synchronized *bool `json:"synchronized,omitempty"`
		Steps        int   `json:"steps"`
	} `json:"clock"`
	Warnings []string `json:"warnings,omitempty"`
	Errors   []string `json:"errors,omitempty"`
}

// watchdog decodes watchdogd.json from a snapshot's status files.
func (s *Snapshot) watchdog() *watchdogStatus {
	var w watchdogStatus
	if s.decode("watchdogd", &w) {
		return &w
	}
	return nil
}
