// Package redact removes credentials from text that is about to be shown:
// log lines, error messages, outbox entries and status files. A URL keeps
// its scheme, host and path (what a person needs to find the fault) and
// loses its user information and the values of its query, either of which
// may hold a password or a token; a bearer token in the text is masked. Every place that shows a URL or an error that may carry one
// passes it through String.
package redact

import (
	"net/url"
	"regexp"
)

// Mask replaces what was removed.
const Mask = "REDACTED"

// URL returns u without user information, with every query value and
// the fragment replaced by Mask.
func URL(u *url.URL) string {
	if u == nil {
		return ""
	}
	r := *u
	r.User = nil
	if r.Fragment != "" {
		// A fragment is any text, another URL with its password included,
		// and no server sees it: it helps nobody find a fault.
		r.Fragment, r.RawFragment = Mask, ""
	}
	if r.RawQuery != "" {
		q := r.Query()
		for k := range q {
			q[k] = []string{Mask}
		}
		r.RawQuery = q.Encode()
	}
	return r.String()
}

var (
	urlInText = regexp.MustCompile(`[a-zA-Z][a-zA-Z0-9+.-]*://[^\s"'<>]+`)
	bearer    = regexp.MustCompile(`(?i)\b(bearer\s+)[^\s"',]+`)
)

// String returns s with every URL in it passed through URL (one that does
// not parse becomes "[URL]", as it may still hold a password) and bearer
// tokens masked.
func String(s string) string {
	s = urlInText.ReplaceAllStringFunc(s, func(m string) string {
		u, err := url.Parse(m)
		if err != nil {
			return "[URL]"
		}
		return URL(u)
	})
	return bearer.ReplaceAllString(s, "${1}"+Mask)
}
