package main

import (
	"bytes"
	"context"
	"errors"
	"image/jpeg"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/ptp"
	"github.com/lapsebox/lapsebox/ptp/camera"
	"github.com/lapsebox/lapsebox/ptp/sim"
)

// simConfig is a Canon EOS 600D (sim's default model) with small files:
// a RAW file big enough for progress reports and several chunks.
func simConfig(q sim.Quality) sim.Config {
	return sim.Config{Quality: q, Seed: 1, JPEGSize: 24_000, JPEGWidth: 160, JPEGHeight: 106, RAWSize: 3<<20 + 123}
}

// plug returns the camera as a new USB handle finds it: the functions
// under test close the transport they are given, as Camera.Close does.
func plug(d *sim.Device) ptp.Transport {
	d.Replug()
	return d
}

// simOptions are the driver's options with short timeouts.
func simOptions(d *sim.Device) camera.Options {
	return camera.Options{
		Conn:            ptp.Options{USBVendorID: d.USBVendorID(), Timeout: 2 * time.Second, BusyBackoff: time.Millisecond, MaxBusyBackoff: 5 * time.Millisecond, DrainTimeout: 20 * time.Millisecond},
		OpTimeout:       300 * time.Millisecond,
		PairTimeout:     500 * time.Millisecond,
		PollInterval:    2 * time.Millisecond,
		MaxPollInterval: 10 * time.Millisecond,
	}
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// cardContents reads every file on the simulated card through a PTP
// session of its own.
func cardContents(t *testing.T, d *sim.Device) map[string][]byte {
	t.Helper()
	ctx := testContext(t)
	conn, err := ptp.Open(ctx, plug(d), &ptp.Options{USBVendorID: d.USBVendorID()})
	if err != nil {
		t.Fatalf("opening a session to read the card: %v", err)
	}
	defer conn.Close(ctx)
	got := map[string][]byte{}
	for _, f := range d.Card() {
		var buf bytes.Buffer
		if err := conn.GetObject(ctx, f.Handle, &buf); err != nil {
			t.Fatalf("GetObject(%#x) %s: %v", f.Handle, f.Path, err)
		}
		if int64(buf.Len()) != f.Size {
			t.Fatalf("%s: GetObject gave %d bytes, the card says %d", f.Path, buf.Len(), f.Size)
		}
		got[filepath.Base(f.Path)] = buf.Bytes()
	}
	return got
}

// dirContents reads every file in dir.
func dirContents(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]byte{}
	for _, e := range es {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		got[e.Name()] = b
	}
	return got
}

func TestCameraProps(t *testing.T) {
	d := sim.New(simConfig(sim.JPEG))
	var out bytes.Buffer
	if err := printProps(testContext(t), plug(d), simOptions(d), &out); err != nil {
		t.Fatalf("props: %v", err)
	}
	t.Logf("\n%s", out.String())
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if !regexp.MustCompile(`^PROPERTY +VALUE +ACCESS +CHOICES$`).MatchString(lines[0]) {
		t.Errorf("header %q", lines[0])
	}
	// The columns are aligned: VALUE starts at the same offset everywhere.
	col := strings.Index(lines[0], "VALUE")
	rows := map[string][]string{}
	for _, l := range lines[1:] {
		if len(l) <= col || l[col-1] != ' ' || l[col] == ' ' {
			t.Errorf("row %q: the value does not start at column %d", l, col)
		}
		f := strings.Fields(l)
		rows[f[0]] = f[1:]
	}
	for _, tt := range []struct {
		name, value, access, choice string
	}{
		{camera.ShutterSpeed, "", "rw", "1/250,"},
		{camera.Aperture, "", "rw", "f/8,"},
		{camera.ISO, "", "rw", "400,"},
		{camera.WhiteBalance, "", "rw", "daylight,"},
		{camera.ImageFormat, "JPG", "rw", "RAW+JPG"},
		{camera.Battery, "75%", "ro", "-"},
	} {
		r, ok := rows[tt.name]
		if !ok {
			t.Errorf("no row for %s", tt.name)
			continue
		}
		if tt.value != "" && r[0] != tt.value {
			t.Errorf("%s = %q, want %q", tt.name, r[0], tt.value)
		}
		if r[1] != tt.access {
			t.Errorf("%s: access %q, want %q", tt.name, r[1], tt.access)
		}
		if !slices.Contains(r[2:], tt.choice) {
			t.Errorf("%s: choices %q lack %q", tt.name, r[2:], tt.choice)
		}
	}
}

func TestCameraPropsOfDownloadOnlyCamera(t *testing.T) {
	// Like QEMU's usb-mtp: no device properties, but the card's free
	// space, which cannot be set.
	d := sim.New(sim.Config{Model: sim.DownloadOnly})
	var out bytes.Buffer
	if err := printProps(testContext(t), plug(d), simOptions(d), &out); err != nil {
		t.Fatalf("props: %v", err)
	}
	if !regexp.MustCompile(`^PROPERTY +VALUE +ACCESS +CHOICES\nfreespace +8\.0 GB +ro +-\n$`).MatchString(out.String()) {
		t.Errorf("props of a download-only camera printed %q, want its free space alone", out.String())
	}
}

