package config

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Modem configures the cellular modem (modemd): where its port is, how it
// connects, the SIM's PIN, the monthly data cap, and the SMS numbers it
// alerts and obeys.
type Modem struct {
	// Port is the AT port's device node ("/dev/ttyUSB2", or a
	// pseudo-terminal "/dev/pts/3"); empty finds the modem by itself.
	Port string
	// APN is the data network's access point name; empty keeps the
	// modem's own. User and PasswordSecret (a name in Secrets) are its
	// credentials, when the operator wants any.
	APN, User, PasswordSecret string
	// PINSecret names the SIM's PIN in Secrets; empty if the SIM has no
	// PIN.
	PINSecret string
	// Data is "ecm" (switch the modem to ECM: usb0 with DHCP), "none"
	// (never change the modem's USB mode), or "" (ECM when the board's
	// kernel drives it).
	Data string
	// ProbeURL is fetched to prove the link reaches the central server;
	// empty takes the first cloud target's URL (see ProbeTarget).
	ProbeURL string
	// ProbeEvery is the time between probes while the link is up.
	ProbeEvery time.Duration
	// MonthlyCapMB caps the data used per billing month, in megabytes
	// (10^6 bytes); 0 is no cap. BillingDay is the day of the month the
	// operator's count starts again (1–28).
	MonthlyCapMB int64
	BillingDay   int
	// EssentialTargets are the targets still sent to past the cap; empty
	// means the live-cam targets and those that send nothing (supervision)
	// (see Essential).
	EssentialTargets []string
	// AlertNumbers receive alert messages (camera stopped, disk nearly
	// full, link back after an outage); CommandNumbers may send commands
	// ("status", "capture", "reboot"). International format, "+33…".
	AlertNumbers, CommandNumbers []string
	// AlertsPerDay caps alert messages per day, all numbers together.
	AlertsPerDay int
	// CameraAlertAfter is how long the camera may take no picture that
	// the schedule wanted before an alert goes out.
	CameraAlertAfter time.Duration
}

type fileModem struct {
	Port             string   `json:"port,omitempty"`
	APN              string   `json:"apn,omitempty"`
	User             string   `json:"user,omitempty"`
	PasswordSecret   string   `json:"password_secret,omitempty"`
	PINSecret        string   `json:"pin_secret,omitempty"`
	Data             string   `json:"data,omitempty"`
	ProbeURL         string   `json:"probe_url,omitempty"`
	ProbeEvery       string   `json:"probe_every"`
	MonthlyCapMB     int64    `json:"monthly_cap_mb"`
	BillingDay       int      `json:"billing_day"`
	EssentialTargets []string `json:"essential_targets,omitempty"`
	AlertNumbers     []string `json:"alert_numbers,omitempty"`
	CommandNumbers   []string `json:"command_numbers,omitempty"`
	AlertsPerDay     int      `json:"alerts_per_day"`
	CameraAlertAfter string   `json:"camera_alert_after"`
}

func defaultModem() fileModem {
	return fileModem{ProbeEvery: "15m", BillingDay: 1, AlertsPerDay: 10, CameraAlertAfter: "30m"}
}

var (
	// ttyPattern is a serial port's device node, or a pseudo-terminal
	// (a modem simulator, or a port bridged with socat).
	ttyPattern = regexp.MustCompile(`^/dev/(tty[A-Za-z]+[0-9]+|pts/[0-9]+)$`)
	// phonePattern is a phone number as the network presents senders.
	phonePattern = regexp.MustCompile(`^\+?[0-9]{3,20}$`)
)

