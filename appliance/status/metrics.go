package status

import (
	"bytes"

	"github.com/lapsebox/lapsebox/internal/promtext"
)

// writeMetrics writes s in Prometheus's text format: what the page shows,
// as gauges, for a Prometheus on the site network or behind a VPN.
func writeMetrics(b *bytes.Buffer, s *Snapshot) {
	gauge := func(name, help string) *promtext.Metric { return promtext.Family(b, name, "gauge", help) }

	gauge("lapsebox_build_info", "Versions of the running software, as labels.").
		Add(1, "version", s.Build.Version, "go_version", s.Build.GoVersion, "gokrazy_build", s.Build.GokrazyTimestamp)
	if s.UptimeError == "" {
		gauge("lapsebox_uptime_seconds", "Time since boot.").Add(s.UptimeSeconds)
	}
	if h := s.Health; h != nil {
		gauge("lapsebox_healthy", "1 if the appliance is healthy (watchdogd's verdict, statusd's without it).").
			Add(promtext.Bool(h.OK), "source", h.Source)
		check := gauge("lapsebox_health_check_ok", "1 if the health rule passes.")
		for _, c := range h.Checks {
			check.Add(promtext.Bool(c.OK), "rule", c.Rule)
		}
	}

	if p := s.Perm; p.Mounted && p.TotalBytes > 0 {
		gauge("lapsebox_perm_size_bytes", "Size of the /perm file system.").Add(float64(p.TotalBytes))
		gauge("lapsebox_perm_used_bytes", "Bytes in use on /perm, as df counts them.").Add(float64(p.UsedBytes))
		gauge("lapsebox_perm_free_bytes", "Bytes available on /perm to unprivileged writers.").Add(float64(p.FreeBytes))
	}
	gauge("lapsebox_perm_read_only", "1 if /perm is not mounted writable.").Add(promtext.Bool(!s.Perm.Mounted || s.Perm.ReadOnly))

	if tl := s.Today; tl != nil {
		gauge("lapsebox_captures_today", "Pictures taken today, in the site's time zone.").Add(float64(tl.Taken))
		gauge("lapsebox_missed_slots_today", "Slots missed today.").Add(float64(tl.Missed))
		gauge("lapsebox_failed_captures_today", "Capture attempts that failed today.").Add(float64(tl.Failed))
		gauge("lapsebox_expected_slots_today", "Slots the schedule asked for today until now.").Add(float64(tl.Expected))
	}
	if c := s.camera(); c != nil {
		gauge("lapsebox_camera_connected", "1 if camerad has a camera.").Add(promtext.Bool(c.Camera != nil && c.Camera.Connected))
		gauge("lapsebox_camera_alert", "1 if camerad's recovery ladder reached its alert.").Add(promtext.Bool(c.Recovery.Alert))
		gauge("lapsebox_camera_consecutive_failures", "Capture failures in a row.").Add(float64(c.Recovery.ConsecutiveFailures))
		if c.LastCapture != nil {
			gauge("lapsebox_last_capture_timestamp_seconds", "Slot of the newest picture, in Unix time.").Add(promtext.Unix(c.LastCapture.Slot))
		}
		if a := c.Autonomy; a != nil && a.Days != nil {
			gauge("lapsebox_autonomy_seconds", "How long pictures fit on /perm before retention deletes any.").Add(*a.Days * 86400)
		}
		if st := c.Store; st != nil {
			gauge("lapsebox_store_full", "1 while pictures cannot be stored for want of space.").Add(promtext.Bool(st.Full))
		}
	}
	if u := s.uploads(); u != nil && len(u.Targets) > 0 {
		pending := gauge("lapsebox_upload_pending_photos", "Photos waiting for the target.")
		pendingBytes := gauge("lapsebox_upload_pending_bytes", "Bytes waiting for the target.")
		parked := gauge("lapsebox_upload_parked_photos", "Photos the target refused for good, kept aside.")
		rate := gauge("lapsebox_upload_rate_bytes_per_second", "Recent throughput to the target.")
		drain := gauge("lapsebox_upload_drain_seconds", "Estimated time to send what is pending (absent: unknown).")
		last := gauge("lapsebox_upload_last_success_timestamp_seconds", "When the target last confirmed a picture, in Unix time.")
		for _, t := range u.Targets {
			pending.Add(float64(t.Pending), "target", t.Name)
			pendingBytes.Add(float64(t.PendingBytes), "target", t.Name)
			parked.Add(float64(t.Parked), "target", t.Name)
			rate.Add(t.RateBytesPerSecond, "target", t.Name)
			if t.DrainSeconds >= 0 {
				drain.Add(t.DrainSeconds, "target", t.Name)
			}
			if !t.LastSuccess.IsZero() {
				last.Add(promtext.Unix(t.LastSuccess), "target", t.Name)
			}
		}
	}
	if m := s.modem(); m != nil {
		gauge("lapsebox_modem_connected", "1 if the link through the modem reaches the central server.").Add(promtext.Bool(m.Link.Connected))
		if n := m.Net; n != nil {
			gauge("lapsebox_modem_signal_bars", "Signal, 0 to 5 bars.").Add(float64(n.SignalBars))
			if n.SignalDBM != nil {
				gauge("lapsebox_modem_signal_dbm", "Signal strength (RSRP on LTE, RSSI otherwise).").Add(float64(*n.SignalDBM))
			}
		}
		gauge("lapsebox_modem_data_used_bytes", "Data used through the modem this billing period.").Add(float64(m.Data.UsedBytes))
		if m.Data.CapBytes > 0 {
			gauge("lapsebox_modem_data_cap_bytes", "The billing period's data cap.").Add(float64(m.Data.CapBytes))
		}
	}
	if w := s.watchdog(); w != nil {
		gauge("lapsebox_watchdog_feeding", "1 while watchdogd feeds the external watchdog.").Add(promtext.Bool(w.Feeding))
		if len(w.Relays) > 0 {
			powered := gauge("lapsebox_relay_powered", "1 if the relay's device has power.")
			cycles := gauge("lapsebox_relay_cycles_last_hour", "Power cycles started in the last hour.")
			for _, r := range w.Relays {
				powered.Add(promtext.Bool(r.Powered), "device", r.Device)
				cycles.Add(float64(r.CyclesLastHour), "device", r.Device)
			}
		}
		if ts := w.Sensors.Temperatures; len(ts) > 0 {
			temp := gauge("lapsebox_temperature_celsius", "Temperature of a thermal zone.")
			for _, t := range ts {
				temp.Add(t.Celsius, "zone", t.Zone)
			}
		}
		if th := w.Sensors.Throttle; th != nil {
			gauge("lapsebox_under_voltage", "1 while the Raspberry Pi's firmware reports under-voltage.").Add(promtext.Bool(th.UnderVoltage))
			gauge("lapsebox_throttled", "1 while the Raspberry Pi's firmware throttles the CPU.").Add(promtext.Bool(th.Throttled))
		}
	}
	if u := s.Update; u != nil {
		if !u.Running.IsZero() {
			gauge("lapsebox_update_running_build_timestamp_seconds", "Build time of the running release, in Unix time.").Add(promtext.Unix(u.Running))
		}
		if !u.Committed.IsZero() {
			gauge("lapsebox_update_committed_build_timestamp_seconds", "Build time of the release the boot configuration names, in Unix time.").Add(promtext.Unix(u.Committed))
		}
		gauge("lapsebox_update_trial", "1 while the running release is on trial, not yet committed.").Add(promtext.Bool(u.Trial != nil))
		if a := u.LastAttempt; a != nil {
			gauge("lapsebox_update_last_attempt_timestamp_seconds", "When updated last tried to install a release, in Unix time, with its version and result.").
				Add(promtext.Unix(a.Time), "version", a.Release.Version, "result", a.Result)
			gauge("lapsebox_update_last_attempt_fetched_bytes", "Bytes the last attempt fetched over the network.").Add(float64(a.FetchedBytes))
			gauge("lapsebox_update_last_attempt_root_bytes", "Size of the root file system of the release last tried.").Add(float64(a.RootBytes))
		}
	}
	if len(s.Files) > 0 {
		age := gauge("lapsebox_status_file_age_seconds", "Age of a service's status file: its heartbeat.")
		stale := gauge("lapsebox_status_file_stale", "1 if the service's status file is older than the stale threshold.")
		for _, f := range s.Files {
			if !f.ModTime.IsZero() {
				age.Add(f.AgeSeconds, "service", f.Name)
			}
			stale.Add(promtext.Bool(f.Stale || f.ModTime.IsZero()), "service", f.Name)
		}
	}
	if len(s.Services) > 0 {
		running := gauge("lapsebox_service_running", "1 if gokrazy's service runs.")
		for _, sv := range s.Services {
			running.Add(promtext.Bool(sv.State == StateRunning), "service", sv.Name)
		}
		rss := gauge("lapsebox_service_resident_bytes", "Resident memory of a running service.")
		for _, sv := range s.Services {
			if sv.RSSBytes > 0 {
				rss.Add(float64(sv.RSSBytes), "service", sv.Name)
			}
		}
		switches := promtext.Family(b, "lapsebox_service_context_switches_total", "counter",
			"Context switches to a running service's threads since they started: its wakeups.")
		for _, sv := range s.Services {
			if sv.ContextSwitches > 0 {
				switches.Add(float64(sv.ContextSwitches), "service", sv.Name)
			}
		}
		monitor := promtext.Family(b, "lapsebox_service_monitor_context_switches_total", "counter",
			"The part of a service's context switches that is the Go runtime's monitor thread's, which polls while the service is awake.")
		for _, sv := range s.Services {
			if sv.MonitorSwitches > 0 {
				monitor.Add(float64(sv.MonitorSwitches), "service", sv.Name)
			}
		}
	}
}
