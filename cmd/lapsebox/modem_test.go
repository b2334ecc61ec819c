package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/modem/sim"
)

func simModem(t *testing.T, cfg sim.Config) (*sim.Sim, string) {
	t.Helper()
	s, p := sim.StartPTY(t, cfg)
	s.Wait(10*time.Second, func() bool { return s.Registration() == sim.Home || cfg.PIN != "" })
	return s, p.Path()
}

func TestModemInfo(t *testing.T) {
	for _, tc := range []struct {
		cfg  sim.Config
		want []string
	}{
		{sim.Config{Model: sim.EC25}, []string{"Quectel EC25, firmware EC25EFAR06A06M4G, IMEI 867698041234567",
			"READY, ICCID 89330123456789012345, 3 PIN and 10 PUK attempts left", "IMSI      208011234567890",
			"registered, Orange F, LTE", "-95 dBm (4/5 bars, RSRQ -10.0 dB, SINR 12.0 dB, from QCSQ)", "not in ECM mode"}},
		{sim.Config{Model: sim.SIM7600, PIN: "1234"}, []string{"SIMCOM INCORPORATED SIMCOM_SIM7600E-H",
			"SIM PIN, ICCID 89330123456789012345, 3 PIN and 10 PUK attempts left", "network   not registered"}},
	} {
		s, path := simModem(t, tc.cfg)
		var out bytes.Buffer
		if err := modemInfo(testContext(t), &out, t.TempDir(), path); err != nil {
			t.Fatal(err)
		}
		for _, w := range tc.want {
			if !strings.Contains(out.String(), w) {
				t.Errorf("%s: output lacks %q:\n%s", tc.cfg.Model.Name, w, out.String())
			}
		}
		if s.PINEntries() != 0 {
			t.Errorf("%s: the PIN was entered", tc.cfg.Model.Name)
		}
	}
}

func TestModemAT(t *testing.T) {
	s, path := simModem(t, sim.Config{PIN: "1234"})
	var out bytes.Buffer
	if err := modemAT(testContext(t), &out, path, `AT+CPIN="1234"`, 0); err != nil {
		t.Fatal(err)
	}
	if st, _ := s.SIMState(); st != "READY" || out.String() != "OK\n" {
		t.Errorf("SIM %s, output %q", st, out.String())
	}
	out.Reset()
	if err := modemAT(testContext(t), &out, path, "ATI", 0); err != nil || !strings.HasPrefix(out.String(), "Quectel\nEC25\n") {
		t.Errorf("ATI: %v %q", err, out.String())
	}
	if err := modemAT(testContext(t), &out, path, "AT+NOPE", 0); err == nil || !strings.Contains(err.Error(), "ERROR") {
		t.Errorf("unknown command: %v", err)
	}
	for _, bad := range []string{"ls", "AT\rAT+CFUN=0"} {
		if err := modemAT(testContext(t), &out, path, bad, 0); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
