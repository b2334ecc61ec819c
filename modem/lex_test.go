package modem

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func lexAll(l *Lexer, chunks ...string) []Token {
	var out []Token
	for i := 0; i <= len(chunks); i++ {
		if i < len(chunks) {
			l.Write([]byte(chunks[i]))
		}
		for {
			t, ok := l.Next()
			if !ok {
				break
			}
			out = append(out, t)
			if t.Kind == Line && strings.HasPrefix(t.Text, "+CMGR:") {
				if n := messageBody("+CMGR", strings.TrimSpace(strings.TrimPrefix(t.Text, "+CMGR:"))); n >= 0 {
					l.ExpectBody(n)
				}
			}
		}
	}
	return out
}

func lines(ss ...string) []Token {
	var out []Token
	for _, s := range ss {
		out = append(out, Token{Kind: Line, Text: s})
	}
	return out
}

func TestLexer(t *testing.T) {
	body := `+CMGR: "REC UNREAD","+33612345678",,"26/07/01,12:00:00+08",145,4,0,0,"+33609001390",145,14`
	for _, tc := range []struct {
		name   string
		prompt bool
		chunks []string
		want   []Token
	}{
		{"verbose", false, []string{"\r\n+CSQ: 21,99\r\n\r\nOK\r\n"}, lines("+CSQ: 21,99", "OK")},
		{"echo ends in CR only", false, []string{"AT+CSQ\r\r\n+CSQ: 21,99\r\n\r\nOK\r\n"}, lines("AT+CSQ", "+CSQ: 21,99", "OK")},
		{"numeric results", false, []string{"AT\r0\r", "ATI\rQuectel\r\n0\r"}, lines("AT", "0", "ATI", "Quectel", "0")},
		{"split in the middle of a line and of CRLF", false, []string{"\r\n+CSQ: 2", "1,99\r", "\n\r", "\nOK\r\n"}, lines("+CSQ: 21,99", "OK")},
		{"one byte at a time", false, strings.Split("\r\nRDY\r\n\r\n+CFUN: 1\r\n", ""), lines("RDY", "+CFUN: 1")},
		{"NUL bytes dropped", false, []string{"\x00\x00\r\nO\x00K\r\n\x00\r\n"}, lines("OK")},
		{"prompt wanted", true, []string{"\r\n> "}, []Token{{Kind: Prompt, Text: "> "}}},
		{"prompt split", true, []string{"\r\n>", " "}, []Token{{Kind: Prompt, Text: "> "}}},
		{"prompt not wanted waits for its line", false, []string{"\r\n> "}, nil},
		{"body with OK lines, by length", false, []string{"\r\n" + body + "\r\nhello\r\nOK\r\nbye\r\n\r\nOK\r\n"},
			[]Token{{Kind: Line, Text: body}, {Kind: Body, Text: "hello\r\nOK\r\nbye"}, {Kind: Line, Text: "OK"}}},
		{"body header CR and LF in two reads", false, []string{"\r\n" + body + "\r", "\nhello\r\nOK\r\nbye\r\n\r\nOK\r\n"},
			[]Token{{Kind: Line, Text: body}, {Kind: Body, Text: "hello\r\nOK\r\nbye"}, {Kind: Line, Text: "OK"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := &Lexer{WantPrompt: tc.prompt}
			got := lexAll(l, tc.chunks...)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestLexerBodyCountsRunes(t *testing.T) {
	l := &Lexer{}
	l.ExpectBody(3)
	l.Write([]byte("é"[:1]))
	if _, ok := l.Next(); ok {
		t.Fatal("a token from half a rune")
	}
	l.Write([]byte("é"[1:] + "ab\r\nOK\r\n"))
	got := lexAll(l)
	want := []Token{{Kind: Body, Text: "éab"}, {Kind: Line, Text: "OK"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestLexerBoundsLines(t *testing.T) {
	l := &Lexer{}
	l.Write([]byte(strings.Repeat("x", 3*MaxLine+10)))
	got := lexAll(l)
	if len(got) != 3 || !got[0].Truncated || len(got[0].Text) != MaxLine {
		t.Fatalf("got %d tokens, first truncated %v", len(got), len(got) > 0 && got[0].Truncated)
	}
	if l.Buffered() != 10 {
		t.Errorf("%d bytes buffered, want 10", l.Buffered())
	}
}

func TestRegSolicited(t *testing.T) {
	for _, tc := range []struct {
		args string
		want bool
	}{
		{`2,1,"00C3","0001A2B3",7`, true},
		{`1,"00C3","0001A2B3",7`, false},
		{`1,5`, true},
		{`5`, false},
		{`0,0`, true},
		{`2`, false},
		{`2,1,00C3,0001A2B3,7`, true},
		{`1,00C3,0001A2B3,7`, false},
		{`3,1,"00C3","0001A2B3",7,0,0`, true},
		{`1,"00C3","0001A2B3",7,0,0`, false},
		{`1,,,7`, false},
		{`2,1,,,7`, true},
	} {
		if got := regSolicited(tc.args); got != tc.want {
			t.Errorf("regSolicited(%q) = %v, want %v", tc.args, got, tc.want)
		}
	}
}

func TestFields(t *testing.T) {
	got := Fields(`"REC UNREAD","+33 6,12",,"26/07/01,12:00:00+08"`)
	want := []string{"REC UNREAD", "+33 6,12", "", "26/07/01,12:00:00+08"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Fields = %q, want %q", got, want)
	}
}

func TestDefaultTimeout(t *testing.T) {
	if DefaultTimeout("AT+COPS=?") < 2*time.Minute || DefaultTimeout("AT+CSQ") > 5*time.Second || DefaultTimeout("at+cmgs=\"1\"") < time.Minute {
		t.Errorf("timeouts: COPS=? %v, CSQ %v, CMGS %v", DefaultTimeout("AT+COPS=?"), DefaultTimeout("AT+CSQ"), DefaultTimeout("at+cmgs=\"1\""))
	}
}
