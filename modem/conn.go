package modem

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Port is the serial edge: the byte stream of a modem's AT interface.
// OpenSerial is the real one. Read blocks until bytes arrive or the port
// fails; it returns ErrGone when the device went away and ErrClosed after
// Close.
type Port interface {
	io.ReadWriter
	Close() error
}

// Options tune a Conn.
type Options struct {
	// Logf receives what the engine survived: garbage, unknown codes,
	// late answers, dropped URCs. At most a few lines a minute are
	// passed on, then a count of those held back. Nil discards them.
	Logf func(format string, args ...any)
	// URCBuffer is how many URCs wait for the reader of URCs before new
	// ones are dropped (and counted); default 64.
	URCBuffer int
}

// Conn is an AT command connection to one modem port. Commands run one at
// a time; a goroutine reads the port all along, so URCs arrive between
// commands too. Close ends it; after the port fails, every call returns
// the failure (ErrGone: rediscover the port and make a new Conn).
type Conn struct {
	port Port
	log  *limitedLog
	urcs chan URC

	cmdMu sync.Mutex // one command at a time
	stale bool       // a command timed out: its answer may still come

	mu      sync.Mutex // guards the fields below; held by the reader while it classifies
	lex     Lexer
	pending *request
	cmtURC  *URC // a +CMT header waiting for its body line
	err     error

	dropped   atomic.Int64
	done      chan struct{}
	closeOnce sync.Once
}

// New starts a Conn on port.
func New(port Port, opts Options) *Conn {
	if opts.URCBuffer <= 0 {
		opts.URCBuffer = 64
	}
	c := &Conn{
		port: port,
		log:  newLimitedLog(opts.Logf, 10, time.Minute),
		urcs: make(chan URC, opts.URCBuffer),
		done: make(chan struct{}),
	}
	go c.readLoop()
	return c
}

// URCs delivers unsolicited result codes in the order they arrived. It
// is never closed; select on Done as well.
func (c *Conn) URCs() <-chan URC { return c.urcs }

// DroppedURCs counts URCs dropped because nobody read them in time.
func (c *Conn) DroppedURCs() int64 { return c.dropped.Load() }

// Done is closed when the connection ends; Err then says why.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err returns why the connection ended (ErrClosed, ErrGone, …), or nil
// while it lasts.
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Close ends the connection and closes the port.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		c.fail(ErrClosed)
		c.port.Close()
	})
	<-c.done
	return nil
}

// Request is one command.
type Request struct {
	// Command is the command line without its terminator ("AT+CSQ").
	Command string
	// Timeout bounds the wait for the final result; zero takes
	// DefaultTimeout(Command).
	Timeout time.Duration
	// Body, when set, is sent after the "> " prompt and ended with
	// Ctrl-Z (AT+CMGS).
	Body string
	// Prefixes are information prefixes the command answers with, beyond
	// the one named after the command ("+CSQ:" for AT+CSQ): AT+CICCID
	// answers "+ICCID:". A command's own prefix is information even when
	// the same code also comes unsolicited.
	Prefixes []string
	// Secret hides the command's arguments in errors and logs
	// (AT+CPIN="…").
	Secret bool
}

// Response is what a command answered.
type Response struct {
	// Lines are the information lines in order, without echo or URCs.
	// A message body (AT+CMGR) is one entry after its header, line
	// terminators included.
	Lines []string
	// Connect is set when the final result was CONNECT.
	Connect bool
}

// Value returns the arguments of the first line starting with prefix
// ("+CSQ") followed by a colon.
func (r *Response) Value(prefix string) (string, bool) {
	for _, l := range r.Lines {
		if name, args := splitURC(l); name == prefix {
			return args, true
		}
	}
	return "", false
}

// Values returns the arguments of every line with prefix.
func (r *Response) Values(prefix string) []string {
	var out []string
	for _, l := range r.Lines {
		if name, args := splitURC(l); name == prefix {
			out = append(out, args)
		}
	}
	return out
}

// request is the command in flight.
type request struct {
	cmd      string // as written
	display  string // for errors and logs
	prefixes []string
	lines    []string
	result   chan error // buffered; receives the final result once
	connect  bool
	prompt   chan struct{}
	waitPr   bool
	// need: discard final results until an information line with this
	// prefix arrived (resynchronisation after a timeout).
	need     string
	seenNeed bool
	finished bool
}

func (r *request) claims(name string) bool {
	for _, p := range r.prefixes {
		if p == name {
			return true
		}
	}
	return false
}

