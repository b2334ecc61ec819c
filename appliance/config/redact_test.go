package config

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/lapsebox/lapsebox/internal/strictjson"
)

func TestRedactJSON(t *testing.T) {
	example := readExample(t)
	red, err := RedactJSON(example)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"tok_3f9a1c2e7b", "hunter2-but-longer", "1234"} {
		if bytes.Contains(red, []byte(s)) {
			t.Errorf("redacted file shows %q:\n%s", s, red)
		}
	}
	if n := bytes.Count(red, []byte(`"[redacted]"`)); n != 3 {
		t.Errorf("%d placeholders, want 3:\n%s", n, red)
	}
	// Everything but the secrets' values is as it was.
	before, _, _ := bytes.Cut(example, []byte(`"secrets"`))
	if !bytes.HasPrefix(red, before) {
		t.Errorf("redaction changed the file before the secrets:\n%s", red)
	}
	c, err := Parse("redacted.json", red)
	if err != nil {
		t.Fatalf("the redacted file is not a valid configuration: %v", err)
	}
	if c.Secrets["cloud-token"].Reveal() != Redacted || len(c.Secrets) != 3 {
		t.Errorf("secrets of the redacted file: %v", c.Secrets)
	}

	for _, tc := range []struct{ in, want string }{
		{`{"secrets": {"a": "x", "b": 12, "c": {"d": "y"}, "e": ["z"]}}`,
			`{"secrets": {"a": "[redacted]", "b": "[redacted]", "c": "[redacted]", "e": "[redacted]"}}`},
		{`{"Secrets": {"a": "x"}, "site": {"name": "secrets"}}`, `{"Secrets": {"a": "[redacted]"}, "site": {"name": "secrets"}}`},
		{`{"secrets": "all of them", "secrets": {"a":"x"}}`, `{"secrets": "[redacted]", "secrets": {"a":"[redacted]"}}`},
		{"{\"secrets\":{\"a\"\n:\n\"x\"}}", "{\"secrets\":{\"a\"\n:\n\"[redacted]\"}}"},
	} {
		got, err := RedactJSON([]byte(tc.in))
		if err != nil || string(got) != tc.want {
			t.Errorf("RedactJSON(%s) = %s, %v; want %s", tc.in, got, err, tc.want)
		}
	}
	// What cannot be walked is refused, not given out.
	for _, in := range []string{`{"secrets": {"a": "x"`, `[{"secrets": {"a": "x"}}]`, `{"secrets": {"a": "x"}} {"secrets": {"b": "y"}}`, ``} {
		if got, err := RedactJSON([]byte(in)); err == nil {
			t.Errorf("RedactJSON(%s) = %s, want an error", in, got)
		}
	}
}

func TestRestoreSecrets(t *testing.T) {
	example := readExample(t)
	cur, err := Parse("example.json", example)
	if err != nil {
		t.Fatal(err)
	}
	red, err := RedactJSON(example)
	if err != nil {
		t.Fatal(err)
	}
	got, err := RestoreSecrets("pushed.json", red, cur)
	if err != nil || !bytes.Equal(got, example) {
		t.Errorf("RestoreSecrets(RedactJSON(example)) = %v:\n%s", err, got)
	}

	// A new value replaces the old; a placeholder without a secret on the
	// device is an error at its line.
	edited := bytes.Replace(red, []byte(`"sim-pin": "[redacted]"`), []byte(`"sim-pin": "4321"`), 1)
	edited = bytes.Replace(edited, []byte(`"client-dav": "[redacted]"`), []byte(`"client-dav": "[redacted]", "new-one": "[redacted]"`), 1)
	_, err = RestoreSecrets("pushed.json", edited, cur)
	errs := strictjson.Errors(err)
	line := bytes.Count(edited[:bytes.Index(edited, []byte(`"new-one"`))], []byte("\n")) + 1
	if len(errs) != 1 || errs[0].Field != "secrets.new-one" || errs[0].Line != line || !strings.Contains(err.Error(), fmt.Sprintf("pushed.json: line %d: secrets.new-one: \"[redacted]\" stands for", line)) {
		t.Errorf("RestoreSecrets with an unknown placeholder: %v", err)
	}
	edited = bytes.Replace(edited, []byte(`, "new-one": "[redacted]"`), nil, 1)
	got, err = RestoreSecrets("pushed.json", edited, cur)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse("pushed.json", got)
	if err != nil || c.Secrets["sim-pin"].Reveal() != "4321" || c.Secrets["client-dav"].Reveal() != "hunter2-but-longer" {
		t.Errorf("restored: %v %v", c, err)
	}
}
