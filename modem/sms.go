package modem

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf16"
)

// SMSInit sets up text-mode messaging: text mode, the IRA (ASCII)
// character set, headers with the body's length (so that a body holding a
// line "OK" is read whole), messages stored on the SIM and announced with
// +CMTI.
func SMSInit(ctx context.Context, c *Conn) error {
	for _, cmd := range []string{"AT+CMGF=1", `AT+CSCS="IRA"`, "AT+CSDH=1", `AT+CPMS="SM","SM","SM"`, "AT+CNMI=2,1,0,0,0"} {
		if _, err := c.Command(ctx, cmd); err != nil {
			return fmt.Errorf("modem: setting up SMS: %w", err)
		}
	}
	return nil
}

// numberPattern is a phone number as lapsebox accepts it: international
// (+) or national digits.
var numberPattern = regexp.MustCompile(`^\+?[0-9]{3,20}$`)

// ValidNumber reports whether s is a phone number SendSMS accepts.
func ValidNumber(s string) bool { return numberPattern.MatchString(s) }

// MaxSMS is the length of one text message in the GSM 7-bit alphabet.
const MaxSMS = 160

// SMSText makes text sendable as one IRA message: characters outside
// printable ASCII become '?', line breaks stay, and it is cut to MaxSMS.
func SMSText(text string) string {
	var b strings.Builder
	for _, r := range text {
		switch {
		case r == '\n' || (r >= ' ' && r <= '~'):
			b.WriteRune(r)
		case r == '\r' || r == '\t':
			b.WriteByte(' ')
		default:
			b.WriteByte('?')
		}
		if b.Len() >= MaxSMS {
			break
		}
	}
	return b.String()
}

// SendSMS sends one text message and returns the network's message
// reference.
func SendSMS(ctx context.Context, c *Conn, number, text string) (int, error) {
	if !ValidNumber(number) {
		return 0, fmt.Errorf("modem: %q is not a phone number", number)
	}
	r, err := c.Do(ctx, Request{Command: `AT+CMGS="` + number + `"`, Body: SMSText(text)})
	if err != nil {
		return 0, err
	}
	v, _ := r.Value("+CMGS")
	return atoi(v), nil
}

// Message is a received message.
type Message struct {
	Index  int
	From   string
	Time   time.Time // the service centre's time stamp; zero if unreadable
	Text   string
	Unread bool
}

// ErrNoMessage: the storage slot is empty.
var ErrNoMessage = errors.New("modem: no message at this index")

// ReadSMS reads the message at index.
func ReadSMS(ctx context.Context, c *Conn, index int) (Message, error) {
	r, err := c.Command(ctx, fmt.Sprintf("AT+CMGR=%d", index))
	if CMSCode(err) == CMSInvalidIndex {
		return Message{}, ErrNoMessage
	}
	if err != nil {
		return Message{}, err
	}
	if len(r.Lines) == 0 {
		return Message{}, ErrNoMessage
	}
	name, args := splitURC(r.Lines[0])
	if name != "+CMGR" {
		return Message{}, fmt.Errorf("modem: AT+CMGR=%d answered %.80q", index, r.Lines[0])
	}
	m, err := ParseMessageHeader(args)
	if err != nil {
		return Message{}, err
	}
	m.Index = index
	if len(r.Lines) > 1 {
		m.Text = r.Lines[1]
		f := Fields(args)
		if len(f) == 11 && !DCSIs7Bit(atoi(f[7])) {
			m.Text = decodeHexBody(m.Text, atoi(f[7]))
		}
	}
	return m, nil
}

// ParseMessageHeader reads the arguments of a +CMGR header:
// <stat>,<oa>,[<alpha>],<scts>[,…].
func ParseMessageHeader(args string) (Message, error) {
	f := Fields(args)
	if len(f) < 4 {
		return Message{}, fmt.Errorf("modem: message header %.80q", args)
	}
	m := Message{From: f[1], Unread: f[0] == "REC UNREAD"}
	m.Time, _ = ParseSCTS(f[3])
	return m, nil
}

// ParseSCTS reads a service centre time stamp "yy/MM/dd,hh:mm:ss±zz"
// (the zone in quarter hours).
func ParseSCTS(s string) (time.Time, error) {
	if len(s) < 20 {
		return time.Time{}, fmt.Errorf("modem: time stamp %q", s)
	}
	q := atoi(s[18:])
	if q < 0 {
		return time.Time{}, fmt.Errorf("modem: time stamp %q", s)
	}
	off := q * 15 * 60
	if s[17] == '-' {
		off = -off
	}
	return time.ParseInLocation("06/01/02,15:04:05", s[:17], time.FixedZone("", off))
}

// decodeHexBody decodes the hex text mode shows for 8-bit and UCS-2
// messages; on failure the hex is kept.
func decodeHexBody(h string, dcs int) string {
	b, err := hex.DecodeString(strings.TrimSpace(h))
	if err != nil {
		return h
	}
	if dcs&0x0C == 0x08 && len(b)%2 == 0 { // UCS-2
		u := make([]uint16, len(b)/2)
		for i := range u {
			u[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
		}
		return string(utf16.Decode(u))
	}
	return string(b)
}

// DeleteSMS deletes the message at index.
func DeleteSMS(ctx context.Context, c *Conn, index int) error {
	_, err := c.Command(ctx, fmt.Sprintf("AT+CMGD=%d", index))
	return err
}

// DeleteAllSMS empties the message storage.
func DeleteAllSMS(ctx context.Context, c *Conn) error {
	_, err := c.Command(ctx, "AT+CMGD=0,4")
	return err
}

// SMSStorage returns the messages stored and the storage's size.
func SMSStorage(ctx context.Context, c *Conn) (used, total int, err error) {
	r, err := c.Command(ctx, "AT+CPMS?")
	if err != nil {
		return 0, 0, err
	}
	v, _ := r.Value("+CPMS")
	f := Fields(v)
	if len(f) < 3 {
		return 0, 0, fmt.Errorf("modem: AT+CPMS? answered %q", r.Lines)
	}
	used, total = atoi(f[1]), atoi(f[2])
	if used < 0 || total <= 0 {
		return 0, 0, fmt.Errorf("modem: AT+CPMS? answered %q", r.Lines)
	}
	return used, total, nil
}
