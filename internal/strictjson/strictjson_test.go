package strictjson

import (
	"strings"
	"testing"
)

type config struct {
	Name  string
	Count int
	Inner struct {
		Flag bool
	}
}

func TestUnmarshalErrorsNameFieldAndLine(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
	}{
		{"{\n \"Name\": \"x\",\n \"Bogus\": 1\n}", `x.json: line 3: unknown field "Bogus"`},
		{"{\n \"Inner\": {\n  \"Flga\": true}}", `x.json: line 3: unknown field "Flga"`},
		{"{\n\n \"Count\": \"three\"\n}", `x.json: line 3: field "Count": cannot use a JSON string as int`},
		{"{\n \"Name\": \"x\",,\n}", `x.json: line 2: invalid character ','`},
		{"{\"Name\": \"x\"", `x.json: line 1: unexpected end of file`},
		{"", `x.json: empty file`},
		{"{}\n{}", `x.json: line 2: unexpected data after the configuration`},
	} {
		var c config
		err := Unmarshal("x.json", []byte(tc.in), &c)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("Unmarshal(%q) = %v, want prefix %q", tc.in, err, tc.want)
		}
	}
}

func TestUnmarshalAcceptsValid(t *testing.T) {
	var c config
	if err := Unmarshal("x.json", []byte(`{"Name":"a","Count":2,"Inner":{"Flag":true}}`), &c); err != nil {
		t.Fatal(err)
	}
	if c.Name != "a" || c.Count != 2 || !c.Inner.Flag {
		t.Errorf("decoded %+v", c)
	}
}

func FuzzUnmarshal(f *testing.F) {
	f.Add([]byte(`{"Name":"a","Count":2}`))
	f.Add([]byte("{\n\"Bogus\":1}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var c config
		_ = Unmarshal("fuzz.json", data, &c) // must not panic
	})
}
