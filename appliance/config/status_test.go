package config

import (
	"strings"
	"testing"
)

func TestStatusSection(t *testing.T) {
	const head = `{"site": {"name": "s", "time_zone": "UTC"}`
	for _, tc := range []struct {
		name, status string
		public       bool
		wantErr      string
	}{
		{"absent", ``, false, ""},
		{"off", `, "status": {"public_summary": false}`, false, ""},
		{"on", `, "status": {"public_summary": true}`, true, ""},
		{"empty", `, "status": {}`, false, ""},
		{"unknown key", `, "status": {"public": true}`, false, `unknown field "public"`},
		{"camelCase", `, "status": {"publicSummary": true}`, false, `use "public_summary"`},
		{"wrong type", `, "status": {"public_summary": "yes"}`, false, "status.public_summary"},
		{"not an object", `, "status": true`, false, "status"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("x.json", []byte(head+tc.status+"}"))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "x.json: line 1") {
					t.Fatalf("error %v, want one naming %q on line 1", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Status.PublicSummary != tc.public {
				t.Errorf("PublicSummary = %v, want %v", c.Status.PublicSummary, tc.public)
			}
			// The switch survives writing the file back.
			b, err := c.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			back, err := Parse("back.json", b)
			if err != nil || back.Status != c.Status {
				t.Errorf("written back %s: %+v, %v", b, back, err)
			}
		})
	}
	if Default().Status.PublicSummary {
		t.Error("the built-in default opens the public summary")
	}
}
