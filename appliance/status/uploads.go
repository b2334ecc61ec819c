package status

import (
	"encoding/json"
	"fmt"

	"github.com/lapsebox/lapsebox/appliance/statusfile"
)

// uploads decodes uploadd.json from a snapshot's status files.
func (s *Snapshot) uploads() *statusfile.Uploads {
	var u statusfile.Uploads
	if s.decode("uploadd", &u) {
		return &u
	}
	return nil
}

// decode decodes the status file of service into v, reporting whether
// there was one to decode.
func (s *Snapshot) decode(service string, v any) bool {
	for _, f := range s.Files {
		if f.Name == service && f.Status != nil {
			return json.Unmarshal(f.Status, v) == nil
		}
	}
	return false
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
