package modem_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/modem"
	"github.com/lapsebox/lapsebox/modem/sim"
)

// open starts a simulated modem on a pseudo-terminal and connects the
// engine to it through tarm/serial, as on a device.
func open(t *testing.T, cfg sim.Config) (*sim.Sim, *sim.PTY, *modem.Conn) {
	t.Helper()
	s, p := sim.StartPTY(t, cfg)
	c := dial(t, p.Path())
	t.Cleanup(func() { c.Close() })
	return s, p, c
}

func dial(t *testing.T, path string) *modem.Conn {
	t.Helper()
	port, err := modem.OpenSerial(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return modem.New(port, modem.Options{Logf: t.Logf})
}

func waitURC(t *testing.T, c *modem.Conn, name string) modem.URC {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case u := <-c.URCs():
			if u.Name == name {
				return u
			}
		case <-timeout:
			t.Fatalf("no %s URC", name)
		}
	}
}

// waitReady sends AT until the modem answers: its boot URCs are lost
// when nobody had the port open, as on a real modem.
func waitReady(t *testing.T, c *modem.Conn) {
	t.Helper()
	var err error
	for i := 0; i < 20; i++ {
		if _, err = c.Do(context.Background(), modem.Request{Command: "AT", Timeout: 200 * time.Millisecond}); err == nil {
			return
		}
	}
	t.Fatalf("the modem never answered AT: %v", err)
}

func must(t *testing.T, c *modem.Conn, cmd string) *modem.Response {
	t.Helper()
	r, err := c.Command(context.Background(), cmd)
	if err != nil {
		t.Fatalf("%s: %v", cmd, err)
	}
	return r
}

func TestEngineAgainstSimulator(t *testing.T) {
	for _, model := range []sim.Model{sim.EC25, sim.SIM7600} {
		t.Run(model.Name, func(t *testing.T) {
			s, _, c := open(t, sim.Config{Model: model, BootDelay: 50 * time.Millisecond, RegisterAfter: 50 * time.Millisecond})
			waitReady(t, c)
			// Echo is on after boot: the engine copes, then turns it off.
			if r := must(t, c, "ATI"); len(r.Lines) != 3 || r.Lines[0] != model.Manufacturer {
				t.Errorf("ATI with echo: %q", r.Lines)
			}
			must(t, c, "ATE0")
			must(t, c, "AT+CMEE=2")
			must(t, c, "AT+CEREG=2")
			s.Wait(10*time.Second, func() bool { return s.Registration() == sim.Home })

			s.SplitWrites(true)
			if v, _ := must(t, c, "AT+CSQ").Value("+CSQ"); v != "21,99" {
				t.Errorf("+CSQ split: %q", v)
			}
			s.SplitWrites(false)

			s.GlueWrites(true)
			s.SetNetwork(sim.Searching)
			r := must(t, c, "AT+CEREG?")
			if v, _ := r.Value("+CEREG"); v != "2,2" {
				t.Errorf("+CEREG? with a URC glued in: %q", r.Lines)
			}
			if u := waitURC(t, c, "+CEREG"); u.Args != "2" {
				t.Errorf("glued URC %+v", u)
			}
			s.GlueWrites(false)

			s.Garbage("\x00\xff\xfe\x13 noise \r\n+CSQ: 1")
			s.Storm(300)
			if v, _ := must(t, c, "AT+CGSN").Value(""); v == "" {
				if r := must(t, c, "AT+CGSN"); len(r.Lines) == 0 || r.Lines[len(r.Lines)-1] != "867698041234567" {
					t.Errorf("AT+CGSN after garbage and a storm: %q", r.Lines)
				}
			}
			must(t, c, "ATV0")
			if r := must(t, c, "AT+CGMM"); r.Lines[0] != model.Name {
				t.Errorf("numeric mode: %q", r.Lines)
			}
			if _, err := c.Command(context.Background(), "AT+NOSUCH"); !strings.Contains(fmtErr(err), "ERROR") {
				t.Errorf("unknown command in numeric mode: %v", err)
			}
			must(t, c, "ATV1")
		})
	}
}

func fmtErr(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestSMSWithOKInBody(t *testing.T) {
	s, _, c := open(t, sim.Config{RegisterAfter: time.Millisecond})
	waitReady(t, c)
	for _, cmd := range []string{"ATE0", "AT+CMEE=1", "AT+CMGF=1", `AT+CSCS="IRA"`, "AT+CSDH=1", "AT+CNMI=2,1,0,0,0"} {
		must(t, c, cmd)
	}
	body := "status\r\nOK\r\n\r\nOK"
	s.Receive("+33612345678", body)
	u := waitURC(t, c, "+CMTI")
	f := modem.Fields(u.Args)
	r := must(t, c, "AT+CMGR="+f[1])
	if len(r.Lines) != 2 || r.Lines[1] != body {
		t.Fatalf("AT+CMGR: %q", r.Lines)
	}
	// The engine is in step: the next command gets its own answer.
	if v, _ := must(t, c, "AT+CPMS?").Value("+CPMS"); !strings.HasPrefix(v, `"SM",1,20`) {
		t.Errorf("+CPMS: %q", v)
	}
}

func TestHangThenPowerCycle(t *testing.T) {
	s, p, c := open(t, sim.Config{})
	waitReady(t, c)
	must(t, c, "ATE0")
	s.Hang()
	_, err := c.Do(context.Background(), modem.Request{Command: "AT+CSQ", Timeout: 300 * time.Millisecond})
	if !errors.Is(err, modem.ErrTimeout) {
		t.Fatalf("hung modem: %v, want ErrTimeout", err)
	}
	changed := p.Changed()
	s.PowerCycle()
	select {
	case <-c.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the engine did not notice the port vanish")
	}
	if !errors.Is(c.Err(), modem.ErrGone) {
		t.Errorf("after the power cycle: %v, want ErrGone", c.Err())
	}
	<-changed // unplugged
	for p.Path() == "" {
		<-p.Changed()
	}
	c2 := dial(t, p.Path())
	defer c2.Close()
	defer func() { t.Log(s.Commands()) }()
	waitReady(t, c2)
}

func TestResetMakesThePortVanish(t *testing.T) {
	_, p, c := open(t, sim.Config{})
	waitReady(t, c)
	old := p.Path()
	must(t, c, "AT+CFUN=1,1")
	select {
	case <-c.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the engine did not notice the reset")
	}
	if _, err := c.Command(context.Background(), "AT"); !errors.Is(err, modem.ErrGone) {
		t.Errorf("command after reset: %v, want ErrGone", err)
	}
	t.Logf("port %s vanished: %v", old, c.Err())
}

// A read timeout of tarm/serial looks like a vanished device; the engine
// must stay connected through idle periods longer than the timeout.
func TestIdleIsNotGone(t *testing.T) {
	_, _, c := open(t, sim.Config{})
	waitReady(t, c)
	select {
	case <-c.Done():
		t.Fatalf("connection ended while idle: %v", c.Err())
	case <-time.After(3 * time.Second): // three read timeouts
	}
	must(t, c, "AT")
}

// Close must not hang on the pending read of an idle modem.
func TestCloseWhileReading(t *testing.T) {
	_, _, c := open(t, sim.Config{})
	waitReady(t, c)
	done := make(chan struct{})
	go func() {
		c.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close blocked")
	}
	if !errors.Is(c.Err(), modem.ErrClosed) {
		t.Errorf("after Close: %v", c.Err())
	}
}
