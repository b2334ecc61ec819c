package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary bytes to the decoder: it must never panic, every
// error must name the file, and every accepted configuration must
// round-trip through Marshal. The seed corpus is in testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	f.Add(defaultJSON)
	files, _ := filepath.Glob("testdata/*.json")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.json", data)
		if err != nil {
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, "fuzz.json: ") {
					t.Fatalf("error line does not name the file: %q", line)
				}
			}
			return
		}
		roundTrip(t, c)
		_ = c.String()
		// What config pull gives out is a valid configuration with every
		// secret, and only the secrets, replaced.
		red, err := RedactJSON(data)
		if err != nil {
			t.Fatalf("RedactJSON of a valid configuration: %v", err)
		}
		rc, err := Parse("redacted.json", red)
		if err != nil {
			t.Fatalf("the redacted configuration is invalid: %v\n%s", err, red)
		}
		if len(rc.Secrets) != len(c.Secrets) {
			t.Fatalf("redaction changed the secrets' names: %v, %v", rc.Secrets, c.Secrets)
		}
		for k, v := range rc.Secrets {
			if v.Reveal() != Redacted {
				t.Fatalf("secret %q not redacted", k)
			}
		}
		back, err := RestoreSecrets("pushed.json", red, c)
		if err != nil {
			t.Fatal(err)
		}
		bc, err := Parse("restored.json", back)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range c.Secrets {
			if bc.Secrets[k].Reveal() != v.Reveal() {
				t.Fatalf("secret %q not restored", k)
			}
		}
	})
}
