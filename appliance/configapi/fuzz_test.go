package configapi

import (
	"os"
	"testing"

	"github.com/lapsebox/lapsebox/appliance/config"
)

// FuzzCheck feeds arbitrary pushed bodies to the endpoint's validation: it
// must never panic, every problem must say something, and every problem
// with a line must lie within the file.
func FuzzCheck(f *testing.F) {
	if b, err := os.ReadFile("../config/testdata/example.json"); err == nil {
		f.Add(b)
	}
	f.Add([]byte(`{"site": {"name": "s", "time_zone": "UTC"}, "targets": [{"name": "w", "kind": "livecam", "url": "https://x/", "process": {"Outputs": [{"Name": "a"}], "rotate": 45}}]}`))
	f.Add([]byte("{\"targets\": [{\"process\": {\"outputs\": [{\"name\": \"a\", \"width\": \"1\"}]}}],\n\"secrets\": {\"k\": \"[redacted]\"}}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		restored, rerr := config.RestoreSecrets(pushedName, data, config.Default())
		if rerr != nil {
			restored = data
		}
		_, err := Check(pushedName, restored)
		lines := 1
		for _, c := range data {
			if c == '\n' {
				lines++
			}
		}
		for _, p := range toProblems(err) {
			if p.Message == "" || p.Line < 0 || p.Line > lines {
				t.Fatalf("problem %+v in a file of %d lines", p, lines)
			}
		}
		if err == nil {
			if _, err := config.RedactJSON(restored); err != nil {
				t.Fatalf("an accepted file cannot be redacted: %v", err)
			}
		}
	})
}
