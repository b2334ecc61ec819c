package camera

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/lapsebox/lapsebox/ptp/sim"
)

func propMap(t *testing.T, c *Camera) map[string]Prop {
	t.Helper()
	ps, err := c.Props(context.Background())
	if err != nil {
		t.Fatalf("Props: %v", err)
	}
	m := map[string]Prop{}
	for _, p := range ps {
		m[p.Name] = p
	}
	return m
}

func TestProps(t *testing.T) {
	tests := []struct {
		model sim.Model
		want  map[string]string
	}{
		{sim.CanonEOS600D, map[string]string{ShutterSpeed: "1/60", Aperture: "f/5.6", ISO: "100", WhiteBalance: "auto",
			ImageFormat: "RAW+JPG", Battery: "75%", FreeSpace: "8.0 GB", CaptureTarget: "card"}},
		{sim.NikonD7000, map[string]string{ShutterSpeed: "1/250", Aperture: "f/5.6", ISO: "100", WhiteBalance: "auto",
			ImageFormat: "RAW+JPG", Battery: "75%", FreeSpace: "8.0 GB"}},
		{sim.Generic, map[string]string{ShutterSpeed: "1/250", Aperture: "f/5.6", ISO: "100", WhiteBalance: "auto",
			Battery: "75%", FreeSpace: "8.0 GB"}},
		{sim.DownloadOnly, map[string]string{FreeSpace: "8.0 GB"}},
	}
	for _, tt := range tests {
		t.Run(tt.model.String(), func(t *testing.T) {
			_, c := open(t, testConfig(tt.model, sim.RAWAndJPEG), testOptions())
			got := propMap(t, c)
			if len(got) != len(tt.want) {
				t.Errorf("props %v, want %v", got, tt.want)
			}
			for name, v := range tt.want {
				if got[name].Value != v {
					t.Errorf("%s = %q, want %q", name, got[name].Value, v)
				}
			}
			if p := got[ISO]; tt.model != sim.DownloadOnly && (len(p.Choices) < 4 || p.Choices[0] != "auto") {
				t.Errorf("ISO choices %q", p.Choices)
			}
			if !got[Battery].ReadOnly && tt.model != sim.DownloadOnly {
				t.Error("battery is writable")
			}
		})
	}
}

func TestSet(t *testing.T) {
	type step struct {
		name, value string
		want        string // the value Props shows after; "" for an error
		err         error
	}
	common := []step{
		{ISO, "400", "400", nil},
		{ISO, "ISO 800", "800", nil},
		{ISO, "auto", "auto", nil},
		{ISO, "123", "", ErrInvalidValue},
		{Aperture, "f/8", "f/8", nil},
		{Aperture, "11", "f/11", nil},
		{Aperture, "f/0.7", "", ErrInvalidValue},
		{WhiteBalance, "daylight", "daylight", nil},
		{WhiteBalance, "purple", "", ErrInvalidValue},
		{ShutterSpeed, "1/125", "1/125", nil},
		{ShutterSpeed, "1/60", "1/60", nil},
		{ShutterSpeed, "2s", `2"`, nil},
		{ShutterSpeed, "fast", "", ErrInvalidValue},
		{Battery, "100%", "", ErrReadOnly},
		{FreeSpace, "1 TB", "", ErrReadOnly},
		{"zoom", "2x", "", ErrUnknownProperty},
	}
	tests := []struct {
		model sim.Model
		steps []step
	}{
		{sim.CanonEOS600D, append(common,
			step{ShutterSpeed, "bulb", "bulb", nil},
			step{ShutterSpeed, "1/8000", "", ErrInvalidValue}, // not on the 600D
			step{ImageFormat, "RAW", "RAW", nil},
			step{ImageFormat, "JPG", "JPG", nil},
			step{ImageFormat, "raw + jpeg", "RAW+JPG", nil},
			step{ImageFormat, "TIFF", "", ErrInvalidValue},
			step{CaptureTarget, "host", "host", nil},
			step{CaptureTarget, "card", "card", nil},
			step{CaptureTarget, "cloud", "", ErrInvalidValue},
		)},
		{sim.NikonD7000, append(common,
			step{ShutterSpeed, "bulb", "bulb", nil},
			step{ImageFormat, "RAW", "RAW", nil},
			step{ImageFormat, "JPG-basic", "JPG-basic", nil},
			step{ImageFormat, "RAW+JPG", "RAW+JPG", nil},
			step{CaptureTarget, "host", "", ErrUnknownProperty},
		)},
		{sim.Generic, append(common,
			step{ShutterSpeed, "bulb", "", ErrInvalidValue},
			step{ImageFormat, "RAW", "", ErrUnknownProperty},
		)},
	}
	for _, tt := range tests {
		t.Run(tt.model.String(), func(t *testing.T) {
			d, c := open(t, testConfig(tt.model, sim.JPEG), testOptions())
			for _, s := range tt.steps {
				err := c.Set(context.Background(), s.name, s.value)
				if s.err != nil {
					if !errors.Is(err, s.err) {
						t.Errorf("Set(%s, %q) = %v, want %v", s.name, s.value, err, s.err)
					} else if !strings.HasPrefix(err.Error(), "camera: Set "+s.name+": ") {
						t.Errorf("error %q does not name the step", err)
					}
					continue
				}
				if err != nil {
					t.Errorf("Set(%s, %q): %v", s.name, s.value, err)
					continue
				}
				if got := propMap(t, c)[s.name].Value; got != s.want {
					t.Errorf("after Set(%s, %q): %q, want %q", s.name, s.value, got, s.want)
				}
			}
			// The image format set is what the camera captures.
			if tt.model != sim.Generic {
				files, err, _ := capture(t, c, nil)
				if err != nil || len(files) != 2 {
					t.Errorf("capture after RAW+JPG: %d files, %v", len(files), err)
				}
			}
			checkNoViolations(t, d)
		})
	}
}

func TestSetErrorMessages(t *testing.T) {
	_, c := open(t, testConfig(sim.CanonEOS600D, sim.JPEG), testOptions())
	err := c.Set(context.Background(), ISO, "123")
	want := `camera: Set iso: invalid value "123" (choices: auto, 100, 200, 400, 800, 1600, 3200, 6400)`
	if err == nil || err.Error() != want {
		t.Errorf("got  %v\nwant %s", err, want)
	}
	err = c.Set(context.Background(), "zoom", "2")
	if err == nil || !strings.Contains(err.Error(), `unknown property "zoom" (known: shutterspeed, aperture`) {
		t.Errorf("got %v", err)
	}
}
