package modem

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Vendor selects the vendor's own commands.
type Vendor int

const (
	// Generic modems get 3GPP TS 27.007/27.005 commands only.
	Generic Vendor = iota
	// Quectel: AT+QCCID, AT+QPINC, AT+QCSQ, AT+QCFG="usbnet", AT+QICSGP.
	Quectel
	// SIMCom: AT+CICCID, AT+SPIC, AT+CUSBPIDSWITCH.
	SIMCom
)

func (v Vendor) String() string { return [...]string{"generic", "Quectel", "SIMCom"}[v] }

// VendorOf guesses the vendor from the USB vendor ID and the
// manufacturer string (AT+CGMI).
func VendorOf(usbVendor, manufacturer string) Vendor {
	m := strings.ToLower(manufacturer)
	switch {
	case usbVendor == "2c7c" || strings.Contains(m, "quectel"):
		return Quectel
	case usbVendor == "1e0e" || strings.Contains(m, "simcom") || strings.Contains(m, "simtech"):
		return SIMCom
	}
	return Generic
}

// WaitReady sends AT until the modem answers or within has passed: a
// modem whose port just appeared may still be booting, and ignores
// commands until it is done.
func WaitReady(ctx context.Context, c *Conn, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		_, err := c.Do(ctx, Request{Command: "AT", Timeout: 2 * time.Second})
		if err == nil || errors.Is(err, ErrGone) || errors.Is(err, ErrClosed) || ctx.Err() != nil || time.Now().After(deadline) {
			return err
		}
	}
}

// Init makes the modem answer the way the engine reads best: no echo,
// verbose results, errors as text. Echo comes back after every reset;
// call Init after every (re)open.
func Init(ctx context.Context, c *Conn) error {
	for _, cmd := range []string{"ATE0", "ATV1", "AT+CMEE=2"} {
		if _, err := c.Command(ctx, cmd); err != nil {
			return fmt.Errorf("modem: initialising: %w", err)
		}
	}
	return nil
}

// Identity is what the modem and its SIM say they are.
type Identity struct {
	Manufacturer, Model, Revision string
	IMEI                          string
	ICCID                         string // the SIM's serial, readable without the PIN
	IMSI                          string // needs the PIN
}

// ReadIdentity reads the modem's maker, model, firmware and IMEI, and the
// SIM's ICCID when a SIM answers. The IMSI is read by ReadIMSI once the
// SIM is unlocked.
func ReadIdentity(ctx context.Context, c *Conn, v Vendor) (Identity, error) {
	var id Identity
	for _, q := range []struct {
		cmd string
		dst *string
	}{{"AT+CGMI", &id.Manufacturer}, {"AT+CGMM", &id.Model}, {"AT+CGMR", &id.Revision}, {"AT+CGSN", &id.IMEI}} {
		r, err := c.Command(ctx, q.cmd)
		if err != nil {
			return id, err
		}
		*q.dst = bareValue(r, commandPrefix(q.cmd))
	}
	id.ICCID, _ = ReadICCID(ctx, c, v)
	return id, nil
}

// bareValue returns an answer given as a bare line ("867698041234567")
// or, by some firmware, prefixed ("+CGMR: LE20B04SIM7600M22").
func bareValue(r *Response, prefix string) string {
	if v, ok := r.Value(prefix); ok {
		return strings.Trim(v, `"`)
	}
	if len(r.Lines) > 0 {
		return strings.TrimSpace(r.Lines[len(r.Lines)-1])
	}
	return ""
}

// ReadICCID reads the SIM's serial number with the vendor's command.
func ReadICCID(ctx context.Context, c *Conn, v Vendor) (string, error) {
	req := Request{Command: "AT+CCID", Prefixes: []string{"+CCID", "+ICCID"}}
	switch v {
	case Quectel:
		req = Request{Command: "AT+QCCID"}
	case SIMCom:
		req = Request{Command: "AT+CICCID", Prefixes: []string{"+ICCID"}}
	}
	r, err := c.Do(ctx, req)
	if err != nil {
		return "", err
	}
	for _, p := range append([]string{commandPrefix(req.Command)}, req.Prefixes...) {
		if val, ok := r.Value(p); ok {
			return strings.Trim(val, `"`), nil
		}
	}
	return bareValue(r, ""), nil
}

