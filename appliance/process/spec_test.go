package process

import (
	"errors"
	"strings"
	"testing"

	"github.com/lapsebox/lapsebox/internal/strictjson"
)

const exampleSpec = `{
  "rotate": 0,
  "outputs": [
    {"name": "large", "width": 1920, "height": 1920, "fit": "fit", "quality": 85,
     "watermark": {"file": "/perm/lapsebox/wm.png", "opacity": 0.6, "position": "bottom-right", "margin": 20, "scale": 0.2},
     "caption": {"text": "Site 7 — {time}", "time_format": "2006-01-02 15:04", "font": "bold", "size": 32,
                 "color": "#ffffff", "shadow": "#000000a0", "position": "bottom-left", "margin": 20}},
    {"name": "medium", "width": 1280},
    {"name": "thumb", "width": 640, "height": 640, "fit": "fill", "quality": 80,
     "crop": {"x": 0.1, "y": 0.1, "width": 0.8, "height": 0.8, "unit": "fraction"}}
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
	out := func(fields string) string { return `{"outputs":[{"name":"a","width":100` + fields + `}]}` }
	tests := []struct{ json, want string }{
		{``, "web.json: empty file"},
		{`{"outputs":[{"name":"a","width":1,"caption":{"text":"x","time_format":"Mon 2 Jan"}}]}`, ""},
		{`{"outputs":[{"name":"a","Widht":100}]}`, `web.json: line 1: unknown field "Widht"`},
		{`{"outputs":[{"name":"a","width":"100"}]}`, `field "outputs.width": cannot use a JSON string`},
		{`{"outputs":[{"name":"a","width":100}]} {}`, "unexpected data after"},
		{`{"outputs":[]}`, "outputs: no outputs"},
		{`{"rotate":45,"outputs":[{"name":"a","width":1}]}`, "rotate: 45 is not 0, 90, 180 or 270"},
		{`{"outputs":[{"name":"a"}]}`, "outputs[0]: zero size: width and height are both 0"},
		{`{"outputs":[{"name":"a","width":0,"height":0,"fit":"fill"}]}`, "outputs[0]: zero size: fill needs both"},
		{`{"outputs":[{"name":"a","width":10,"fit":"fill"}]}`, "outputs[0]: zero size: fill needs both"},
		{`{"outputs":[{"name":"","width":1}]}`, "outputs[0].name: empty"},
		{`{"outputs":[{"name":"a/b","width":1}]}`, `outputs[0].name: "a/b": only letters`},
		{`{"outputs":[{"name":"a","width":1},{"name":"a","width":2}]}`, `outputs[1].name: "a" is used twice`},
		{out(`,"height":-1`), "outputs[0].height: -1 is not in [0, 16384]"},
		{`{"outputs":[{"name":"a","width":20000}]}`, "outputs[0].width: 20000 is not in [0, 16384]"},
		{out(`,"fit":"stretch"`), `outputs[0].fit: "stretch" is not "fit" or "fill"`},
		{out(`,"quality":101`), "outputs[0].quality: 101 is not in [1, 100]"},
		{out(`,"crop":{"x":0,"y":0,"width":0,"height":10}`), "outputs[0].crop: zero size: 0×10"},
		{out(`,"crop":{"x":0.5,"y":0,"width":10,"height":10}`), "outputs[0].crop: 0.5 is not a whole number of pixels"},
		{out(`,"crop":{"x":0.5,"y":0,"width":0.6,"height":1,"unit":"fraction"}`), "outputs[0].crop: 0.5,0 0.6×1 reaches beyond the picture"},
		{out(`,"crop":{"x":0,"y":0,"width":1,"height":1,"unit":"cm"}`), `outputs[0].crop: unit "cm" is not "px" or "fraction"`},
		{`{"crop":{"x":0,"y":0,"width":-1,"height":1,"unit":"fraction"},"outputs":[{"name":"a","width":1}]}`, "crop: zero or negative size"},
		{out(`,"watermark":{}`), "outputs[0].watermark.file: empty"},
		{out(`,"watermark":{"file":"w.png","opacity":1.5}`), "outputs[0].watermark.opacity: 1.5 is not in (0, 1]"},
		{out(`,"watermark":{"file":"w.png","opacity":-0.1}`), "outputs[0].watermark.opacity: -0.1 is not in (0, 1]"},
		{out(`,"watermark":{"file":"w.png","scale":2}`), "outputs[0].watermark.scale: 2 is not in (0, 1]"},
		{out(`,"watermark":{"file":"w.png","position":"middle"}`), `outputs[0].watermark.position: "middle" is not one of top-left`},
		{out(`,"watermark":{"file":"w.png","margin":-5}`), "outputs[0].watermark.margin: -5 is not in"},
		{out(`,"caption":{"text":" "}`), "outputs[0].caption.text: empty"},
		{out(`,"caption":{"text":"x","time_format":"YYYY-MM-DD"}`), `outputs[0].caption.time_format: "YYYY-MM-DD" has no date or time`},
		{out(`,"caption":{"text":"x","font":"comic"}`), `outputs[0].caption.font: "comic" is not one of regular, bold`},
		{out(`,"caption":{"text":"x","color":"red"}`), `outputs[0].caption.color: "red" is not #rrggbb`},
		{out(`,"caption":{"text":"x","shadow":"#12345"}`), `outputs[0].caption.shadow: "#12345" is not #rrggbb`},
		{out(`,"caption":{"text":"x","color":"#-12345"}`), `outputs[0].caption.color: "#-12345" is not #rrggbb`},
		{out(`,"caption":{"text":"x","size":-1}`), "outputs[0].caption.size: -1 is not in"},
		{out(`,"caption":{"text":"x","position":"up"}`), `outputs[0].caption.position: "up" is not one of`},
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

