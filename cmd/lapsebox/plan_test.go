package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/lapsebox/lapsebox/appliance/status"
	"github.com/lapsebox/lapsebox/appliance/statusfile"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files of lapsebox plan")

// The published planning figures for an 18 MP Canon T3i/T4i, as lapsebox
// plan prints them: a RAW+JPG pair every 10 minutes needs ≈ 50 KB/s and
// 320 GB hold it ≈ 70 days; JPG only, ≈ 10 KB/s and ≈ 370 days; a JPG a
// minute fits a 1 Mbit/s link (≈ 120 KB/s).
func TestPlanGolden(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want []string // lines (as regular expressions) the report must hold
	}{
		{"raw+jpg-10m", []string{"-interval", "10m", "-keep", "raw+jpg", "-camera", "Canon EOS 600D", "-link", "1Mbit", "-disk", "320GB", "-high_water", "100"},
			[]string{`≈ (69|7[0-2]) days`, `originals +every file kept \(RAW\+JPG\) +5[0-3]\.\d kB/s`}},
		{"jpg-10m", []string{"-interval", "10m", "-keep", "jpg", "-camera", "T3i", "-link", "1Mbit", "-disk", "320GB", "-high_water", "100"},
			[]string{`≈ 37\d days`, `jpg +the JPEGs only +10\.\d kB/s`}},
		{"jpg-1m", []string{"-interval", "1m", "-camera", "Canon EOS 650D", "-link", "1Mbit", "-disk", "32GB", "-outage", "6h"},
			[]string{`link +125\.0 kB/s`, `jpg +the JPEGs only +102\.0 kB/s .* 82 % +caught up in`}},
		{"issue-example", []string{"-interval", "10m", "-keep", "raw+jpg", "-camera", "Canon EOS 600D", "-link", "1Mbit", "-disk", "32GB"},
			[]string{`≈ 6 days of pictures below the 85 % mark`}},
		{"slow-link", []string{"-interval", "10m", "-keep", "raw+jpg", "-camera", "600D", "-link", "256kbit"},
			[]string{`originals .* never: the link is too slow`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := planCommand(context.Background(), tc.args, &out); err != nil {
				t.Fatal(err)
			}
			for _, re := range tc.want {
				if !regexp.MustCompile(`(?m)` + re).MatchString(out.String()) {
					t.Errorf("report lacks /%s/:\n%s", re, out.String())
				}
			}
			golden := filepath.Join("testdata", "plan", tc.name+".golden")
			if *updateGolden {
				if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to write it)", err)
			}
			if out.String() != string(want) {
				t.Errorf("report differs from %s (go test -update rewrites it):\n%s", golden, out.String())
			}
		})
	}
}

// With a device's status, the plan uses the picture size camerad
// measured, from a camerad.json file or from the device's statusd.
func TestPlanWithMeasuredSizes(t *testing.T) {
	cam := statusfile.Camera{Autonomy: &statusfile.Autonomy{BytesPerPicture: 312_345, SizeSource: "median of the last 20 pictures"}}
	file := filepath.Join(t.TempDir(), "camerad.json")
	if err := statusfile.Write(file, cam); err != nil {
		t.Fatal(err)
	}
	raw, _, err := statusfile.ReadRaw(file)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/status" {
			http.NotFound(w, r)
			return
		}
		if u, pw, ok := r.BasicAuth(); !ok || u != "gokrazy" || pw != "device-pw" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		json.NewEncoder(w).Encode(status.Snapshot{Files: []status.File{{Name: "camerad", Status: raw}}})
	}))
	defer srv.Close()
	pwFile := filepath.Join(t.TempDir(), "pw.txt")
	os.WriteFile(pwFile, []byte("device-pw\n"), 0o600)
	for _, src := range []string{file, srv.URL + "/"} {
		var out bytes.Buffer
		if err := planCommand(context.Background(), []string{"-interval", "5m", "-status", src, "-password-file", pwFile, "-disk", "1GB"}, &out); err != nil {
			t.Fatalf("-status %s: %v", src, err)
		}
		if !strings.Contains(out.String(), "capture    312.3 kB (measured on the device: median of the last 20 pictures)") {
			t.Errorf("-status %s: the report does not use the measured size:\n%s", src, out.String())
		}
	}
	var out bytes.Buffer
	err = planCommand(context.Background(), []string{"-interval", "5m", "-status", filepath.Join(t.TempDir(), "none.json")}, &out)
	if err == nil {
		t.Error("a missing status file was not an error")
	}
}

func TestPlanBadInput(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-keep", "jpg"}, "-interval, or -config"},
		{[]string{"-interval", "10m", "-keep", "tiff"}, `-keep "tiff"`},
		{[]string{"-interval", "10m", "-link", "fast"}, `link rate "fast"`},
		{[]string{"-interval", "10m", "-link", "1Mfurlong"}, `link rate "1Mfurlong"`},
		{[]string{"-interval", "10m", "-disk", "-3GB"}, `disk size "-3GB"`},
		{[]string{"-interval", "10m", "-high_water", "120"}, "-high_water 120"},
	} {
		var out bytes.Buffer
		err := planCommand(context.Background(), tc.args, &out)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("plan %q: %v, want an error saying %s", tc.args, err, tc.want)
		}
	}
}
