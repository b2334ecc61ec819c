package modem

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

type convo struct {
	name    string
	cmd     string
	answer  []string // chunks the modem sends after the command
	lines   []string
	err     string // substring of the error, "" for none
	urcs    []string
	connect bool
}

func TestCommandResponses(t *testing.T) {
	sms := `+CMGR: "REC UNREAD","+33612345678",,"26/07/01,12:00:00+08",145,4,0,0,"+33609001390",145,14`
	for _, tc := range []convo{
		{name: "verbose", cmd: "AT+CSQ", answer: []string{"\r\n+CSQ: 21,99\r\n\r\nOK\r\n"}, lines: []string{"+CSQ: 21,99"}},
		{name: "echo on", cmd: "AT+CSQ", answer: []string{"AT+CSQ\r\r\n+CSQ: 21,99\r\n\r\nOK\r\n"}, lines: []string{"+CSQ: 21,99"}},
		{name: "numeric OK", cmd: "ATI", answer: []string{"Quectel\r\nEC25\r\nRevision: EC25EFAR06A06M4G\r\n0\r"},
			lines: []string{"Quectel", "EC25", "Revision: EC25EFAR06A06M4G"}},
		{name: "numeric ERROR", cmd: "AT+FOO", answer: []string{"4\r"}, err: "AT+FOO: ERROR"},
		{name: "split everywhere", cmd: "AT+CGSN", answer: strings.Split("\r\n867698041234567\r\n\r\nOK\r\n", ""), lines: []string{"867698041234567"}},
		{name: "glued with a URC before and after", cmd: "AT+CSQ",
			answer: []string{"\r\n+CMTI: \"SM\",3\r\n\r\n+CSQ: 21,99\r\n\r\nOK\r\n\r\nRING\r\n"},
			lines:  []string{"+CSQ: 21,99"}, urcs: []string{`+CMTI: "SM",3`, "RING"}},
		{name: "URC in the middle of a response", cmd: "AT+CGMR",
			answer: []string{"\r\nEC25EFAR06A06M4G\r\n\r\n+CEREG: 1,\"00C3\",\"0001A2B3\",7\r\n\r\nOK\r\n"},
			lines:  []string{"EC25EFAR06A06M4G"}, urcs: []string{`+CEREG: 1,"00C3","0001A2B3",7`}},
		{name: "solicited and unsolicited +CEREG", cmd: "AT+CEREG?",
			answer: []string{"\r\n+CEREG: 5,\"00C4\",\"0001A2B4\",7\r\n\r\n+CEREG: 2,1,\"00C3\",\"0001A2B3\",7\r\n\r\nOK\r\n"},
			lines:  []string{`+CEREG: 2,1,"00C3","0001A2B3",7`}, urcs: []string{`+CEREG: 5,"00C4","0001A2B4",7`}},
		{name: "own code while pending is information", cmd: "AT+CPIN?", answer: []string{"\r\n+CPIN: SIM PIN\r\n\r\nOK\r\n"}, lines: []string{"+CPIN: SIM PIN"}},
		{name: "CME numeric", cmd: "AT+CIMI", answer: []string{"\r\n+CME ERROR: 10\r\n"}, err: "+CME ERROR: 10 (SIM not inserted)"},
		{name: "CME text", cmd: "AT+CPIN?", answer: []string{"\r\n+CME ERROR: SIM busy\r\n"}, err: "+CME ERROR: SIM busy"},
		{name: "CMS", cmd: "AT+CMGR=9", answer: []string{"\r\n+CMS ERROR: 321\r\n"}, err: "+CMS ERROR: 321"},
		{name: "NO CARRIER", cmd: "ATD*99#", answer: []string{"\r\nNO CARRIER\r\n"}, err: "NO CARRIER"},
		{name: "CONNECT", cmd: "ATD*99#", answer: []string{"\r\nCONNECT 150000000\r\n"}, connect: true},
		{name: "SMS body with OK lines", cmd: "AT+CMGR=3",
			answer: []string{"\r\n" + sms + "\r\nhello\r\nOK\r\nbye\r\n\r\nOK\r\n"},
			lines:  []string{sms, "hello\r\nOK\r\nbye"}},
		{name: "garbage before the answer", cmd: "AT",
			answer: []string{"\xff\xfe\x00garbage\x01\r\n\r\nOK\r\n"}, lines: []string{"\xff\xfegarbage\x01"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			port := newPipePort()
			c := New(port, Options{Logf: t.Logf})
			defer c.Close()
			go func() {
				port.expect(t, tc.cmd+"\r")
				port.say(tc.answer...)
			}()
			resp, err := c.Command(context.Background(), tc.cmd)
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("%s: %v", tc.cmd, err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("%s: error %v, want %q", tc.cmd, err, tc.err)
			}
			if tc.err == "" {
				if !reflect.DeepEqual(resp.Lines, tc.lines) {
					t.Errorf("lines %q, want %q", resp.Lines, tc.lines)
				}
				if resp.Connect != tc.connect {
					t.Errorf("connect %v, want %v", resp.Connect, tc.connect)
				}
			}
			for _, want := range tc.urcs {
				select {
				case u := <-c.URCs():
					if u.Line != want {
						t.Errorf("URC %q, want %q", u.Line, want)
					}
				case <-time.After(10 * time.Second):
					t.Fatalf("URC %q not delivered", want)
				}
			}
		})
	}
}

