package status

import (
	"encoding/json"
	"fmt"
	"time"
)

// Uploads is the part of uploadd's status file (uploadd.json) the page
// shows: one row per target.
type Uploads struct {
	Targets []struct {
		Name               string    `json:"name"`
		Kind               string    `json:"kind"`
		State              string    `json:"state"`
		WindowOpens        time.Time `json:"windowOpens"`
		Pending            int       `json:"pending"`
		PendingBytes       uint64    `json:"pendingBytes"`
		OldestPending      time.Time `json:"oldestPending"`
		Parked             int       `json:"parked"`
		ParkedReasons      []string  `json:"parkedReasons"`
		Sent               int       `json:"sent"`
		LastSuccess        time.Time `json:"lastSuccess"`
		LastError          string    `json:"lastError"`
		RateBytesPerSecond float64   `json:"rateBytesPerSecond"`
		DrainSeconds       float64   `json:"drainSeconds"`
	} `json:"targets"`
}

// uploads decodes uploadd.json from a snapshot's status files.
func (s *Snapshot) uploads() *Uploads {
	for _, f := range s.Files {
		if f.Name == "uploadd" && f.Status != nil {
			var u Uploads
			if json.Unmarshal(f.Status, &u) == nil {
				return &u
			}
		}
	}
	return nil
}

// drain says how long a backlog takes to send, for the page.
func drain(secs float64) string {
	switch {
	case secs < 0:
		return "unknown"
	case secs == 0:
		return "nothing pending"
	}
	return formatSeconds(secs)
}

func rate(bps float64) string {
	if bps < 1 {
		return "idle"
	}
	return fmt.Sprintf("%s/s", formatBytes(uint64(bps)))
}
