package modem_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/modem"
	"github.com/lapsebox/lapsebox/modem/sim"
)

func TestParseSignal(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	for _, tc := range []struct {
		cmd, args string
		want      modem.Signal
		ok        bool
	}{
		{"CSQ", "21,99", modem.Signal{DBM: -71, Bars: 5, Source: "CSQ"}, true},
		{"CSQ", "10,99", modem.Signal{DBM: -93, Bars: 3, Source: "CSQ"}, true},
		{"CSQ", "99,99", modem.Signal{Source: "CSQ"}, true},
		{"CESQ", "99,99,255,255,20,46", modem.Signal{DBM: -95, Bars: 4, RSRQ: f(-10), Source: "CESQ"}, true},
		{"CESQ", "99,99,255,255,255,255", modem.Signal{}, false},
		{"CESQ", "99,99,40,20,255,255", modem.Signal{DBM: -81, Bars: 4, Source: "CESQ"}, true},
		{"QCSQ", `"LTE",-71,-95,160,-10`, modem.Signal{DBM: -95, Bars: 4, SINR: f(12), RSRQ: f(-10), Source: "QCSQ"}, true},
		{"QCSQ", `"LTE",77,117,160,-10`, modem.Signal{DBM: -117, Bars: 1, SINR: f(12), RSRQ: f(-10), Source: "QCSQ"}, true},
		{"QCSQ", `"WCDMA",-85,-90,-8`, modem.Signal{DBM: -85, Bars: 3, Source: "QCSQ"}, true},
		{"QCSQ", `"NOSERVICE"`, modem.Signal{}, false},
	} {
		var got modem.Signal
		ok := true
		switch tc.cmd {
		case "CSQ":
			got = modem.ParseCSQ(tc.args)
		case "CESQ":
			got, ok = modem.ParseCESQ(tc.args)
		case "QCSQ":
			got, ok = modem.ParseQCSQ(tc.args)
		}
		if ok != tc.ok || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s %q = %+v %v, want %+v %v", tc.cmd, tc.args, got, ok, tc.want, tc.ok)
		}
	}
}

func TestParseRegistration(t *testing.T) {
	for _, tc := range []struct {
		args      string
		solicited bool
		want      modem.Registration
	}{
		{`2,1,"00C3","0001A2B3",7`, true, modem.Registration{State: modem.RegHome, Tech: 7, TAC: "00C3", Cell: "0001A2B3"}},
		{`5,"00C3","0001A2B3",7`, false, modem.Registration{State: modem.RegRoaming, Tech: 7, TAC: "00C3", Cell: "0001A2B3"}},
		{`0,3`, true, modem.Registration{State: modem.RegDenied, Tech: -1}},
		{`2`, false, modem.Registration{State: modem.RegSearching, Tech: -1}},
	} {
		got, err := modem.ParseRegistration(tc.args, tc.solicited)
		if err != nil || got != tc.want {
			t.Errorf("ParseRegistration(%q) = %+v, %v; want %+v", tc.args, got, err, tc.want)
		}
	}
	if _, err := modem.ParseRegistration("x", false); err == nil {
		t.Error("garbage registration accepted")
	}
}

func TestSMSText(t *testing.T) {
	if got := modem.SMSText("Kamera gestoppt – Zähler\r\nok"); got != "Kamera gestoppt ? Z?hler \nok" {
		t.Errorf("SMSText = %q", got)
	}
	if got := modem.SMSText(string(make([]byte, 300))); len(got) != modem.MaxSMS {
		t.Errorf("SMSText of 300 characters: %d", len(got))
	}
	for _, n := range []string{`+33"`, "+33612345678\r", "12", "abc"} {
		if modem.ValidNumber(n) {
			t.Errorf("ValidNumber(%q)", n)
		}
	}
	ts, err := modem.ParseSCTS("26/07/01,12:00:00+08")
	if _, off := ts.Zone(); err != nil || off != 7200 || ts.Hour() != 12 {
		t.Errorf("ParseSCTS: %v %v", ts, err)
	}
}

