package modem

import (
	"bytes"
	"unicode/utf8"
)

// MaxLine bounds a line from the modem. A longer run of bytes without a
// line terminator is cut into lines of this size and marked Truncated: a
// port spewing garbage never grows the buffer without bound.
const MaxLine = 4096

// TokenKind says what a Token is.
type TokenKind int

const (
	// Line is one line of text, without its terminator.
	Line TokenKind = iota
	// Prompt is the SMS prompt "> ", which has no terminator.
	Prompt
	// Body is a message body read by length (ExpectBody): it may
	// contain line terminators and lines such as "OK".
	Body
)

// Token is one unit of the modem's output.
type Token struct {
	Kind TokenKind
	Text string
	// Truncated marks a line cut at MaxLine bytes.
	Truncated bool
}

// Lexer splits the byte stream from a modem into tokens. Lines end at CR,
// LF or any run of them (verbose results are framed "\r\n…\r\n", echo
// and numeric results end in a lone CR); empty lines and NUL bytes are
// dropped. A terminator may arrive in a later read than its line.
//
// A Lexer is a plain state machine with no I/O: Write appends bytes, Next
// returns the tokens complete so far. It is not safe for concurrent use.
type Lexer struct {
	buf []byte
	// WantPrompt makes a pending "> " (or ">") with nothing after it a
	// Prompt token; the engine sets it while it waits for the SMS prompt.
	WantPrompt bool
	// body > 0: the next body characters are a Body token.
	body int
	// skipLF: the last terminator was a CR at the end of the data; an LF
	// that arrives next belongs to it.
	skipLF bool
}

// Write appends bytes read from the modem.
func (l *Lexer) Write(p []byte) {
	l.buf = append(l.buf, p...)
}

// ExpectBody makes the next n characters (UTF-8 runes; an invalid byte
// counts as one) a single Body token, whatever they contain. The engine
// calls it after a message header that gives the body's length.
func (l *Lexer) ExpectBody(n int) {
	if n > 0 {
		l.body = min(n, MaxLine)
	}
}

// Buffered returns the number of bytes not yet returned as tokens.
func (l *Lexer) Buffered() int { return len(l.buf) }

// Next returns the next complete token, or false if more bytes are needed.
func (l *Lexer) Next() (Token, bool) {
	if l.skipLF && len(l.buf) > 0 {
		if l.buf[0] == '\n' {
			l.consume(1)
		}
		l.skipLF = false
	}
	if l.body > 0 {
		return l.nextBody()
	}
	// Leading terminators and NULs belong to no line.
	i := 0
	for i < len(l.buf) && (l.buf[i] == '\r' || l.buf[i] == '\n' || l.buf[i] == 0) {
		i++
	}
	l.consume(i)
	if len(l.buf) == 0 {
		return Token{}, false
	}
	end := bytes.IndexAny(l.buf, "\r\n")
	if end < 0 {
		if l.WantPrompt && l.buf[0] == '>' && len(bytes.TrimRight(l.buf[1:], " ")) == 0 {
			l.consume(len(l.buf))
			return Token{Kind: Prompt, Text: "> "}, true
		}
		if len(l.buf) >= MaxLine {
			t := Token{Kind: Line, Text: clean(l.buf[:MaxLine]), Truncated: true}
			l.consume(MaxLine)
			return t, true
		}
		return Token{}, false
	}
	if end > MaxLine {
		t := Token{Kind: Line, Text: clean(l.buf[:MaxLine]), Truncated: true}
		l.consume(MaxLine)
		return t, true
	}
	t := Token{Kind: Line, Text: clean(l.buf[:end])}
	n := end + 1
	if l.buf[end] == '\r' {
		switch {
		case n == len(l.buf):
			l.skipLF = true
		case l.buf[n] == '\n':
			n++ // "\r\n": a body read by length starts after both
		}
	}
	l.consume(n)
	if t.Text == "" { // a line of NULs
		return l.Next()
	}
	return t, true
}

func (l *Lexer) nextBody() (Token, bool) {
	// Count characters; an incomplete rune at the end waits for more.
	n, i := 0, 0
	for i < len(l.buf) && n < l.body {
		r, size := utf8.DecodeRune(l.buf[i:])
		if r == utf8.RuneError && size == 1 && !utf8.FullRune(l.buf[i:]) {
			break
		}
		i += size
		n++
	}
	if n < l.body {
		return Token{}, false
	}
	t := Token{Kind: Body, Text: string(bytes.ReplaceAll(l.buf[:i], []byte{0}, nil))}
	l.consume(i)
	l.body = 0
	return t, true
}

func (l *Lexer) consume(n int) {
	if n == 0 {
		return
	}
	l.buf = l.buf[n:]
	if len(l.buf) == 0 {
		l.buf = l.buf[:0:0] // let a large buffer go
	}
}

// clean drops NUL bytes from a line.
func clean(b []byte) string {
	if bytes.IndexByte(b, 0) < 0 {
		return string(b)
	}
	return string(bytes.ReplaceAll(b, []byte{0}, nil))
}
