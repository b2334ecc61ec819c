package status

import (
	"fmt"

	"github.com/lapsebox/lapsebox/appliance/statusfile"
)

// modem decodes modemd.json from a snapshot's status files.
func (s *Snapshot) modem() *statusfile.Modem {
	var m statusfile.Modem
	if s.decode("modemd", &m) {
		return &m
	}
	return nil
}

// signal describes the modem's signal for the page: "-87 dBm, 3 of 5
// bars (LTE)".
func signal(n *statusfile.Network) string {
	if n == nil {
		return "no network"
	}
	s := fmt.Sprintf("%d of 5 bars", n.SignalBars)
	if n.SignalDBM != nil {
		s = fmt.Sprintf("%d dBm, %s", *n.SignalDBM, s)
	}
	if n.Technology != "" {
		s += " (" + n.Technology + ")"
	}
	return s
}

// dataUse describes the month's data use against the cap.
func dataUse(d statusfile.DataUse) string {
	s := formatBytes(d.UsedBytes)
	if d.CapBytes > 0 {
		s += fmt.Sprintf(" of %s (%d%%)", formatBytes(d.CapBytes), percent(d.UsedBytes, d.CapBytes))
	}
	if d.Period != "" {
		s += " since " + d.Period
	}
	return s
}