// The typed commands against both simulated models: identity, the SIM
// with its PIN, registration, signal, APN, SMS both ways, ECM.
func TestDeviceCommands(t *testing.T) {
	for _, model := range []sim.Model{sim.EC25, sim.SIM7600} {
		t.Run(model.Name, func(t *testing.T) {
			s, _, c := open(t, sim.Config{Model: model, PIN: "2580", RegisterAfter: 20 * time.Millisecond, SIMBusy: 100 * time.Millisecond})
			ctx := context.Background()
			waitReady(t, c)
			if err := modem.Init(ctx, c); err != nil {
				t.Fatal(err)
			}
			v := modem.VendorOf(model.VendorID, "")
			id, err := modem.ReadIdentity(ctx, c, v)
			if err != nil {
				t.Fatal(err)
			}
			if id.Model != model.Name || id.Revision != model.Revision || id.IMEI != "867698041234567" || id.ICCID != "89330123456789012345" {
				t.Errorf("identity %+v", id)
			}
			st, err := modem.ReadSIM(ctx, c)
			for st == modem.SIMBusy { // starting up
				time.Sleep(20 * time.Millisecond)
				st, err = modem.ReadSIM(ctx, c)
			}
			if err != nil || st != modem.SIMPIN {
				t.Fatalf("SIM %q %v", st, err)
			}
			if pin, puk, ok := modem.PINRetries(ctx, c, v); !ok || pin != 3 || puk != 10 {
				t.Errorf("PIN retries %d %d %v", pin, puk, ok)
			}
			if err := modem.EnterPIN(ctx, c, "0000"); !errors.Is(err, modem.ErrWrongPIN) {
				t.Errorf("wrong PIN: %v", err)
			}
			if err := modem.EnterPIN(ctx, c, "2580"); err != nil {
				t.Fatal(err)
			}
			st, _ = modem.ReadSIM(ctx, c)
			for st == modem.SIMBusy {
				time.Sleep(20 * time.Millisecond)
				st, _ = modem.ReadSIM(ctx, c)
			}
			if st != modem.SIMReady {
				t.Fatalf("SIM after the PIN: %q", st)
			}
			if imsi, err := modem.ReadIMSI(ctx, c); err != nil || imsi != "208011234567890" {
				t.Errorf("IMSI %q %v", imsi, err)
			}
			modem.EnableRegistrationURCs(ctx, c)
			modem.SetOperatorFormat(ctx, c)
			s.Wait(10*time.Second, func() bool { return s.Registration() == sim.Home })
			if reg, err := modem.ReadRegistration(ctx, c); err != nil || reg.State != modem.RegHome || reg.Tech != 7 {
				t.Errorf("registration %+v %v", reg, err)
			}
			if op, act, err := modem.ReadOperator(ctx, c); err != nil || op != "Orange F" || act != 7 {
				t.Errorf("operator %q %d %v", op, act, err)
			}
			sig, err := modem.ReadSignal(ctx, c, v)
			if err != nil || sig.DBM != -95 || sig.Bars != 4 {
				t.Errorf("signal %+v %v", sig, err)
			}
			if err := modem.SetAPN(ctx, c, v, "internet.example", "user", "secret"); err != nil {
				t.Errorf("APN: %v", err)
			}
			if err := modem.SetAPN(ctx, c, v, `bad"apn`, "", ""); err == nil {
				t.Error("an APN with a quote accepted")
			}
			if err := modem.SMSInit(ctx, c); err != nil {
				t.Fatal(err)
			}
			if _, err := modem.SendSMS(ctx, c, "+33612345678", "camera stopped"); err != nil {
				t.Fatal(err)
			}
			if sent := s.Sent(); len(sent) != 1 || sent[0].Text != "camera stopped" {
				t.Errorf("sent %+v", sent)
			}
			s.Receive("+33698765432", "status")
			u := waitURC(t, c, "+CMTI")
			idx := modem.Fields(u.Args)[1]
			m, err := modem.ReadSMS(ctx, c, atoi(idx))
			if err != nil || m.From != "+33698765432" || m.Text != "status" || !m.Unread {
				t.Errorf("message %+v %v", m, err)
			}
			if used, total, err := modem.SMSStorage(ctx, c); err != nil || used != 1 || total != 20 {
				t.Errorf("storage %d/%d %v", used, total, err)
			}
			modem.DeleteSMS(ctx, c, m.Index)
			if _, err := modem.ReadSMS(ctx, c, m.Index); !errors.Is(err, modem.ErrNoMessage) {
				t.Errorf("deleted message: %v", err)
			}
			if on, err := modem.ECMEnabled(ctx, c, v); err != nil || on {
				t.Errorf("ECM before switching: %v %v", on, err)
			}
		})
	}
}

func atoi(s string) int {
	n := 0
	for _, r := range s {
		n = n*10 + int(r-'0')
	}
	return n
}
