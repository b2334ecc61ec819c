// Package operatortest is a browser without a browser for tests of the
// operators' pages: a client with cookies that shows redirects rather
// than following them, and the login.
package operatortest

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// Browser returns a client with its own cookies over transport (nil:
// http.DefaultTransport) that does not follow redirects.
func Browser(transport http.RoundTripper) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Transport: transport, Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// Get gets u and returns the response and its body, read.
func Get(tb testing.TB, c *http.Client, u string) (*http.Response, string) {
	tb.Helper()
	resp, err := c.Get(u)
	if err != nil {
		tb.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// Post posts form to u with the headers hdr (name, value, …) and
// returns the response and its body, read.
func Post(tb testing.TB, c *http.Client, u string, form url.Values, hdr ...string) (*http.Response, string) {
	tb.Helper()
	req, _ := http.NewRequest("POST", u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// CSRF returns the CSRF token of the first form of page ("" if none).
func CSRF(page string) string {
	if m := csrfField.FindStringSubmatch(page); m != nil {
		return m[1]
	}
	return ""
}

// Login fills and posts the login form of the server at base, as a
// browser would, and returns the answer.
func Login(tb testing.TB, c *http.Client, base, name, password string) *http.Response {
	tb.Helper()
	_, page := Get(tb, c, base+"/login")
	tok := CSRF(page)
	if tok == "" {
		tb.Fatalf("no CSRF token on the login page:\n%s", page)
	}
	resp, _ := Post(tb, c, base+"/login", url.Values{"csrf": {tok}, "name": {name}, "password": {password}})
	return resp
}
