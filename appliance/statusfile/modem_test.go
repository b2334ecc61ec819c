package statusfile

import (
	"path/filepath"
	"testing"
	"time"
)

func TestModemKeysAreCamelCase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "modemd.json")
	n, f := -95, 12.5
	st := Modem{State: "connected", Device: &ModemInfo{}, SIM: &SIM{PINAttemptsLeft: &n},
		Net:  &Network{SignalDBM: &n, RSRQ: &f, SINR: &f, SignalTime: time.Now()},
		Link: Link{DownSince: time.Now(), LastProbe: time.Now(), LastOutage: Duration(time.Minute)},
		Data: DataUse{EssentialTargets: []string{"web"}, Updated: time.Now()},
		SMS:  SMSCounters{LastAlertTime: time.Now()}, LastEscalation: &Escalation{}, Escalations: []Escalation{{}}}
	checkCamelCase(t, path, st)
	var back Modem
	if _, err := Read(path, &back); err != nil || *back.Net.SignalDBM != -95 || back.Link.LastOutage != Duration(time.Minute) {
		t.Errorf("read back %+v, %v", back, err)
	}
}