func TestCameraSetAndCapture(t *testing.T) {
	d := sim.New(simConfig(sim.JPEG))
	ctx := testContext(t)
	var out bytes.Buffer
	if err := setProp(ctx, plug(d), simOptions(d), "ImageFormat", "raw+jpg", &out); err != nil {
		t.Fatalf("set: %v", err)
	}
	if out.String() != "imageformat = RAW+JPG\n" {
		t.Errorf("set printed %q, want the value read back", out.String())
	}

	dir := filepath.Join(t.TempDir(), "shots") // made by capture
	type report struct {
		name        string
		done, total int64
	}
	var progress []report
	out.Reset()
	saved, err := capturePicture(ctx, plug(d), simOptions(d), dir, &out, func(name string, done, total int64) {
		progress = append(progress, report{name, done, total})
	})
	t.Logf("\n%s", out.String())
	if err != nil {
		t.Fatalf("capture: %v", err)
	}
	var names []string
	for _, s := range saved {
		names = append(names, filepath.Base(s.Path))
		// The camera's name and size are printed.
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(s.Name) + ` +` + strconv.FormatInt(s.Size, 10) + ` +` + regexp.QuoteMeta(s.Path) + `$`).MatchString(out.String()) {
			t.Errorf("no line for %s, %d bytes, in %q", s.Name, s.Size, out.String())
		}
	}
	if want := []string{"IMG_0001.CR2", "IMG_0001.JPG"}; !slices.Equal(names, want) {
		t.Fatalf("capture wrote %q, want %q", names, want)
	}

	// Byte for byte what the card holds; the JPEG decodes.
	card := cardContents(t, d)
	first := dirContents(t, dir)
	for name, b := range card {
		if !bytes.Equal(first[name], b) {
			t.Errorf("%s: %d bytes in DIR, not the %d on the card", name, len(first[name]), len(b))
		}
	}
	if len(first) != len(card) {
		t.Errorf("DIR holds %d files, the card %d", len(first), len(card))
	}
	if _, err := jpeg.Decode(bytes.NewReader(first["IMG_0001.JPG"])); err != nil {
		t.Errorf("IMG_0001.JPG does not decode: %v", err)
	}

	// Progress for the RAW file (3 MiB) only, ending at its size.
	if len(progress) == 0 {
		t.Fatal("no progress reported for the RAW file")
	}
	for _, p := range progress {
		if p.name != "IMG_0001.CR2" {
			t.Errorf("progress for %s: want it only for files of 1 MiB or more", p.name)
		}
	}
	if last := progress[len(progress)-1]; last.done != last.total || last.total != int64(len(card["IMG_0001.CR2"])) {
		t.Errorf("last progress %+v, want done = total = the RAW file's size", last)
	}

	// A camera whose numbering starts again (another camera, or a reset
	// counter) shoots IMG_0001 again: the pair gets a suffix, and the
	// first pair stays as it was.
	d2 := sim.New(simConfig(sim.RAWAndJPEG))
	out.Reset()
	saved, err = capturePicture(ctx, plug(d2), simOptions(d2), dir, &out, nil)
	if err != nil {
		t.Fatalf("second capture: %v", err)
	}
	names = nil
	for _, s := range saved {
		names = append(names, filepath.Base(s.Path))
	}
	if want := []string{"IMG_0001-1.CR2", "IMG_0001-1.JPG"}; !slices.Equal(names, want) {
		t.Errorf("second capture wrote %q, want %q", names, want)
	}
	second := dirContents(t, dir)
	for name, b := range first {
		if !bytes.Equal(second[name], b) {
			t.Errorf("%s changed: the second capture overwrote it", name)
		}
	}
	for name, b := range cardContents(t, d2) {
		ext := filepath.Ext(name)
		if got := second[strings.TrimSuffix(name, ext)+"-1"+ext]; !bytes.Equal(got, b) {
			t.Errorf("%s of the second camera: %d bytes in DIR, not the %d on its card", name, len(got), len(b))
		}
	}
	if len(second) != 4 {
		t.Errorf("DIR holds %d files after two captures, want 4", len(second))
	}
}

func TestCameraSetErrors(t *testing.T) {
	tests := []struct {
		name, prop, value string
		want              error
		says              []string // the message names the input and the way out
	}{
		{"unknown property", "colour", "red", camera.ErrUnknownProperty, []string{`"colour"`, "imageformat", "shutterspeed"}},
		{"bad image format", "imageformat", "TIFF", camera.ErrInvalidValue, []string{"imageformat", `"TIFF"`, "RAW+JPG"}},
		{"bad ISO", "iso", "123", camera.ErrInvalidValue, []string{"iso", `"123"`, "100"}},
		{"read-only", "battery", "100%", camera.ErrReadOnly, []string{"battery"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := sim.New(simConfig(sim.JPEG))
			var out bytes.Buffer
			err := setProp(testContext(t), plug(d), simOptions(d), tt.prop, tt.value, &out)
			t.Logf("set %s %s: %v", tt.prop, tt.value, err)
			if !errors.Is(err, tt.want) {
				t.Fatalf("set %s %s: %v, want %v", tt.prop, tt.value, err, tt.want)
			}
			for _, s := range tt.says {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %s", err, s)
				}
			}
			if out.Len() != 0 {
				t.Errorf("a failed set printed %q", out.String())
			}
		})
	}
}

func TestCaptureRemovesAFileThatDidNotArrive(t *testing.T) {
	d := sim.New(simConfig(sim.RAWAndJPEG))
	// The camera goes away after the first 1 MiB chunk of the RAW file.
	d.Inject(sim.Fault{Kind: sim.Disconnect, Op: ptp.OpGetPartialObject, Skip: 1})
	dir := t.TempDir()
	var out bytes.Buffer
	saved, err := capturePicture(testContext(t), plug(d), simOptions(d), dir, &out, nil)
	t.Logf("capture: %v", err)
	if !errors.Is(err, ptp.ErrNoDevice) {
		t.Fatalf("capture with the camera unplugged midway: %v, want ErrNoDevice", err)
	}
	if len(saved) != 0 {
		t.Errorf("saved %+v", saved)
	}
	if left := dirContents(t, dir); len(left) != 0 {
		t.Errorf("DIR holds %d files after a failed download, want none: the partial RAW file should be gone", len(left))
	}
}
