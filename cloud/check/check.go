// Package check is a Nagios/Icinga check of one device, by the
// monitoring plugins' conventions: exit status 0 OK, 1 WARNING, 2
// CRITICAL, 3 UNKNOWN; one line of status, then performance data after a
// "|" as 'label'=value[UOM];[warn];[crit];[min];[max]; thresholds as
// ranges ("10", "10:", "~:10", "10:20", "@10:20"). It reads cloudd's JSON
// API (GET /api/v1/devices/{name} on the admin address).
package check

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/lapsebox/lapsebox/cloud/fleet"
)

// Plugin exit statuses.
const (
	OK       = 0
	Warning  = 1
	Critical = 2
	Unknown  = 3
)

var statusNames = [...]string{"OK", "WARNING", "CRITICAL", "UNKNOWN"}

// Range is a threshold range: a value outside [Start, End] alerts, or
// inside it with Inside ("@"). An absent start is 0; "~" is -∞; an
// absent end is +∞.
type Range struct {
	Start, End float64
	Inside     bool
	text       string
}

// ParseRange parses the plugins' range syntax: [@][start:][end].
func ParseRange(s string) (Range, error) {
	r := Range{End: math.Inf(1), text: s}
	t := s
	if strings.HasPrefix(t, "@") {
		r.Inside, t = true, t[1:]
	}
	start, end, colon := strings.Cut(t, ":")
	if !colon {
		start, end = "", t
	}
	var err error
	switch start {
	case "~":
		r.Start = math.Inf(-1)
	case "":
		r.Start = 0
	default:
		if r.Start, err = strconv.ParseFloat(start, 64); err != nil {
			return r, fmt.Errorf("range %q: start %q is not a number", s, start)
		}
	}
	if end != "" {
		if r.End, err = strconv.ParseFloat(end, 64); err != nil {
			return r, fmt.Errorf("range %q: end %q is not a number", s, end)
		}
	} else if !colon {
		return r, fmt.Errorf("range %q: empty", s)
	}
	if r.Start > r.End {
		return r, fmt.Errorf("range %q: start is after end", s)
	}
	return r, nil
}

// Alerts reports whether v raises the threshold.
func (r Range) Alerts(v float64) bool {
	in := v >= r.Start && v <= r.End
	return in == r.Inside
}

// String is the range as given.
func (r Range) String() string { return r.text }

// Metrics the thresholds may apply to, with their unit in performance
// data.
var Metrics = map[string]string{
	"picture_age":   "s", // since the last picture was taken
	"heartbeat_age": "s", // since the last heartbeat arrived
	"queue":         "",  // photos waiting on the device
	"missed_today":  "",  // slots missed today
	"autonomy_days": "",  // days until the device's disk is full
	"signal_dbm":    "",  // cellular signal
}

// Options say what to check.
type Options struct {
	// Metric is what Warning and Critical apply to (one of Metrics).
	Metric            string
	Warning, Critical *Range
}

