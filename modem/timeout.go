package modem

import (
	"strings"
	"time"
)

// timeouts are the longest answers the modems' manuals give ("maximum
// response time" in Quectel's and SIMCom's AT manuals), with a margin. A
// network scan takes minutes; a signal query a second.
var timeouts = []struct {
	prefix string // upper case, after "AT"
	d      time.Duration
}{
	{"+COPS=?", 180 * time.Second},
	{"+COPS=", 180 * time.Second},
	{"+CGATT", 140 * time.Second},
	{"+CGACT", 150 * time.Second},
	{"+QNETDEVCTL", 150 * time.Second},
	{"+CMGS", 120 * time.Second},
	{"+CMGD=", 30 * time.Second}, // deleting every message of a full storage
	{"+CFUN", 15 * time.Second},
	{"+CPIN=", 10 * time.Second},
	{"+CMGR", 10 * time.Second},
	{"+CMGL", 30 * time.Second},
	{"+CPMS", 10 * time.Second},
	{"+CSQ", 3 * time.Second},
	{"+CESQ", 3 * time.Second},
	{"+QCSQ", 3 * time.Second},
}

// DefaultTimeout is the time Do allows cmd when its Request names none.
func DefaultTimeout(cmd string) time.Duration {
	s := strings.TrimPrefix(strings.ToUpper(cmd), "AT")
	for _, t := range timeouts {
		if strings.HasPrefix(s, t.prefix) {
			return t.d
		}
	}
	return 5 * time.Second
}
