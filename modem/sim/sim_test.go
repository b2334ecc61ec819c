package sim_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/modem"
	"github.com/lapsebox/lapsebox/modem/sim"
)

func start(t *testing.T, cfg sim.Config) (*sim.Sim, *sim.PTY, *modem.Conn) {
	t.Helper()
	s, p := sim.StartPTY(t, cfg)
	c := connect(t, p)
	t.Cleanup(func() { c.Close() })
	return s, p, c
}

func connect(t *testing.T, p *sim.PTY) *modem.Conn {
	t.Helper()
	port, err := modem.OpenSerial(p.Path(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c := modem.New(port, modem.Options{Logf: t.Logf})
	for i := 0; ; i++ {
		if _, err := c.Do(context.Background(), modem.Request{Command: "ATE0", Timeout: 300 * time.Millisecond}); err == nil {
			break
		} else if i == 20 {
			t.Fatalf("no answer: %v", err)
		}
	}
	return c
}

func run(t *testing.T, c *modem.Conn, cmd string) (*modem.Response, error) {
	t.Helper()
	return c.Command(context.Background(), cmd)
}

func TestBootURCs(t *testing.T) {
	for _, tc := range []struct {
		model sim.Model
		want  []string
	}{
		{sim.EC25, []string{"RDY", "+CFUN: 1", "+CPIN: SIM PIN", "+QUSIM: 1"}},
		{sim.SIM7600, []string{"RDY", "+CFUN: 1", "+CPIN: SIM PIN"}},
	} {
		ctx, cancel := context.WithCancel(context.Background())
		s := sim.New(sim.Config{Model: tc.model, PIN: "1234", BootDelay: 100 * time.Millisecond})
		p, err := sim.ServePTY(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		port, err := modem.OpenSerial(p.Path(), time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c := modem.New(port, modem.Options{})
		var got []string
		for len(got) < len(tc.want) {
			select {
			case u := <-c.URCs():
				got = append(got, u.Line)
			case <-time.After(10 * time.Second):
				t.Fatalf("%s: boot URCs %q, want %q", tc.model.Name, got, tc.want)
			}
		}
		if strings.Join(got, "|") != strings.Join(tc.want, "|") {
			t.Errorf("%s: boot URCs %q, want %q", tc.model.Name, got, tc.want)
		}
		c.Close()
		p.Close()
		cancel()
	}
}

func TestWrongPINLocksTheSIM(t *testing.T) {
	s, _, c := start(t, sim.Config{PIN: "1234"})
	run(t, c, "AT+CMEE=1")
	if _, err := run(t, c, "AT+CIMI"); modem.CMECode(err) != modem.CMESIMPINRequired {
		t.Errorf("IMSI before the PIN: %v", err)
	}
	for i := 0; i < 3; i++ {
		if _, err := run(t, c, `AT+CPIN="0000"`); modem.CMECode(err) != modem.CMEIncorrectPassword {
			t.Fatalf("wrong PIN %d: %v", i, err)
		}
	}
	if st, left := s.SIMState(); st != "SIM PUK" || left != 0 {
		t.Errorf("after three wrong PINs: %s, %d left", st, left)
	}
	if r, _ := run(t, c, `AT+QPINC="SC"`); !strings.Contains(strings.Join(r.Lines, ""), `"SC",0,10`) {
		t.Errorf("QPINC: %q", r.Lines)
	}
	if _, err := run(t, c, `AT+CPIN="12345678","4321"`); err != nil {
		t.Fatalf("PUK: %v", err)
	}
	if st, _ := s.SIMState(); st != "READY" {
		t.Errorf("after the PUK: %s", st)
	}
}

func TestSIMBusyThenReady(t *testing.T) {
	_, _, c := start(t, sim.Config{SIMBusy: 300 * time.Millisecond})
	run(t, c, "AT+CMEE=2")
	_, err := run(t, c, "AT+CPIN?")
	for modem.CMECode(err) == modem.CMESIMBusy {
		time.Sleep(50 * time.Millisecond)
		_, err = run(t, c, "AT+CPIN?")
	}
	if err != nil {
		t.Fatal(err)
	}
}

func TestStorageFull(t *testing.T) {
	s, _, c := start(t, sim.Config{Storage: 3})
	for i := 0; i < 4; i++ {
		s.Receive("+33612345678", "hello")
	}
	if s.Stored() != 3 || s.Rejected() != 1 {
		t.Errorf("stored %d, rejected %d", s.Stored(), s.Rejected())
	}
	run(t, c, "AT+CMGF=1")
	r, err := run(t, c, "AT+CPMS?")
	if v, _ := r.Value("+CPMS"); err != nil || !strings.HasPrefix(v, `"SM",3,3`) {
		t.Errorf("+CPMS? %q %v", r.Lines, err)
	}
	run(t, c, "AT+CMGD=0,4")
	if s.Stored() != 0 {
		t.Errorf("%d stored after deleting all", s.Stored())
	}
}

func TestSendSMS(t *testing.T) {
	s, _, c := start(t, sim.Config{RegisterAfter: time.Millisecond})
	run(t, c, "AT+CMGF=1")
	s.Wait(10*time.Second, func() bool { return s.Registration() == sim.Home })
	if _, err := c.Do(context.Background(), modem.Request{Command: `AT+CMGS="+33612345678"`, Body: "disk nearly full"}); err != nil {
		t.Fatal(err)
	}
	if got := s.Sent(); len(got) != 1 || got[0].Number != "+33612345678" || got[0].Text != "disk nearly full" {
		t.Errorf("sent %+v", got)
	}
}

func TestResetReEnumeratesAndAppliesUSBMode(t *testing.T) {
	s, p, c := start(t, sim.Config{Model: sim.SIM7600})
	if _, err := run(t, c, "AT+CUSBPIDSWITCH=9018,1,1"); err != nil {
		t.Fatal(err)
	}
	<-c.Done()
	if !errors.Is(c.Err(), modem.ErrGone) {
		t.Errorf("after the switch: %v", c.Err())
	}
	for p.Path() == "" {
		<-p.Changed()
	}
	if _, pid := s.USBNet(); pid != "9018" {
		t.Errorf("product ID after the reset: %s", pid)
	}
	c2 := connect(t, p)
	defer c2.Close()
	if s.Resets() != 1 {
		t.Errorf("%d resets", s.Resets())
	}
}
