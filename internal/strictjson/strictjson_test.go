package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
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

type spec struct {
	Rotate  int      `json:"rotate"`
	Outputs []output `json:"outputs"`
	Extra   json.RawMessage
	Labels  map[string]output `json:"labels,omitempty"`
}

type output struct {
	Name       string `json:"name"`
	TimeFormat string `json:"time_format,omitempty"`
}

// TestUnmarshalKeysExactly checks that keys must be spelled as the JSON
// names, with every bad key reported at once and the right spelling
// suggested: encoding/json alone would take "Outputs" for "outputs".
func TestUnmarshalKeysExactly(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{`{"rotate": 90, "outputs": [{"name": "a", "time_format": "15:04"}], "Extra": {"Anything": [1]}, "labels": {"Free Key": {"name": "b"}}}`, nil},
		{"{\n \"Outputs\": [\n  {\"Name\": \"a\", \"TimeFormat\": \"x\"}]}", []string{
			`s.json: line 2: "Outputs": use "outputs"`,
			`s.json: line 3: "Name": use "name"`,
			`s.json: line 3: "TimeFormat": use "time_format"`,
		}},
		{"{\"outputs\": [],\n \"rotat\": 1,\n \"ROTATE\": 2}", []string{
			`s.json: line 2: unknown field "rotat"`,
			`s.json: line 3: "ROTATE": use "rotate"`,
		}},
		{`{"labels": {"x": {"Time-Format": "y"}}}`, []string{`s.json: line 1: "Time-Format": use "time_format"`}},
		{`{"extra": null}`, []string{`s.json: line 1: "extra": use "Extra"`}},
		// A shape that does not fit the type is the decoder's to report.
		{`{"outputs": {"name": 1}}`, []string{`s.json: line 1: field "outputs": cannot use a JSON object`}},
	} {
		var s spec
		err := Unmarshal("s.json", []byte(tc.in), &s)
		if tc.want == nil {
			if err != nil {
				t.Errorf("Unmarshal(%s): %v", tc.in, err)
			}
			continue
		}
		errs := Errors(err)
		if len(errs) != len(tc.want) {
			t.Errorf("Unmarshal(%s): %d errors, want %d:\n%v", tc.in, len(errs), len(tc.want), err)
			continue
		}
		for i, e := range errs {
			if !strings.HasPrefix(e.Error(), tc.want[i]) {
				t.Errorf("Unmarshal(%s): error %d = %q, want prefix %q", tc.in, i, e, tc.want[i])
			}
			if e.Line < 1 || e.Offset < 0 || e.Offset > int64(len(tc.in)) || Line([]byte(tc.in), e.Offset) != e.Line {
				t.Errorf("Unmarshal(%s): error %q at line %d, offset %d", tc.in, e, e.Line, e.Offset)
			}
		}
	}
}

func TestErrorsFlattens(t *testing.T) {
	a := &Error{Line: 2, Err: errors.New("a")}
	b := &Error{Field: "x.y", Err: errors.New("b")}
	plain := errors.New("plain")
	wrapped := fmt.Errorf("context: %w", errors.Join(a, b))
	got := Errors(errors.Join(wrapped, plain, fmt.Errorf("alone: %w", plain)))
	if len(got) != 4 || got[0] != a || got[1] != b || got[2].Err != plain || got[3].Error() != "alone: plain" {
		t.Errorf("Errors = %q", got)
	}
	if Errors(nil) != nil {
		t.Error("Errors(nil) is not nil")
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

// FuzzUnmarshal: every error is located (file, and a line the input has,
// at its offset); what Unmarshal accepts, encoding/json accepts too, to
// the same value, and that value written back reads the same.
func FuzzUnmarshal(f *testing.F) {
	f.Add([]byte(`{"Name":"a","Count":2}`))
	f.Add([]byte("{\n\"Bogus\":1}"))
	f.Add([]byte(`{"outputs": [{"Name": "a"}], "Extra": [{"x": 1}], "labels": {"k": {"TimeFormat": 1}}}`))
	f.Add([]byte(`{"Inner":{"Flag":true}} {}`))
	f.Add([]byte(`{"name":"case","COUNT":1e2}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		lines := 1 + bytes.Count(data, []byte("\n"))
		var s spec
		for _, e := range Errors(Unmarshal("fuzz.json", data, &s)) {
			if e.Line > 0 && Line(data, e.Offset) != e.Line {
				t.Fatalf("%q: line %d, offset %d", e, e.Line, e.Offset)
			}
		}
		var c config
		err := Unmarshal("fuzz.json", data, &c)
		if err != nil {
			for _, e := range Errors(err) {
				if e.Name != "fuzz.json" || e.Line > lines || e.Line < 1 && e.Err.Error() != "empty file" {
					t.Fatalf("error %q (line %d of %d) does not say where", e, e.Line, lines)
				}
			}
			return
		}
		var std config
		if err := json.Unmarshal(data, &std); err != nil || std != c {
			t.Fatalf("accepted %q as %+v; encoding/json says %+v, %v", data, c, std, err)
		}
		out, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		var again config
		if err := Unmarshal("again.json", out, &again); err != nil || again != c {
			t.Fatalf("round trip: %+v → %s → %+v, %v", c, out, again, err)
		}
	})
}
