package modem

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func seedTranscripts(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.txt")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		// Transcripts are stored with LF; modems send CRLF.
		b = []byte(strings.ReplaceAll(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n", "\r\n"))
		f.Add(b, uint16(7))
	}
}

// FuzzLexer checks that however the bytes are cut into reads, the lexer
// finds the same lines, and never one longer than MaxLine.
func FuzzLexer(f *testing.F) {
	seedTranscripts(f)
	f.Fuzz(func(t *testing.T, data []byte, cut uint16) {
		whole := lexAll(&Lexer{}, string(data))
		k := int(cut) % (len(data) + 1)
		split := lexAll(&Lexer{}, string(data[:k]), string(data[k:]))
		if !reflect.DeepEqual(whole, split) {
			t.Fatalf("cut at %d changed the tokens:\n%+v\n%+v", k, whole, split)
		}
		for _, tok := range whole {
			if len(tok.Text) > MaxLine || tok.Text == "" {
				t.Fatalf("token %+v", tok)
			}
			if tok.Kind == Line && strings.ContainsAny(tok.Text, "\r\n\x00") {
				t.Fatalf("line %q holds a terminator or NUL", tok.Text)
			}
		}
	})
}

// FuzzResponse feeds arbitrary modem output to the engine while a command
// waits: it must never panic or block, complete the command at most once,
// and keep URCs out of the command's lines.
func FuzzResponse(f *testing.F) {
	seedTranscripts(f)
	cmds := []string{"AT+CSQ", "AT+CEREG?", "AT+CMGR=0", `AT+CMGS="+1"`, "ATI", "AT+CPIN?", "AT+CMEE?"}
	f.Fuzz(func(t *testing.T, data []byte, which uint16) {
		c := &Conn{log: newLimitedLog(nil, 0, time.Minute), urcs: make(chan URC, len(data)+1), done: make(chan struct{})}
		cmd := cmds[int(which)%len(cmds)]
		r := &request{cmd: cmd, display: cmd, result: make(chan error, 1), prompt: make(chan struct{}, 1),
			prefixes: []string{commandPrefix(cmd)}, waitPr: strings.HasPrefix(cmd, "AT+CMGS")}
		if cmd == "AT+CMEE?" {
			r.need = "+CMEE"
		}
		c.pending = r
		c.lex.WantPrompt = r.waitPr
		for len(data) > 0 { // reads of up to 37 bytes
			n := min(len(data), 37)
			c.feed(data[:n])
			data = data[n:]
		}
		close(c.urcs)
		for u := range c.urcs {
			if u.Name == "" {
				t.Fatalf("URC without a name: %+v", u)
			}
		}
		for i, l := range r.lines {
			name, args := splitURC(l)
			if knownURCs[name] && !r.claims(name) {
				t.Fatalf("line %d %q is a URC", i, l)
			}
			if isRegistration(name) && !regSolicited(args) {
				t.Fatalf("line %d %q is an unsolicited registration", i, l)
			}
		}
	})
}
