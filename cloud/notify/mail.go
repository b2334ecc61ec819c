package notify

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"strings"
	"time"
)

// Mail sends each notice as an e-mail through an SMTP server (the
// submission port, 587), always over STARTTLS: a server that does not
// offer it gets neither the password nor the message.
type Mail struct {
	// Addr is the server, "host:port".
	Addr string
	// User and Password authenticate (AUTH PLAIN, after STARTTLS); no
	// User: no authentication.
	User, Password string
	// From is the sender's address, To the recipients'.
	From string
	To   []string
	// TLSConfig verifies the server (nil: the system's roots, for the
	// host of Addr).
	TLSConfig *tls.Config
	// Timeout bounds one delivery (default 1 minute).
	Timeout time.Duration
}

// NewMail checks the addresses and returns a Mail.
func NewMail(addr, user, password, from string, to []string) (*Mail, error) {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, fmt.Errorf("mail: server %q: want host:port", addr)
	}
	if _, err := mail.ParseAddress(from); err != nil {
		return nil, fmt.Errorf("mail: from %q: %v", from, err)
	}
	if len(to) == 0 {
		return nil, errors.New("mail: no recipients")
	}
	for _, a := range to {
		if _, err := mail.ParseAddress(a); err != nil {
			return nil, fmt.Errorf("mail: to %q: %v", a, err)
		}
	}
	return &Mail{Addr: addr, User: user, Password: password, From: from, To: to}, nil
}

// Send implements Channel.
func (m *Mail) Send(ctx context.Context, n Notice) error {
	host, _, err := net.SplitHostPort(m.Addr)
	if err != nil {
		return fmt.Errorf("mail: server %q: want host:port", m.Addr)
	}
	timeout := m.Timeout
	if timeout <= 0 {
		timeout = time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", m.Addr)
	if err != nil {
		return fmt.Errorf("mail: %w", err)
	}
	deadline, _ := ctx.Deadline()
	conn.SetDeadline(deadline)
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("mail: %s: %w", m.Addr, classify(err))
	}
	defer c.Close()
	if err := m.converse(c, host, n); err != nil {
		return fmt.Errorf("mail: %s: %w", m.Addr, classify(err))
	}
	return nil
}

func (m *Mail) converse(c *smtp.Client, host string, n Notice) error {
	if err := c.Hello("lapsebox-cloudd"); err != nil {
		return err
	}
	if ok, _ := c.Extension("STARTTLS"); !ok {
		return &PermanentError{errors.New("the server offers no STARTTLS: refusing to send over a clear connection")}
	}
	cfg := m.TLSConfig
	if cfg == nil {
		cfg = &tls.Config{}
	}
	cfg = cfg.Clone()
	if cfg.ServerName == "" {
		cfg.ServerName = host
	}
	if err := c.StartTLS(cfg); err != nil {
		return fmt.Errorf("STARTTLS: %w", err)
	}
	if m.User != "" {
		if err := c.Auth(smtp.PlainAuth("", m.User, m.Password, host)); err != nil {
			return fmt.Errorf("AUTH: %w", err)
		}
	}
	if err := c.Mail(envelope(m.From)); err != nil {
		return fmt.Errorf("MAIL FROM: %w", err)
	}
	for _, to := range m.To {
		if err := c.Rcpt(envelope(to)); err != nil {
			return fmt.Errorf("RCPT TO %s: %w", to, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if _, err := w.Write(m.message(n)); err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	return c.Quit()
}

// envelope is the bare address of "Name <a@b>", for MAIL and RCPT.
func envelope(a string) string {
	if p, err := mail.ParseAddress(a); err == nil {
		return p.Address
	}
	return a
}

// message is the e-mail of n: headers and a quoted-printable UTF-8 body.
func (m *Mail) message(n Notice) []byte {
	var b bytes.Buffer
	id := make([]byte, 12)
	rand.Read(id)
	header := func(k, v string) {
		// No header may end early: a value never carries a line break.
		v = strings.NewReplacer("\r", " ", "\n", " ").Replace(v)
		fmt.Fprintf(&b, "%s: %s\r\n", k, v)
	}
	header("From", m.From)
	header("To", strings.Join(m.To, ", "))
	header("Subject", mime.QEncoding.Encode("utf-8", n.Subject()))
	header("Date", n.At.Format(time.RFC1123Z))
	header("Message-ID", fmt.Sprintf("<%x.%s.%s@lapsebox>", id, n.Device, n.Alert))
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=utf-8")
	header("Content-Transfer-Encoding", "quoted-printable")
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	qp.Write([]byte(strings.ReplaceAll(n.Text(), "\n", "\r\n")))
	qp.Close()
	return b.Bytes()
}

// classify marks the SMTP replies retrying will not change (5xx) as
// permanent.
func classify(err error) error {
	var te *textproto.Error
	if errors.As(err, &te) && te.Code >= 500 && !IsPermanent(err) {
		return &PermanentError{err}
	}
	return err
}
