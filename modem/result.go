package modem

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Errors of the engine. Command errors from the modem are *Error (ERROR,
// NO CARRIER, …), *CMEError or *CMSError.
var (
	// ErrTimeout: the modem gave no final result within the command's
	// time.
	ErrTimeout = errors.New("modem: no answer in time")
	// ErrClosed: the connection was closed.
	ErrClosed = errors.New("modem: connection closed")
	// ErrGone: the port went away (unplugged, the modem reset, the
	// device node vanished).
	ErrGone = errors.New("modem: port gone")
)

// Error is a final result other than OK: ERROR, NO CARRIER, BUSY, NO
// ANSWER, NO DIALTONE, or a vendor's "COMMAND NOT SUPPORT".
type Error struct {
	Command string
	Result  string
}

func (e *Error) Error() string { return fmt.Sprintf("modem: %s: %s", e.Command, e.Result) }

// CMEError is "+CME ERROR: <err>" (mobile equipment errors, 3GPP TS
// 27.007 §9.2). With AT+CMEE=1 the modem sends a number, with AT+CMEE=2
// a text; Code is the number in both cases when the text is known, -1
// otherwise.
type CMEError struct {
	Command string
	Code    int
	Text    string
}

func (e *CMEError) Error() string {
	return fmt.Sprintf("modem: %s: +CME ERROR: %s", e.Command, e.describe())
}

func (e *CMEError) describe() string {
	switch {
	case e.Text != "":
		return e.Text
	case cmeText[e.Code] != "":
		return fmt.Sprintf("%d (%s)", e.Code, cmeText[e.Code])
	}
	return strconv.Itoa(e.Code)
}

// CMSError is "+CMS ERROR: <err>" (message service errors, 3GPP TS
// 27.005 §3.2.5), numbered like CMEError.
type CMSError struct {
	Command string
	Code    int
	Text    string
}

func (e *CMSError) Error() string {
	if e.Text != "" {
		return fmt.Sprintf("modem: %s: +CMS ERROR: %s", e.Command, e.Text)
	}
	return fmt.Sprintf("modem: %s: +CMS ERROR: %d", e.Command, e.Code)
}

// CME error codes lapsebox acts on (3GPP TS 27.007 §9.2.1).
const (
	CMEOperationNotAllowed = 3
	CMENotSupported        = 4
	CMESIMNotInserted      = 10
	CMESIMPINRequired      = 11
	CMESIMPUKRequired      = 12
	CMESIMFailure          = 13
	CMESIMBusy             = 14
	CMESIMWrong            = 15
	CMEIncorrectPassword   = 16
	CMENoNetworkService    = 30
	CMENetworkTimeout      = 31
	CMEUnknown             = 100
)

// CMS error codes lapsebox acts on (3GPP TS 27.005 §3.2.5).
const (
	CMSSIMBusy          = 314
	CMSMemoryFull       = 322
	CMSInvalidIndex     = 321
	CMSNoNetworkService = 331
)

var cmeText = map[int]string{
	0: "phone failure", 1: "no connection to phone", 3: "operation not allowed",
	4: "operation not supported", 10: "SIM not inserted", 11: "SIM PIN required",
	12: "SIM PUK required", 13: "SIM failure", 14: "SIM busy", 15: "SIM wrong",
	16: "incorrect password", 17: "SIM PIN2 required", 18: "SIM PUK2 required",
	20: "memory full", 30: "no network service", 31: "network timeout",
	32: "network not allowed - emergency calls only", 100: "unknown",
	107: "GPRS services not allowed", 111: "PLMN not allowed",
	112: "location area not allowed", 113: "roaming not allowed in this location area",
	133: "requested service option not subscribed", 148: "unspecified GPRS error",
	149: "PDP authentication failure",
}

// cmeCodes maps the texts modems send with AT+CMEE=2 to numbers. Vendors
// differ in case and spacing; keys are normalised (lower case, letters
// and digits only), as ModemManager does.
var cmeCodes = func() map[string]int {
	m := map[string]int{}
	for code, text := range cmeText {
		m[normError(text)] = code
	}
	// Spellings seen from Quectel and SIMCom firmware.
	m[normError("SIM not inserted")] = 10
	m[normError("SIM not insert")] = 10
	m[normError("no SIM")] = 10
	m[normError("incorrect PIN")] = 16
	m[normError("PIN incorrect")] = 16
	return m
}()

func normError(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// parseCode reads the argument of +CME ERROR / +CMS ERROR: a number, or a
// text mapped through known (nil for CMS) to a number, -1 if unknown.
func parseCode(arg string, known map[string]int) (int, string) {
	arg = strings.TrimSpace(arg)
	if n, err := strconv.Atoi(arg); err == nil {
		return n, ""
	}
	if code, ok := known[normError(arg)]; ok {
		return code, arg
	}
	return -1, arg
}

// CMECode returns the CME error code of err, or -1 if err is not a
// +CME ERROR.
func CMECode(err error) int {
	var e *CMEError
	if errors.As(err, &e) {
		return e.Code
	}
	return -1
}

// CMSCode returns the CMS error code of err, or -1.
func CMSCode(err error) int {
	var e *CMSError
	if errors.As(err, &e) {
		return e.Code
	}
	return -1
}

// final says whether line is a final result code and, if so, the error it
// means (nil for OK). Numeric results (ATV0) are single digits.
func final(cmd, line string) (done bool, connect bool, err error) {
	switch line {
	case "OK", "0":
		return true, false, nil
	case "ERROR", "4":
		return true, false, &Error{Command: cmd, Result: "ERROR"}
	case "NO CARRIER", "3":
		return true, false, &Error{Command: cmd, Result: "NO CARRIER"}
	case "NO DIALTONE", "6":
		return true, false, &Error{Command: cmd, Result: "NO DIALTONE"}
	case "BUSY", "7":
		return true, false, &Error{Command: cmd, Result: "BUSY"}
	case "NO ANSWER", "8":
		return true, false, &Error{Command: cmd, Result: "NO ANSWER"}
	case "CONNECT", "1":
		return true, true, nil
	case "COMMAND NOT SUPPORT", "NOT SUPPORT":
		return true, false, &Error{Command: cmd, Result: line}
	}
	if rest, ok := strings.CutPrefix(line, "+CME ERROR:"); ok {
		code, text := parseCode(rest, cmeCodes)
		return true, false, &CMEError{Command: cmd, Code: code, Text: text}
	}
	if rest, ok := strings.CutPrefix(line, "+CMS ERROR:"); ok {
		code, text := parseCode(rest, nil)
		return true, false, &CMSError{Command: cmd, Code: code, Text: text}
	}
	if strings.HasPrefix(line, "CONNECT ") {
		return true, true, nil
	}
	return false, false, nil
}