// ReadIMSI reads the subscriber identity (needs an unlocked SIM).
func ReadIMSI(ctx context.Context, c *Conn) (string, error) {
	r, err := c.Command(ctx, "AT+CIMI")
	if err != nil {
		return "", err
	}
	return bareValue(r, "+CIMI"), nil
}

// SIMState is what AT+CPIN? says of the SIM.
type SIMState string

// SIM states. Other codes AT+CPIN? may answer (PH-SIM PIN, SIM PIN2, …)
// are kept as the modem spells them.
const (
	SIMReady   SIMState = "READY"
	SIMPIN     SIMState = "SIM PIN"
	SIMPUK     SIMState = "SIM PUK"
	SIMAbsent  SIMState = "NOT INSERTED"
	SIMBusy    SIMState = "BUSY"
	SIMFailure SIMState = "FAILURE"
)

// ReadSIM asks the SIM's state. "SIM busy" (the SIM is still starting)
// and "not inserted" are states, not errors.
func ReadSIM(ctx context.Context, c *Conn) (SIMState, error) {
	r, err := c.Command(ctx, "AT+CPIN?")
	switch CMECode(err) {
	case CMESIMNotInserted:
		return SIMAbsent, nil
	case CMESIMBusy:
		return SIMBusy, nil
	case CMESIMFailure, CMESIMWrong:
		return SIMFailure, nil
	case CMESIMPUKRequired:
		return SIMPUK, nil
	}
	if err != nil {
		return "", err
	}
	v, ok := r.Value("+CPIN")
	if !ok {
		return "", fmt.Errorf("modem: AT+CPIN? answered %q", r.Lines)
	}
	return SIMState(strings.ToUpper(strings.TrimSpace(v))), nil
}

// PINRetries returns the PIN and PUK attempts left, when the vendor has a
// command for it (ok false otherwise).
func PINRetries(ctx context.Context, c *Conn, v Vendor) (pin, puk int, ok bool) {
	switch v {
	case Quectel:
		r, err := c.Command(ctx, `AT+QPINC="SC"`)
		if err != nil {
			return 0, 0, false
		}
		for _, val := range r.Values("+QPINC") {
			if f := Fields(val); len(f) == 3 && f[0] == "SC" {
				return atoi(f[1]), atoi(f[2]), true
			}
		}
	case SIMCom:
		r, err := c.Command(ctx, "AT+SPIC")
		if err != nil {
			return 0, 0, false
		}
		if val, found := r.Value("+SPIC"); found {
			if f := Fields(val); len(f) >= 2 {
				return atoi(f[0]), atoi(f[1]), true
			}
		}
	}
	return 0, 0, false
}

// ErrWrongPIN is returned by EnterPIN when the SIM refused the PIN.
var ErrWrongPIN = errors.New("modem: the SIM refused the PIN")

// EnterPIN sends the PIN once. A refusal is ErrWrongPIN; the PIN never
// appears in errors or logs.
func EnterPIN(ctx context.Context, c *Conn, pin string) error {
	for _, r := range pin {
		if r < '0' || r > '9' {
			return errors.New("modem: a PIN is digits only")
		}
	}
	_, err := c.Do(ctx, Request{Command: `AT+CPIN="` + pin + `"`, Secret: true})
	switch CMECode(err) {
	case CMEIncorrectPassword, CMESIMPUKRequired:
		return fmt.Errorf("%w: %v", ErrWrongPIN, err)
	}
	return err
}

func atoi(s string) int {
	n := 0
	for _, r := range strings.TrimSpace(s) {
		if r < '0' || r > '9' {
			return -1
		}
		n = n*10 + int(r-'0')
	}
	if s == "" {
		return -1
	}
	return n
}