func TestCMEErrorCodes(t *testing.T) {
	for line, want := range map[string]int{
		"+CME ERROR: 14":                 CMESIMBusy,
		"+CME ERROR: SIM busy":           CMESIMBusy,
		"+CME ERROR: incorrect password": CMEIncorrectPassword,
		"+CME ERROR: SIM not inserted":   CMESIMNotInserted,
		"+CME ERROR: SIM PUK required":   CMESIMPUKRequired,
		"+CME ERROR: frobnicated":        -1,
	} {
		_, _, err := final("AT+CPIN?", line)
		if got := CMECode(err); got != want {
			t.Errorf("%q: code %d, want %d", line, got, want)
		}
	}
}

func TestSMSPrompt(t *testing.T) {
	port := newPipePort()
	c := New(port, Options{Logf: t.Logf})
	defer c.Close()
	go func() {
		port.expect(t, `AT+CMGS="+33612345678"`+"\r")
		port.say("\r\n", "> ")
		port.expect(t, "camera stopped\x1a")
		port.say("\r\n+CMGS: 17\r\n\r\nOK\r\n")
	}()
	resp, err := c.Do(context.Background(), Request{Command: `AT+CMGS="+33612345678"`, Body: "camera stopped"})
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := resp.Value("+CMGS"); v != "17" {
		t.Errorf("+CMGS = %q", v)
	}
}

func TestSMSRefusedBeforePrompt(t *testing.T) {
	port := newPipePort()
	c := New(port, Options{Logf: t.Logf})
	defer c.Close()
	go func() {
		port.expect(t, `AT+CMGS="+1"`+"\r")
		port.say("\r\n+CMS ERROR: 331\r\n")
	}()
	_, err := c.Do(context.Background(), Request{Command: `AT+CMGS="+1"`, Body: "x"})
	if CMSCode(err) != CMSNoNetworkService {
		t.Fatalf("error %v, want CMS 331", err)
	}
}

// A command that times out leaves its answer on the way; the next command
// must not take it for its own.
func TestTimeoutThenLateAnswer(t *testing.T) {
	port := newPipePort()
	c := New(port, Options{Logf: t.Logf})
	defer c.Close()
	go port.expect(t, "AT+COPS=?\r")
	_, err := c.Do(context.Background(), Request{Command: "AT+COPS=?", Timeout: 50 * time.Millisecond})
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("error %v, want ErrTimeout", err)
	}
	go func() {
		port.say("\r\n+COPS: (2,\"Orange F\",\"Orange\",\"20801\",7),,(0-4),(0-2)\r\n")
		port.expect(t, "AT+CMEE?\r")
		port.say("\r\nOK\r\n") // the late OK of AT+COPS=?
		port.say("\r\n+CMEE: 2\r\n\r\nOK\r\n")
		port.expect(t, "AT+CSQ\r")
		port.say("\r\n+CSQ: 18,99\r\n\r\nOK\r\n")
	}()
	resp, err := c.Command(context.Background(), "AT+CSQ")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(resp.Lines, []string{"+CSQ: 18,99"}) {
		t.Errorf("lines %q", resp.Lines)
	}
}

func TestSecretNotInErrors(t *testing.T) {
	port := newPipePort()
	c := New(port, Options{Logf: t.Logf})
	defer c.Close()
	go func() {
		port.expect(t, `AT+CPIN="4321"`+"\r")
		port.say(`AT+CPIN="4321"` + "\r\r\n+CME ERROR: incorrect password\r\n")
	}()
	_, err := c.Do(context.Background(), Request{Command: `AT+CPIN="4321"`, Secret: true})
	if CMECode(err) != CMEIncorrectPassword || strings.Contains(err.Error(), "4321") {
		t.Fatalf("error %v", err)
	}
}

func TestGoneEndsCommands(t *testing.T) {
	port := newPipePort()
	c := New(port, Options{})
	go func() {
		port.expect(t, "AT+CFUN=1,1\r")
		port.say("\r\nOK\r\n")
		port.w.Close() // the modem resets: its port vanishes
	}()
	if _, err := c.Command(context.Background(), "AT+CFUN=1,1"); err != nil {
		t.Fatal(err)
	}
	<-c.Done()
	if _, err := c.Command(context.Background(), "AT"); !errors.Is(err, ErrGone) {
		t.Errorf("after the port vanished: %v, want ErrGone", err)
	}
}

// A storm of URCs nobody reads never blocks commands.
func TestURCStormDoesNotBlock(t *testing.T) {
	port := newPipePort()
	c := New(port, Options{URCBuffer: 4})
	defer c.Close()
	go func() {
		port.expect(t, "AT\r")
		var b strings.Builder
		for i := 0; i < 2000; i++ {
			b.WriteString("\r\n+CEREG: 1,\"00C3\",\"0001A2B3\",7\r\n")
		}
		port.say(b.String(), "\r\nOK\r\n")
	}()
	if _, err := c.Command(context.Background(), "AT"); err != nil {
		t.Fatal(err)
	}
	if c.DroppedURCs() != 2000-4 {
		t.Errorf("dropped %d URCs, want %d", c.DroppedURCs(), 2000-4)
	}
}

func TestCMTWithBody(t *testing.T) {
	port := newPipePort()
	c := New(port, Options{})
	defer c.Close()
	port.say("\r\n+CMT: \"+33612345678\",,\"26/07/01,12:00:00+08\",145,4,0,0,\"+33609001390\",145,9\r\nstatus\nOK\r\n")
	select {
	case u := <-c.URCs():
		if u.Name != "+CMT" || u.Body != "status\nOK" {
			t.Errorf("URC %+v", u)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no +CMT")
	}
}