// parseModem validates the modem section; the targets are parsed.
func (f *fileConfig) parseModem(targets []Target, bad func(field, format string, args ...any)) Modem {
	fm := f.Modem
	m := Modem{Port: fm.Port, APN: fm.APN, User: fm.User, PasswordSecret: fm.PasswordSecret, PINSecret: fm.PINSecret,
		Data: fm.Data, ProbeURL: fm.ProbeURL, MonthlyCapMB: fm.MonthlyCapMB, BillingDay: fm.BillingDay,
		EssentialTargets: fm.EssentialTargets, AlertNumbers: fm.AlertNumbers, CommandNumbers: fm.CommandNumbers,
		AlertsPerDay: fm.AlertsPerDay}
	if fm.Port != "" && !ttyPattern.MatchString(fm.Port) {
		bad("modem.port", "%q is not a serial port such as /dev/ttyUSB2", fm.Port)
	}
	for _, v := range []struct{ field, value string }{{"modem.apn", fm.APN}, {"modem.user", fm.User}} {
		if strings.ContainsAny(v.value, "\"\\\x00\r\n\x1a\x1b") || len(v.value) > 100 {
			bad(v.field, "%q: at most 100 characters, no quotes, backslashes or control characters", v.value)
		}
	}
	if fm.User != "" && fm.PasswordSecret == "" {
		bad("modem.password_secret", "required with modem.user: the name of the password in secrets")
	}
	for _, s := range []struct{ field, name string }{{"modem.password_secret", fm.PasswordSecret}, {"modem.pin_secret", fm.PINSecret}} {
		if s.name == "" {
			continue
		}
		v, ok := f.Secrets[s.name]
		switch {
		case v == redacted:
			// A file given out redacted (RedactJSON): the device's value
			// stands behind it.
		case !ok:
			bad(s.field, "%q is not in secrets", s.name)
		case s.field == "modem.pin_secret" && !regexp.MustCompile(`^[0-9]{4,8}$`).MatchString(v):
			bad("secrets."+s.name, "a SIM PIN is 4 to 8 digits")
		case strings.ContainsAny(v, "\"\\\x00\r\n\x1a\x1b"):
			bad("secrets."+s.name, "may not hold quotes, backslashes or control characters (it is sent to the modem)")
		}
	}
	switch fm.Data {
	case "", "ecm", "none":
	default:
		bad("modem.data", `%q is not "ecm", "none" or "" (ECM when the kernel drives it)`, fm.Data)
	}
	if fm.ProbeURL != "" {
		if u, err := url.Parse(fm.ProbeURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			bad("modem.probe_url", "%q is not an http or https URL", fm.ProbeURL)
		} else if u.User != nil {
			bad("modem.probe_url", "credentials in the URL would show on status pages")
		}
	}
	var err error
	if m.ProbeEvery, err = parseDuration(fm.ProbeEvery); err != nil {
		bad("modem.probe_every", "%v", err)
	} else if m.ProbeEvery < time.Minute {
		bad("modem.probe_every", "%q: at least 1m (each probe costs data)", fm.ProbeEvery)
	}
	if fm.MonthlyCapMB < 0 || fm.MonthlyCapMB > 10_000_000 {
		bad("modem.monthly_cap_mb", "%d is not between 0 (no cap) and 10000000", fm.MonthlyCapMB)
	}
	if fm.BillingDay < 1 || fm.BillingDay > 28 {
		bad("modem.billing_day", "%d is not a day from 1 to 28", fm.BillingDay)
	}
	for i, name := range fm.EssentialTargets {
		if !slices.ContainsFunc(targets, func(t Target) bool { return t.Name == name }) {
			bad(fmt.Sprintf("modem.essential_targets[%d]", i), "%q is not the name of a target", name)
		}
	}
	for _, list := range []struct {
		field   string
		numbers []string
	}{{"modem.alert_numbers", fm.AlertNumbers}, {"modem.command_numbers", fm.CommandNumbers}} {
		for i, n := range list.numbers {
			switch {
			case !phonePattern.MatchString(n):
				bad(fmt.Sprintf("%s[%d]", list.field, i), "%q is not a phone number: digits, international form such as +33612345678", n)
			case slices.Index(list.numbers, n) != i:
				bad(fmt.Sprintf("%s[%d]", list.field, i), "%q is listed twice", n)
			}
		}
	}
	if fm.AlertsPerDay < 0 || fm.AlertsPerDay > 100 {
		bad("modem.alerts_per_day", "%d is not between 0 and 100", fm.AlertsPerDay)
	}
	if m.CameraAlertAfter, err = parseDuration(fm.CameraAlertAfter); err != nil {
		bad("modem.camera_alert_after", "%v", err)
	} else if m.CameraAlertAfter < time.Minute {
		bad("modem.camera_alert_after", "%q: at least 1m", fm.CameraAlertAfter)
	}
	return m
}

// file converts m back to the file's shape.
func (m Modem) file() fileModem {
	return fileModem{Port: m.Port, APN: m.APN, User: m.User, PasswordSecret: m.PasswordSecret, PINSecret: m.PINSecret,
		Data: m.Data, ProbeURL: m.ProbeURL, ProbeEvery: formatDays(m.ProbeEvery), MonthlyCapMB: m.MonthlyCapMB,
		BillingDay: m.BillingDay, EssentialTargets: m.EssentialTargets, AlertNumbers: m.AlertNumbers,
		CommandNumbers: m.CommandNumbers, AlertsPerDay: m.AlertsPerDay, CameraAlertAfter: formatDays(m.CameraAlertAfter)}
}

// ProbeTarget returns the URL modemd probes to prove the link: the
// configured one, else the first cloud target's; "" if there is none.
func (c *Config) ProbeTarget() string {
	if c.Modem.ProbeURL != "" {
		return c.Modem.ProbeURL
	}
	for _, t := range c.Targets {
		if t.Kind == Cloud && t.URL != "" {
			return t.URL
		}
	}
	return ""
}

// Essential returns the targets sent to past the monthly data cap: the
// configured ones, else every live-cam target and every target that sends
// no pictures (supervision).
func (c *Config) Essential() []string {
	if len(c.Modem.EssentialTargets) > 0 {
		return append([]string(nil), c.Modem.EssentialTargets...)
	}
	var out []string
	for _, t := range c.Targets {
		if t.Kind == LiveCam || t.Send == SendNothing {
			out = append(out, t.Name)
		}
	}
	return out
}

// ModemSecret returns the secret named name ("" name: none).
func (c *Config) ModemSecret(name string) string {
	if name == "" {
		return ""
	}
	return c.Secrets[name].Reveal()
}