// TestParseSpecOldSpelling checks that the spelling of earlier releases
// ("Outputs", "TimeFormat") is an error that gives the new one, for every
// such key at once.
func TestParseSpecOldSpelling(t *testing.T) {
	old := "{\n  \"Rotate\": 90,\n  \"Outputs\": [{\"Name\": \"web\", \"Width\": 1280,\n    \"Caption\": {\"Text\": \"x\", \"TimeFormat\": \"15:04\"}}]\n}"
	_, err := ParseSpec("web.json", []byte(old))
	want := []string{
		`line 2: "Rotate": use "rotate"`,
		`line 3: "Outputs": use "outputs"`,
		`line 3: "Name": use "name"`,
		`line 3: "Width": use "width"`,
		`line 4: "Caption": use "caption"`,
		`line 4: "Text": use "text"`,
		`line 4: "TimeFormat": use "time_format"`,
	}
	errs := strictjson.Errors(err)
	if !IsBadInput(err) || len(errs) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%v", len(errs), len(want), err)
	}
	for i, e := range errs {
		if e.Error() != want[i] {
			t.Errorf("error %d: %q, want %q", i, e, want[i])
		}
	}
}

// TestValidateReportsEverything checks that every bad field is reported,
// each with its path, not only the first.
func TestValidateReportsEverything(t *testing.T) {
	_, err := ParseSpec("web.json", []byte(`{"rotate": 45, "outputs": [{"name": "a/b", "width": -1, "quality": 101}, {"name": "c", "width": 1, "caption": {"text": ""}}]}`))
	var fields []string
	for _, e := range strictjson.Errors(err) {
		fields = append(fields, e.Field)
	}
	want := []string{"rotate", "outputs[0].name", "outputs[0].width", "outputs[0].quality", "outputs[1].caption.text"}
	if strings.Join(fields, " ") != strings.Join(want, " ") {
		t.Errorf("fields %q, want %q; error:\n%v", fields, want, err)
	}
}

func TestNewValidates(t *testing.T) {
	_, err := New(&Spec{Outputs: []Output{{Name: "a", Width: 0}}})
	if !IsBadInput(err) || err.Error() != "process: spec: outputs[0]: zero size: width and height are both 0" {
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
