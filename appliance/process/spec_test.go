package process

import (
	"errors"
	"strings"
	"testing"
)

const exampleSpec = `{
  "Rotate": 0,
  "Outputs": [
    {"Name": "large", "Width": 1920, "Height": 1920, "Fit": "fit", "Quality": 85,
     "Watermark": {"File": "/perm/lapsebox/wm.png", "Opacity": 0.6, "Position": "bottom-right", "Margin": 20, "Scale": 0.2},
     "Caption": {"Text": "Site 7 — {time}", "TimeFormat": "2006-01-02 15:04", "Font": "bold", "Size": 32,
                 "Color": "#ffffff", "Shadow": "#000000a0", "Position": "bottom-left", "Margin": 20}},
    {"Name": "medium", "Width": 1280},
    {"Name": "thumb", "Width": 640, "Height": 640, "Fit": "fill", "Quality": 80,
     "Crop": {"X": 0.1, "Y": 0.1, "Width": 0.8, "Height": 0.8, "Unit": "fraction"}}
  ]
}`

func TestParseSpec(t *testing.T) {
	s, err := ParseSpec("web.json", []byte(exampleSpec))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Outputs) != 3 || s.Outputs[0].Watermark.Opacity != 0.6 || s.Outputs[2].Crop.Unit != "fraction" {
		t.Errorf("decoded %+v", s)
	}
}

