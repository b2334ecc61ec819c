package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestModemExample(t *testing.T) {
	c, err := Parse("example.json", readExample(t))
	if err != nil {
		t.Fatal(err)
	}
	m := c.Modem
	if m.APN != "orange.m2m.spec" || m.PINSecret != "sim-pin" || c.ModemSecret(m.PINSecret) != "1234" ||
		m.MonthlyCapMB != 2000 || m.BillingDay != 5 || m.ProbeEvery != 15*time.Minute || m.CameraAlertAfter != 30*time.Minute ||
		!reflect.DeepEqual(m.CommandNumbers, []string{"+33687650921", "+33698765432"}) {
		t.Errorf("modem %+v", m)
	}
	if got := c.ProbeTarget(); got != "https://cloud.lapsebox.example/" {
		t.Errorf("ProbeTarget = %q", got)
	}
	if got := c.Essential(); !reflect.DeepEqual(got, []string{"website"}) {
		t.Errorf("Essential = %q", got)
	}
	b, _ := c.MarshalRedacted()
	if strings.Contains(string(b), `"1234"`) {
		t.Error("the PIN shows in the redacted configuration")
	}
}

func TestModemDefaults(t *testing.T) {
	c := Default()
	if c.Modem.BillingDay != 1 || c.Modem.AlertsPerDay != 10 || c.Modem.MonthlyCapMB != 0 || c.ProbeTarget() != "" {
		t.Errorf("default modem %+v", c.Modem)
	}
	c, err := Parse("x.json", []byte(`{"site": {"name": "s", "time_zone": "UTC"},
		"targets": [{"name": "cam", "kind": "livecam", "url": "https://w.example/"}, {"name": "sup", "kind": "cloud", "send": "nothing"},
		            {"name": "arch", "kind": "cloud", "url": "https://c.example/"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Essential(); !reflect.DeepEqual(got, []string{"cam", "sup"}) {
		t.Errorf("default essential targets %q", got)
	}
	if got := c.ProbeTarget(); got != "https://c.example/" {
		t.Errorf("ProbeTarget = %q", got)
	}
}

func TestModemBadValues(t *testing.T) {
	const head = `{"site": {"name": "s", "time_zone": "UTC"}, "targets": [{"name": "web", "kind": "livecam", "url": "https://w.example/"}],
"secrets": {"pin": "12a4", "pw": "x\"y"},
"modem": `
	for _, tc := range []struct{ modem, want string }{
		{`{"port": "/etc/passwd"}`, `modem.port: "/etc/passwd" is not a serial port`},
		{`{"port": "/dev/pts/../sda"}`, `modem.port`},
		{`{"apn": "a\"b"}`, "modem.apn"},
		{`{"apn": "x\r\nAT+CFUN=0"}`, "modem.apn"},
		{`{"pin_secret": "nope"}`, `modem.pin_secret: "nope" is not in secrets`},
		{`{"pin_secret": "pin"}`, "secrets.pin: a SIM PIN is 4 to 8 digits"},
		{`{"user": "u", "password_secret": "pw"}`, "secrets.pw: may not hold quotes"},
		{`{"user": "u"}`, "modem.password_secret: required with modem.user"},
		{`{"data": "ppp"}`, `modem.data: "ppp" is not`},
		{`{"probe_url": "ftp://x"}`, "modem.probe_url"},
		{`{"probe_url": "https://u:p@x.example/"}`, "credentials in the URL"},
		{`{"probe_every": "10s"}`, "modem.probe_every"},
		{`{"monthly_cap_mb": -1}`, "modem.monthly_cap_mb"},
		{`{"billing_day": 31}`, "modem.billing_day: 31"},
		{`{"essential_targets": ["web", "archive"]}`, `modem.essential_targets[1]: "archive" is not the name of a target`},
		{`{"alert_numbers": ["+33 6 12"]}`, "modem.alert_numbers[0]"},
		{`{"command_numbers": ["+33687650921", "+33687650921"]}`, "modem.command_numbers[1]: \"+33687650921\" is listed twice"},
		{`{"alerts_per_day": 1000}`, "modem.alerts_per_day"},
		{`{"camera_alert_after": "5s"}`, "modem.camera_alert_after"},
		{`{"baud": 9600}`, `unknown field "baud"`},
	} {
		_, err := Parse("site.json", []byte(head+tc.modem+"}"))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.modem, err, tc.want)
			continue
		}
		if !strings.Contains(err.Error(), "site.json: line ") {
			t.Errorf("%s: error %q lacks its line", tc.modem, err)
		}
		if strings.Contains(err.Error(), "12a4") {
			t.Errorf("%s: error %q shows a secret", tc.modem, err)
		}
	}
}
