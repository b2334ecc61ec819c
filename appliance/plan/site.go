package plan

import (
	"fmt"
	"math"
	"time"

	"github.com/lapsebox/lapsebox/appliance/config"
)

// WireOverhead is what the uploads put on the link per photo byte: tus
// framing and HTTP headers measured at 1.0008 bytes per photo byte on a
// clean link (appliance/upload/tus), plus TLS records and a handshake per
// connection on a cellular link. Rounded up to 2 %.
const WireOverhead = 1.02

// DaysPerMonth is a month on average, as operators bill data.
const DaysPerMonth = 365.2425 / 12

// Site is what planning a site's storage and uplink needs.
type Site struct {
	// PicturesPerDay is the schedule's average captures a day.
	PicturesPerDay float64
	// Sizes are the camera's typical file sizes; Keep which files of a
	// capture are kept.
	Sizes Sizes
	Keep  config.Keep
	// Measured is a capture's measured size on a device (kept files and
	// store overhead), 0 if none; MeasuredSource says how it was measured.
	Measured       int64
	MeasuredSource string
	// LinkBytesPerSecond is the uplink's rate (0: unknown).
	LinkBytesPerSecond float64
	// DiskBytes is the disk's size (0: unknown); HighWater the fraction
	// of it pictures may fill before retention deletes any.
	DiskBytes uint64
	HighWater float64
}

// Capture returns the bytes one capture puts on the disk and where the
// figure comes from.
func (s Site) Capture() (int64, string) {
	if s.Measured > 0 {
		return s.Measured, s.MeasuredSource
	}
	return s.Sizes.PerCapture(s.Keep) + MetadataBytes, fmt.Sprintf("typical for %s, %s", s.Sizes.Model, KeepName(s.Keep))
}

// jpg returns the bytes of a capture's JPEG: measured when only JPEGs are
// kept, else the typical share of a measured capture.
func (s Site) jpg() int64 {
	if s.Measured <= 0 {
		return s.Sizes.JPG
	}
	if s.Keep == config.KeepJPG {
		return max(s.Measured-MetadataBytes, 0)
	}
	total := s.Sizes.PerCapture(s.Keep)
	if total <= 0 {
		return s.Sizes.JPG
	}
	return int64(float64(s.Measured-MetadataBytes) * float64(s.Sizes.JPG) / float64(total))
}

// Disk is how long the disk lasts.
func (s Site) Disk() Estimate {
	bytes, source := s.Capture()
	return New(s.PicturesPerDay, bytes, source, uint64(s.HighWater*float64(s.DiskBytes)))
}

// Policy is what one upload policy sends, and what it costs the link.
type Policy struct {
	// Name is the policy as a site configuration names it ("originals",
	// "jpg", "latest", "nothing"), Says what it sends.
	Name, Says string
	// BytesPerDay are the photo bytes sent a day, WireBytesPerDay what
	// they put on the link.
	BytesPerDay, WireBytesPerDay float64
}

// BytesPerSecond is the sustained uplink the policy needs.
func (p Policy) BytesPerSecond() float64 { return p.WireBytesPerDay / 86400 }

// BytesPerMonth is what the policy sends in a month: a cellular plan's
// figure.
func (p Policy) BytesPerMonth() float64 { return p.WireBytesPerDay * DaysPerMonth }

// CatchUp is how long the link takes to send an outage's backlog while
// the schedule keeps adding to it; ok is false when the link cannot keep
// up at all.
func (p Policy) CatchUp(outage time.Duration, link float64) (d time.Duration, ok bool) {
	spare := link - p.BytesPerSecond()
	if spare <= 0 || link <= 0 {
		return 0, p.BytesPerSecond() == 0
	}
	secs := p.BytesPerSecond() * outage.Seconds() / spare
	return time.Duration(math.Round(secs)) * time.Second, true
}

// Policies are the upload policies a target can have, for this site.
// latestEvery is how often a live-cam target sends its newest picture
// (0: at every capture).
func (s Site) Policies(latestEvery time.Duration) []Policy {
	capture, _ := s.Capture()
	originals := float64(max(capture-MetadataBytes, 0)) * s.PicturesPerDay
	jpg := float64(s.jpg()) * s.PicturesPerDay
	latest := jpg
	if latestEvery > 0 {
		latest = float64(s.jpg()) * min(s.PicturesPerDay, 86400/latestEvery.Seconds())
	}
	ps := []Policy{
		{Name: "originals", Says: "every file kept (" + KeepName(s.Keep) + ")", BytesPerDay: originals},
		{Name: "jpg", Says: "the JPEGs only", BytesPerDay: jpg},
		{Name: "latest", Says: "a live-cam page: the newest JPEG", BytesPerDay: latest},
		{Name: "nothing", Says: "supervision only: heartbeats", BytesPerDay: 0},
	}
	for i := range ps {
		ps[i].WireBytesPerDay = ps[i].BytesPerDay * WireOverhead
	}
	return ps
}

// KeepName says which files a keep setting keeps: "JPG", "RAW", "RAW+JPG".
func KeepName(k config.Keep) string {
	switch k {
	case config.KeepRAW:
		return "RAW"
	case config.KeepBoth:
		return "RAW+JPG"
	}
	return "JPG"
}
