package status

import "github.com/lapsebox/lapsebox/appliance/statusfile"

// watchdogStatus is watchdogd.json, the shared type watchdogd writes:
// the health model's verdict and rules, the feeding, the relays and the
// sensors.
type watchdogStatus = statusfile.Watchdog

// watchdog decodes watchdogd.json from a snapshot's status files.
func (s *Snapshot) watchdog() *watchdogStatus {
	var w watchdogStatus
	if s.decode("watchdogd", &w) {
		return &w
	}
	return nil
}