// Command sends cmd with its default timeout and returns its response.
func (c *Conn) Command(ctx context.Context, cmd string) (*Response, error) {
	return c.Do(ctx, Request{Command: cmd})
}

// Do runs one request. Errors from the modem are *Error, *CMEError or
// *CMSError; ErrTimeout when no final result came in time (the next
// command first resynchronises with the modem); ErrGone or ErrClosed when
// the connection ended.
func (c *Conn) Do(ctx context.Context, req Request) (*Response, error) {
	c.cmdMu.Lock()
	defer c.cmdMu.Unlock()
	if c.stale {
		if _, err := c.do(ctx, Request{Command: "AT+CMEE?", Timeout: 3 * time.Second}, "+CMEE"); err != nil {
			return nil, fmt.Errorf("modem: resynchronising before %s: %w", display(req), err)
		}
		c.stale = false
	}
	return c.do(ctx, req, "")
}

func display(req Request) string {
	if req.Secret {
		if i := strings.IndexAny(req.Command, "=?"); i >= 0 {
			return req.Command[:i+1] + "…"
		}
	}
	return req.Command
}

func (c *Conn) do(ctx context.Context, req Request, need string) (*Response, error) {
	r := &request{
		cmd:     req.Command,
		display: display(req),
		result:  make(chan error, 1),
		prompt:  make(chan struct{}, 1),
		waitPr:  req.Body != "",
		need:    need,
	}
	r.prefixes = append([]string{commandPrefix(req.Command)}, req.Prefixes...)
	for i, p := range r.prefixes {
		r.prefixes[i] = strings.TrimSuffix(p, ":")
	}
	timeout := req.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout(req.Command)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return nil, fmt.Errorf("modem: %s: %w", r.display, err)
	}
	c.pending = r
	c.lex.WantPrompt = r.waitPr
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		if c.pending == r {
			c.pending = nil
			c.lex.WantPrompt = false
		}
		c.mu.Unlock()
	}()

	if err := c.write(req.Command + "\r"); err != nil {
		return nil, fmt.Errorf("modem: %s: %w", r.display, err)
	}
	if req.Body != "" {
		select {
		case <-r.prompt:
			if err := c.write(req.Body + "\x1a"); err != nil {
				return nil, fmt.Errorf("modem: %s: %w", r.display, err)
			}
		case err := <-r.result:
			// The modem refused before the prompt (+CMS ERROR).
			return c.finish(r, err)
		case <-ctx.Done():
			c.write("\x1b") // abandon the message: ESC
			return nil, c.timedOut(ctx, r)
		case <-c.done:
			return nil, fmt.Errorf("modem: %s: %w", r.display, c.Err())
		}
	}
	select {
	case err := <-r.result:
		return c.finish(r, err)
	case <-ctx.Done():
		return nil, c.timedOut(ctx, r)
	case <-c.done:
		return nil, fmt.Errorf("modem: %s: %w", r.display, c.Err())
	}
}

func (c *Conn) finish(r *request, err error) (*Response, error) {
	c.mu.Lock()
	resp := &Response{Lines: r.lines, Connect: r.connect}
	c.mu.Unlock()
	if err != nil {
		return resp, err
	}
	return resp, nil
}

func (c *Conn) timedOut(ctx context.Context, r *request) error {
	c.stale = true
	if err := ctx.Err(); errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("modem: %s: %w", r.display, ErrTimeout)
	}
	return fmt.Errorf("modem: %s: %w", r.display, ctx.Err())
}

func (c *Conn) write(s string) error {
	_, err := io.WriteString(c.port, s)
	if err != nil {
		if !errors.Is(err, ErrClosed) && !errors.Is(err, ErrGone) {
			err = fmt.Errorf("%w: %v", ErrGone, err)
		}
		c.fail(err)
	}
	return err
}

// commandPrefix returns the information prefix named after a command:
// "AT+CSQ" → "+CSQ", "AT+CPIN?" → "+CPIN", "ATI" → "".
func commandPrefix(cmd string) string {
	s := strings.ToUpper(cmd)
	s, ok := strings.CutPrefix(s, "AT")
	if !ok || s == "" || (s[0] != '+' && s[0] != '^' && s[0] != '$' && s[0] != '*') {
		return ""
	}
	if i := strings.IndexAny(s, "=?;"); i >= 0 {
		s = s[:i]
	}
	return s
}

