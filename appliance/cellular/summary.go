package cellular

import (
	"fmt"
	"strings"
	"time"

	"github.com/lapsebox/lapsebox/appliance/statusfile"
	"github.com/lapsebox/lapsebox/modem"
)

// summary is the one-message answer to "status": the camera, the disk,
// the uploads, the link, the data used. It fits one SMS (160 characters).
func summary(site string, cam *statusfile.Camera, up *statusfile.Uploads, md *statusfile.Modem, uptime time.Duration, loc *time.Location) string {
	var parts []string
	switch {
	case cam == nil:
		parts = append(parts, "cam ?")
	case cam.LastCapture != nil:
		parts = append(parts, fmt.Sprintf("cam %s, %d pics, last %s", cam.State, cam.Captures, cam.LastCapture.Slot.In(loc).Format("15:04")))
	default:
		parts = append(parts, "cam "+cam.State)
	}
	if cam != nil && cam.MissedSlots > 0 {
		parts = append(parts, fmt.Sprintf("%d missed", cam.MissedSlots))
	}
	if cam != nil && cam.Store != nil && cam.Store.TotalBytes > 0 {
		parts = append(parts, fmt.Sprintf("disk %d%%", cam.Store.UsedBytes*100/cam.Store.TotalBytes))
	}
	if up != nil {
		pending := 0
		for _, t := range up.Targets {
			pending += t.Pending
		}
		parts = append(parts, fmt.Sprintf("queue %d", pending))
	}
	if md != nil && md.Net != nil {
		s := strings.TrimSpace(md.Net.Technology + " " + md.Net.Operator)
		if md.Net.SignalDBM != nil {
			s += fmt.Sprintf(" %ddBm %d/5", *md.Net.SignalDBM, md.Net.SignalBars)
		}
		parts = append(parts, s)
	}
	if md != nil && md.Data.UsedBytes > 0 {
		s := fmt.Sprintf("data %dMB", md.Data.UsedBytes/1_000_000)
		if md.Data.CapBytes > 0 {
			s = fmt.Sprintf("data %d/%dMB", md.Data.UsedBytes/1_000_000, md.Data.CapBytes/1_000_000)
		}
		parts = append(parts, s)
	}
	if uptime > 0 {
		parts = append(parts, "up "+roundDuration(uptime))
	}
	return modem.SMSText(site + ": " + strings.Join(parts, "; "))
}
