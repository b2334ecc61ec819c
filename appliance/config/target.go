package config

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"time"

	"github.com/lapsebox/lapsebox/appliance/schedule"
)

// Send says what a target receives of each capture.
type Send string

const (
	// SendOriginals sends every file kept, RAW included, unchanged.
	SendOriginals Send = "originals"
	// SendJPG sends the JPG files unchanged.
	SendJPG Send = "jpg"
	// SendDerived sends images derived from the JPG by the target's
	// processing (sizes, watermark, caption).
	SendDerived Send = "derived"
	// SendLatest keeps only the newest picture on the target (a live-cam
	// page): stale ones are skipped and it goes before any backlog.
	SendLatest Send = "latest"
	// SendNothing sends no picture: the target only supervises the
	// appliance.
	SendNothing Send = "nothing"
)

// Sends lists the known Send policies.
var Sends = []Send{SendOriginals, SendJPG, SendDerived, SendLatest, SendNothing}

// defaultSend is what each kind of target gets unless the file says.
var defaultSend = map[Kind]Send{Cloud: SendOriginals, WebDAV: SendJPG, S3: SendOriginals, LiveCam: SendLatest}

// Wants reports whether the target is owed a file of a capture: camerad
// creates outbox entries only for those.
func (t Target) Wants(raw bool) bool {
	switch t.Send {
	case SendOriginals:
		return true
	case SendNothing:
		return false
	}
	return !raw
}

// InWindow reports whether now lies in one of the target's upload windows
// (always, without windows), and otherwise when the next one opens (zero if
// none does within a week).
func (t Target) InWindow(now time.Time) (bool, time.Time) {
	if len(t.Windows) == 0 {
		return true, time.Time{}
	}
	s := &schedule.Schedule{Location: t.location, Latitude: t.lat, Longitude: t.lon, Windows: t.Windows}
	var next time.Time
	for d := -1; d <= 7; d++ {
		day := now.In(t.location).AddDate(0, 0, d)
		for _, w := range t.Windows {
			start, end, ok := s.Window(w, day)
			if !ok {
				continue
			}
			if !now.Before(start) && now.Before(end) {
				return true, time.Time{}
			}
			if start.After(now) && (next.IsZero() || start.Before(next)) {
				next = start
			}
		}
	}
	return false, next
}

// parseTarget validates one target of the file.
func (f *fileConfig) parseTarget(i int, ft fileTarget, loc *time.Location, bad func(field, format string, args ...any)) Target {
	p := fmt.Sprintf("targets[%d].", i)
	t := Target{
		Name: ft.Name, Kind: Kind(ft.Kind), Secret: ft.Secret,
		URL: ft.URL, Bucket: ft.Bucket, Region: ft.Region, User: ft.User,
		Process:           ft.Process,
		MaxBytesPerSecond: ft.MaxBytesPerSecond,
		Concurrency:       ft.Concurrency,
		Priority:          ft.Priority,
		location:          loc,
	}
	if f.Site.Latitude != nil && f.Site.Longitude != nil {
		t.lat, t.lon = *f.Site.Latitude, *f.Site.Longitude
	}
	if !slices.Contains(Kinds, t.Kind) {
		bad(p+"kind", "%q is not a target kind (cloud, webdav, s3, livecam)", ft.Kind)
		return t
	}
	t.Send = Send(ft.Send)
	if ft.Send == "" {
		t.Send = defaultSend[t.Kind]
	} else if !slices.Contains(Sends, t.Send) {
		bad(p+"send", "%q is not one of originals, jpg, derived, latest, nothing", ft.Send)
	}
	if t.Send != SendNothing {
		if u, err := url.Parse(ft.URL); ft.URL == "" {
			bad(p+"url", "required: where to send the pictures")
		} else if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			bad(p+"url", "%q is not an http or https URL", ft.URL)
		} else if u.User != nil {
			bad(p+"url", "credentials in the URL would show on status pages: put them in secrets and name the secret")
		} else if u.RawQuery != "" || u.ForceQuery {
			bad(p+"url", "a query string would show on status pages and in logs, and may hold a token: put secrets in secrets and name the secret")
		}
	}
	if t.Kind == S3 && t.Send != SendNothing && ft.Bucket == "" {
		bad(p+"bucket", "required for an s3 target")
	}
	if t.Send == SendDerived && len(ft.Process) == 0 {
		bad(p+"process", "required with send \"derived\": the sizes, watermark and caption to make")
	}
	if len(ft.Process) > 0 && !json.Valid(ft.Process) {
		bad(p+"process", "not valid JSON")
	}
	if ft.MinInterval != "" {
		d, err := parseDuration(ft.MinInterval)
		if err != nil || d < 0 {
			bad(p+"min_interval", "%q: want a duration such as 1h", ft.MinInterval)
		}
		t.MinInterval = d
	}
	if t.MaxBytesPerSecond < 0 {
		bad(p+"max_bytes_per_second", "%d is negative", t.MaxBytesPerSecond)
	}
	if t.Concurrency == 0 {
		t.Concurrency = 1
	}
	if ft.Priority == 0 && t.Send == SendLatest {
		// The newest picture goes before any backlog.
		t.Priority = 10
	}
	if t.Concurrency < 1 || t.Concurrency > 8 {
		bad(p+"concurrency", "%d: want 1 to 8 transfers at once", ft.Concurrency)
	}
	for j, fw := range ft.Windows {
		wp := fmt.Sprintf("%swindows[%d].", p, j)
		w := schedule.Window{Interval: time.Minute, Days: schedule.Everyday}
		if len(fw.Days) > 0 {
			w.Days = 0
		}
		for k, d := range fw.Days {
			day, err := schedule.ParseWeekday(d)
			if err != nil {
				bad(fmt.Sprintf("%sdays[%d]", wp, k), "%v", err)
			}
			w.Days |= schedule.Days(day)
		}
		var err error
		if w.Start, err = schedule.ParseEdge(fw.Start); err != nil {
			bad(wp+"start", "%v", err)
		}
		if w.End, err = schedule.ParseEdge(fw.End); err != nil {
			bad(wp+"end", "%v", err)
		}
		if (w.Start.Anchor != schedule.Clock || w.End.Anchor != schedule.Clock) && (f.Site.Latitude == nil || f.Site.Longitude == nil) {
			bad("site.latitude", "required: %swindows[%d] uses the sun", p, j)
		}
		t.Windows = append(t.Windows, w)
	}
	return t
}
