package initconf

import (
	"strings"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	c := &Config{BuildTimestamp: "2026-12-03T21:00:00Z", Services: []Service{
		{Path: "/gokrazy/dhcp"},
		{Path: "/user/statusd", Args: []string{"-listen=:8080"}, Env: []string{"TZ=UTC"}},
		{Path: "/user/camerad", DontStart: true},
	}}
	a, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse(a)
	if err != nil {
		t.Fatal(err)
	}
	b, err := back.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if string(a) != string(b) {
		t.Errorf("round trip changed the bytes:\n%s\n%s", a, b)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ json, want string }{
		{`{"services": []}`, "no build timestamp"},
		{`{"buildTimestamp": "x", "services": [{"path": "user/a"}]}`, `path "user/a" is not absolute`},
		{`{"buildTimestamp": "x", "services": [{"path": "/a"}, {"path": "/a"}]}`, "/a listed twice"},
		{`{"buildTimestamp": "x", "services": [{"path": "/a", "dontStart": true, "waitForClock": true}]}`, "both dontStart and waitForClock"},
		{`{"buildTimestamp": "x", "services": [{"path": "/a", "env": ["NOEQUALS"]}]}`, `"NOEQUALS" is not KEY=value`},
		{`{"buildTimestamp": "x", "services": [{"path": "/a", "flags": ["-v"]}]}`, `unknown field "flags"`},
		{`{"buildTimestamp": "x"} {}`, "data after the configuration"},
		{`{"buildTimestamp": `, "unexpected EOF"},
	} {
		_, err := Parse([]byte(tc.json))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%s): %v, want an error with %q", tc.json, err, tc.want)
		}
	}
}