// Evaluate turns a device's report into the plugin's status and output
// line: CRITICAL if the device is silent or has a critical alert firing,
// WARNING if it has a warning alert firing or was never seen; the
// thresholds on the metric raise it further.
func Evaluate(rep fleet.DeviceReport, o Options) (int, string) {
	values := map[string]*float64{}
	set := func(k string, v float64) { values[k] = &v }
	if !rep.LastCapture.IsZero() {
		set("picture_age", math.Max(0, math.Round(rep.Now.Sub(rep.LastCapture).Seconds())))
	}
	if !rep.LastSeen.IsZero() {
		set("heartbeat_age", math.Max(0, math.Round(rep.Now.Sub(rep.LastSeen).Seconds())))
		set("queue", float64(rep.Queue))
		set("missed_today", float64(rep.MissedToday))
	}
	if rep.AutonomyDays != nil {
		set("autonomy_days", math.Round(*rep.AutonomyDays*10)/10)
	}
	if rep.SignalDBM != nil {
		set("signal_dbm", float64(*rep.SignalDBM))
	}

	status := OK
	raise := func(s int) { status = max(status, s) }
	var what []string
	switch {
	case rep.LastSeen.IsZero():
		raise(Warning)
		what = append(what, "never seen")
	case rep.Silent:
		raise(Critical)
		what = append(what, "silent for "+ago(rep.Now.Sub(rep.LastSeen)))
	}
	for _, a := range rep.Alerts {
		if a.State != "firing" {
			continue
		}
		if a.Severity == "critical" {
			raise(Critical)
		} else {
			raise(Warning)
		}
		if a.Kind != "silent" {
			what = append(what, a.Kind+": "+a.Message)
		}
	}
	if v := values[o.Metric]; v != nil {
		switch {
		case o.Critical != nil && o.Critical.Alerts(*v):
			raise(Critical)
			what = append(what, fmt.Sprintf("%s %s outside %s", o.Metric, format(*v), o.Critical))
		case o.Warning != nil && o.Warning.Alerts(*v):
			raise(Warning)
			what = append(what, fmt.Sprintf("%s %s outside %s", o.Metric, format(*v), o.Warning))
		}
	} else if o.Warning != nil || o.Critical != nil {
		raise(Unknown)
		what = append(what, "no "+o.Metric+" known")
	}
	if v := values["picture_age"]; v != nil {
		what = append(what, "last picture "+ago(time.Duration(*v)*time.Second)+" ago")
	}
	if !rep.LastSeen.IsZero() {
		what = append(what, fmt.Sprintf("queue %d", rep.Queue))
	}
	// Nagios turns ";" into ":" in what it records: commas separate.
	line := fmt.Sprintf("LAPSEBOX %s - %s: %s", statusNames[status], rep.Device, strings.Join(what, ", "))
	line = strings.NewReplacer("|", "/", "\n", " ", ";", ",").Replace(line)

	var perf []string
	for _, k := range []string{"picture_age", "heartbeat_age", "queue", "missed_today", "autonomy_days", "signal_dbm"} {
		v := values[k]
		if v == nil {
			continue
		}
		var w, c string
		if k == o.Metric {
			if o.Warning != nil {
				w = o.Warning.String()
			}
			if o.Critical != nil {
				c = o.Critical.String()
			}
		}
		min := "0"
		if k == "signal_dbm" {
			min = ""
		}
		perf = append(perf, fmt.Sprintf("%s=%s%s;%s;%s;%s;", k, format(*v), Metrics[k], w, c, min))
	}
	if len(perf) > 0 {
		line += " | " + strings.Join(perf, " ")
	}
	return status, line
}

func format(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

func ago(d time.Duration) string {
	switch d = d.Round(time.Second); {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh %dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

// Run asks the server at base (cloudd's admin address) about device and
// returns the plugin's status and output. Every failure to know is
// UNKNOWN.
func Run(ctx context.Context, base, device string, o Options) (int, string) {
	unknown := func(format string, args ...any) (int, string) {
		return Unknown, strings.ReplaceAll("LAPSEBOX UNKNOWN - "+fmt.Sprintf(format, args...), "|", "/")
	}
	if _, ok := Metrics[o.Metric]; !ok {
		return unknown("-metric %q: want one of picture_age, heartbeat_age, queue, missed_today, autonomy_days, signal_dbm", o.Metric)
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return unknown("-server %q: want http(s)://host:port of cloudd's admin address", base)
	}
	u = u.JoinPath("/api/v1/devices", device)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return unknown("%v", err)
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		return unknown("cannot reach cloudd: %v", err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		return unknown("device %q is unknown to cloudd", device)
	default:
		return unknown("cloudd answered %s", resp.Status)
	}
	var rep fleet.DeviceReport
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&rep); err != nil {
		return unknown("cloudd's answer: %v", err)
	}
	return Evaluate(rep, o)
}