func (c *Conn) readLoop() {
	defer close(c.done)
	buf := make([]byte, 4096)
	for {
		n, err := c.port.Read(buf)
		if n > 0 {
			c.feed(buf[:n])
		}
		if err != nil {
			if !errors.Is(err, ErrClosed) && !errors.Is(err, ErrGone) {
				err = fmt.Errorf("%w: %v", ErrGone, err)
			}
			c.fail(err)
			return
		}
		c.mu.Lock()
		failed := c.err != nil
		c.mu.Unlock()
		if failed {
			return
		}
	}
}

// fail records why the connection ends, once.
func (c *Conn) fail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		c.err = err
	}
}

// feed classifies what the port delivered.
func (c *Conn) feed(p []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lex.Write(p)
	for {
		t, ok := c.lex.Next()
		if !ok {
			return
		}
		c.token(t)
	}
}

// token handles one token; c.mu is held.
func (c *Conn) token(t Token) {
	r := c.pending
	if r != nil && r.finished {
		r = nil
	}
	if t.Truncated {
		c.log.printf("modem: line longer than %d bytes cut: %.60q…", MaxLine, t.Text)
	}
	switch t.Kind {
	case Prompt:
		if r != nil && r.waitPr {
			r.waitPr = false
			c.lex.WantPrompt = false
			r.prompt <- struct{}{}
			return
		}
		c.log.printf("modem: unexpected prompt")
		return
	case Body:
		switch {
		case c.cmtURC != nil:
			u := *c.cmtURC
			u.Body = t.Text
			c.cmtURC = nil
			c.deliver(u)
		case r != nil:
			r.lines = append(r.lines, t.Text)
		default:
			c.log.printf("modem: message body nobody asked for (%d bytes)", len(t.Text))
		}
		return
	}
	line := t.Text
	if c.cmtURC != nil {
		// A +CMT header without a length: its body is the next line.
		u := *c.cmtURC
		u.Body = line
		c.cmtURC = nil
		c.deliver(u)
		return
	}
	if r != nil {
		if strings.EqualFold(strings.TrimSpace(line), r.cmd) {
			return // echo (ATE1, and always after a modem reset)
		}
		if done, connect, err := final(r.display, line); done {
			if r.need != "" && !r.seenNeed {
				c.log.printf("modem: late result %q of an earlier command discarded", line)
				return
			}
			r.finished = true
			r.connect = connect
			r.result <- err
			return
		}
		name, args := splitURC(line)
		if knownURCs[name] && (!r.claims(name) || (isRegistration(name) && !regSolicited(args))) {
			c.urc(name, args, line)
			return
		}
		if r.need != "" && name == r.need {
			r.seenNeed = true
		}
		r.lines = append(r.lines, line)
		if n := messageBody(name, args); n > 0 {
			c.lex.ExpectBody(n)
		} else if n == 0 {
			r.lines = append(r.lines, "")
		}
		return
	}
	if done, _, _ := final("", line); done && line != "NO CARRIER" {
		c.log.printf("modem: result %q with no command waiting (a late answer) discarded", line)
		return
	}
	name, args := splitURC(line)
	c.urc(name, args, line)
}

// urc handles an unsolicited line; c.mu is held.
func (c *Conn) urc(name, args, line string) {
	u := URC{Name: name, Args: args, Line: line, Known: knownURCs[name]}
	if !u.Known {
		c.log.printf("modem: unknown unsolicited line %.80q", line)
	}
	if name == "+CMT" {
		if n := messageBody(name, args); n > 0 {
			c.cmtURC = &u
			c.lex.ExpectBody(n)
			return
		} else if n < 0 {
			c.cmtURC = &u
			return
		}
	}
	c.deliver(u)
}

func (c *Conn) deliver(u URC) {
	select {
	case c.urcs <- u:
	default:
		if c.dropped.Add(1)%100 == 1 {
			c.log.printf("modem: URCs arrive faster than they are read; dropped %d so far (latest %.60q)", c.dropped.Load(), u.Line)
		}
	}
}

// limitedLog passes at most n lines per period to logf, then counts.
type limitedLog struct {
	logf       func(string, ...any)
	n          int
	period     time.Duration
	mu         sync.Mutex
	start      time.Time
	count      int
	suppressed int
}

func newLimitedLog(logf func(string, ...any), n int, period time.Duration) *limitedLog {
	return &limitedLog{logf: logf, n: n, period: period}
}

func (l *limitedLog) printf(format string, args ...any) {
	if l.logf == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if now.Sub(l.start) > l.period {
		if l.suppressed > 0 {
			l.logf("modem: %d more such lines held back", l.suppressed)
		}
		l.start, l.count, l.suppressed = now, 0, 0
	}
	if l.count >= l.n {
		l.suppressed++
		return
	}
	l.count++
	l.logf(format, args...)
}