func TestParseSpecErrors(t *testing.T) {
	out := func(fields string) string { return `{"Outputs":[{"Name":"a","Width":100` + fields + `}]}` }
	tests := []struct{ json, want string }{
		{``, "web.json: empty file"},
		{`{"Outputs":[{"Name":"a","Width":1,"Caption":{"Text":"x","TimeFormat":"Mon 2 Jan"}}]}`, ""},
		{`{"Outputs":[{"Name":"a","Widht":100}]}`, `web.json: line 1: unknown field "Widht"`},
		{`{"Outputs":[{"Name":"a","Width":"100"}]}`, `field "Outputs.Width": cannot use a JSON string`},
		{`{"Outputs":[{"Name":"a","Width":100}]} {}`, "unexpected data after"},
		{`{"Outputs":[]}`, "Outputs: no outputs"},
		{`{"Rotate":45,"Outputs":[{"Name":"a","Width":1}]}`, "Rotate: 45 is not 0, 90, 180 or 270"},
		{`{"Outputs":[{"Name":"a"}]}`, "Outputs[0]: zero size: Width and Height are both 0"},
		{`{"Outputs":[{"Name":"a","Width":0,"Height":0,"Fit":"fill"}]}`, "Outputs[0]: zero size: fill needs both"},
		{`{"Outputs":[{"Name":"a","Width":10,"Fit":"fill"}]}`, "Outputs[0]: zero size: fill needs both"},
		{`{"Outputs":[{"Name":"","Width":1}]}`, "Outputs[0].Name: empty"},
		{`{"Outputs":[{"Name":"a/b","Width":1}]}`, `Outputs[0].Name: "a/b": only letters`},
		{`{"Outputs":[{"Name":"a","Width":1},{"Name":"a","Width":2}]}`, `Outputs[1].Name: "a" is used twice`},
		{out(`,"Height":-1`), "Outputs[0].Height: -1 is not in [0, 16384]"},
		{`{"Outputs":[{"Name":"a","Width":20000}]}`, "Outputs[0].Width: 20000 is not in [0, 16384]"},
		{out(`,"Fit":"stretch"`), `Outputs[0].Fit: "stretch" is not "fit" or "fill"`},
		{out(`,"Quality":101`), "Outputs[0].Quality: 101 is not in [1, 100]"},
		{out(`,"Crop":{"X":0,"Y":0,"Width":0,"Height":10}`), "Outputs[0].Crop: zero size: 0×10"},
		{out(`,"Crop":{"X":0.5,"Y":0,"Width":10,"Height":10}`), "Outputs[0].Crop: 0.5 is not a whole number of pixels"},
		{out(`,"Crop":{"X":0.5,"Y":0,"Width":0.6,"Height":1,"Unit":"fraction"}`), "Outputs[0].Crop: 0.5,0 0.6×1 reaches beyond the picture"},
		{out(`,"Crop":{"X":0,"Y":0,"Width":1,"Height":1,"Unit":"cm"}`), `Outputs[0].Crop: Unit "cm" is not "px" or "fraction"`},
		{`{"Crop":{"X":0,"Y":0,"Width":-1,"Height":1,"Unit":"fraction"},"Outputs":[{"Name":"a","Width":1}]}`, "Crop: zero or negative size"},
		{out(`,"Watermark":{}`), "Outputs[0].Watermark.File: empty"},
		{out(`,"Watermark":{"File":"w.png","Opacity":1.5}`), "Outputs[0].Watermark.Opacity: 1.5 is not in (0, 1]"},
		{out(`,"Watermark":{"File":"w.png","Opacity":-0.1}`), "Outputs[0].Watermark.Opacity: -0.1 is not in (0, 1]"},
		{out(`,"Watermark":{"File":"w.png","Scale":2}`), "Outputs[0].Watermark.Scale: 2 is not in (0, 1]"},
		{out(`,"Watermark":{"File":"w.png","Position":"middle"}`), `Outputs[0].Watermark.Position: "middle" is not one of top-left`},
		{out(`,"Watermark":{"File":"w.png","Margin":-5}`), "Outputs[0].Watermark.Margin: -5 is not in"},
		{out(`,"Caption":{"Text":" "}`), "Outputs[0].Caption.Text: empty"},
		{out(`,"Caption":{"Text":"x","TimeFormat":"YYYY-MM-DD"}`), `Outputs[0].Caption.TimeFormat: "YYYY-MM-DD" has no date or time`},
		{out(`,"Caption":{"Text":"x","Font":"comic"}`), `Outputs[0].Caption.Font: "comic" is not one of regular, bold`},
		{out(`,"Caption":{"Text":"x","Color":"red"}`), `Outputs[0].Caption.Color: "red" is not #rrggbb`},
		{out(`,"Caption":{"Text":"x","Shadow":"#12345"}`), `Outputs[0].Caption.Shadow: "#12345" is not #rrggbb`},
		{out(`,"Caption":{"Text":"x","Color":"#-12345"}`), `Outputs[0].Caption.Color: "#-12345" is not #rrggbb`},
		{out(`,"Caption":{"Text":"x","Size":-1}`), "Outputs[0].Caption.Size: -1 is not in"},
		{out(`,"Caption":{"Text":"x","Position":"up"}`), `Outputs[0].Caption.Position: "up" is not one of`},
	}
	for _, tt := range tests {
		_, err := ParseSpec("web.json", []byte(tt.json))
		if tt.want == "" {
			if err != nil {
				t.Errorf("%s: %v", tt.json, err)
			}
			continue
		}
		var e *Error
		if !errors.As(err, &e) || e.Kind != KindSpec {
			t.Errorf("%s: got %v, want a spec *Error", tt.json, err)
			continue
		}
		if !strings.HasPrefix(err.Error(), "process: spec web.json: ") || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s:\n got %v\nwant …%s…", tt.json, err, tt.want)
		}
	}
}

func TestNewValidates(t *testing.T) {
	_, err := New(&Spec{Outputs: []Output{{Name: "a", Width: 0}}})
	if !IsBadInput(err) || err.Error() != "process: spec: Outputs[0]: zero size: Width and Height are both 0" {
		t.Errorf("got %v", err)
	}
}

func TestParseColor(t *testing.T) {
	for s, want := range map[string]rgba8{
		"":          white,
		"#000000":   {0, 0, 0, 0xff},
		"#12abEF":   {0x12, 0xab, 0xef, 0xff},
		"#00000080": {0, 0, 0, 0x80},
	} {
		if got, err := parseColor(s, white); err != nil || got != want {
			t.Errorf("%q: %v %v, want %v", s, got, err, want)
		}
	}
}
