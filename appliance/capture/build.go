package capture

import (
	"log"
	"path/filepath"
	"time"

	"github.com/lapsebox/lapsebox/appliance/config"
	"github.com/lapsebox/lapsebox/appliance/recovery"
	"github.com/lapsebox/lapsebox/appliance/store"
	"github.com/lapsebox/lapsebox/hw"
	"github.com/lapsebox/lapsebox/ptp/fetch"
)

// NewLoop makes the capture loop cfg describes: its schedule, what to
// keep, retention, and the targets each file is queued for. The loop
// takes pictures from dev into st, cycles the camera's power through
// relay, and keeps its own state beside the store.
func NewLoop(cfg *config.Config, st *store.Store, dev Device, relay hw.Relay, status *StatusFile, logger *log.Logger) *Loop {
	return &Loop{
		Schedule:  &cfg.Schedule,
		Store:     st,
		Device:    dev,
		Relay:     relay,
		Ladder:    recovery.New(recovery.Policy{}),
		Keep:      cfg.Camera.Keep,
		Model:     cfg.Camera.Model,
		MinSize:   cfg.Camera.MinSize,
		Targets:   Targets(cfg),
		Retention: Retention(cfg),
		Usage:     store.StatfsUsage(st.Dir()),
		Status:    status,
		StateFile: filepath.Join(st.Dir(), "camerad-state.json"),
		Log:       logger,
	}
}

// NewDownload makes download mode's loop: every file the camera holds is
// copied into dir, resumably, and when st is not nil put into the store
// and queued for cfg's targets (dir is then only the staging area).
func NewDownload(cfg *config.Config, st *store.Store, dev Device, dir string, interval time.Duration, opts fetch.Options, status *StatusFile, logger *log.Logger) *Download {
	d := &Download{Device: dev, Dir: dir, Interval: interval, Options: opts, Status: status, Log: logger}
	if st != nil {
		d.Sink = &StoreSink{Store: st, Staging: dir, Targets: Targets(cfg), Location: cfg.Schedule.Location}
		d.Retention, d.Usage = Retention(cfg), store.StatfsUsage(st.Dir())
	}
	return d
}

// Targets says which targets are owed each file, by their send policy:
// uploadd derives and sends; camerad only queues.
func Targets(cfg *config.Config) func(ext string, raw bool) []string {
	return func(ext string, raw bool) []string {
		var names []string
		for _, t := range cfg.Targets {
			if t.Wants(raw) {
				names = append(names, t.Name)
			}
		}
		return names
	}
}

// Retention is the store's retention policy in cfg.
func Retention(cfg *config.Config) store.Retention {
	return store.Retention{
		MaxAge:    cfg.Retention.MaxAge,
		HighWater: float64(cfg.Retention.HighWater) / 100,
		LowWater:  float64(cfg.Retention.LowWater) / 100,
		Critical:  float64(cfg.Retention.Critical) / 100,
	}
}
