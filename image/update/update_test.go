package update

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/lapsebox/lapsebox/image/update/updatetest"
)

func TestMain(m *testing.M) {
	pollInterval = 20 * time.Millisecond
	bootSlotPatience = 200 * time.Millisecond
	os.Exit(m.Run())
}

const (
	oldBuild = "2026-11-01T10:00:00Z"
	newBuild = "2026-11-02T12:34:56Z"
)

// testImage returns an image whose root holds newBuild (the fake device
// boots the build named by the root it received), a boot FS of a few MiB and
// the given MBR.
func testImage(mbr []byte) Image {
	boot := bytes.Repeat([]byte("FAT16 boot "), 300_000) // ~3 MiB: several progress reports
	return Image{
		Root:           strings.NewReader(newBuild),
		Boot:           bytes.NewReader(boot),
		MBR:            mbr,
		BuildTimestamp: newBuild,
	}
}

type progressLog struct {
	mu sync.Mutex
	ps []Progress
}

func (l *progressLog) add(p Progress) {
	l.mu.Lock()
	l.ps = append(l.ps, p)
	l.mu.Unlock()
}

func (l *progressLog) steps() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var s []string
	for _, p := range l.ps {
		if len(s) == 0 || s[len(s)-1] != p.Step {
			s = append(s, p.Step)
		}
	}
	return strings.Join(s, ",")
}

func TestPushSuccess(t *testing.T) {
	mbr := bytes.Repeat([]byte{0xeb}, MBRSize)
	for _, tc := range []struct {
		name     string
		reboot   updatetest.RebootMode
		mbr      []byte
		features string
		wantMBR  bool
	}{
		{name: "answered reboot", reboot: updatetest.RebootAnswer, mbr: mbr, wantMBR: true},
		{name: "reset during reboot", reboot: updatetest.RebootReset, mbr: mbr, wantMBR: true},
		{name: "EOF during reboot", reboot: updatetest.RebootEOF, mbr: mbr, wantMBR: true},
		{name: "no MBR (Raspberry Pi)", reboot: updatetest.RebootAnswer},
		{name: "features without gpt", reboot: updatetest.RebootReset, features: "partuuid,updatehash,"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := updatetest.New(t, oldBuild)
			f.Reboot = tc.reboot
			f.DownFor = 150 * time.Millisecond
			if tc.features != "" {
				f.Features = tc.features
			}
			dev := Device{BaseURL: f.Start(), Password: f.Password}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			img := testImage(tc.mbr)
			var log progressLog
			if err := Push(ctx, dev, img, log.add); err != nil {
				t.Fatalf("Push: %v", err)
			}

			wantCalls := "GET /update/features PUT /update/root PUT /update/boot "
			if tc.wantMBR {
				wantCalls += "PUT /update/mbr "
			}
			wantCalls += "POST /update/switch POST /reboot GET /"
			if got := f.Calls(); !strings.HasPrefix(got, wantCalls) {
				t.Errorf("device saw %q, want prefix %q", got, wantCalls)
			}
			if string(f.Root()) != newBuild {
				t.Errorf("root = %q, want %q", f.Root(), newBuild)
			}
			if want, _ := io.ReadAll(io.NewSectionReader(img.Boot.(*bytes.Reader), 0, 1<<30)); !bytes.Equal(f.Boot(), want) {
				t.Errorf("boot: device got %d bytes, want %d", len(f.Boot()), len(want))
			}
			if !bytes.Equal(f.MBR(), tc.mbr) {
				t.Errorf("mbr = %d bytes, want %d", len(f.MBR()), len(tc.mbr))
			}
			wantSteps := "features,root,boot,"
			if tc.wantMBR {
				wantSteps += "mbr,"
			}
			wantSteps += "switch,reboot,wait"
			if got := log.steps(); got != wantSteps {
				t.Errorf("progress steps = %s, want %s", got, wantSteps)
			}
			// The features and the switch say what they found: `lapsebox
			// update` prints no step without a detail.
			details := map[string]string{}
			for _, p := range log.ps {
				if p.Detail != "" {
					details[p.Step] = p.Detail
				}
			}
			if got := details[StepFeatures]; !strings.HasPrefix(got, "the device supports partuuid, updatehash") || strings.HasSuffix(got, ",") {
				t.Errorf("features detail %q", got)
			}
			if details[StepSwitch] == "" {
				t.Error("the switch reports no detail")
			}
			// Byte progress for the boot upload ends at the total.
			var last Progress
			var sawDown bool
			for _, p := range log.ps {
				if p.Step == StepBoot {
					last = p
				}
				if p.Step == StepWait && strings.HasPrefix(p.Detail, "down") {
					sawDown = true
				}
			}
			if last.Total == 0 || last.Done != last.Total {
				t.Errorf("last boot progress = %+v, want Done == Total > 0", last)
			}
			if !sawDown {
				t.Errorf("no wait progress reported the device down: %+v", log.ps)
			}
		})
	}
}

// startDevice starts a fake device that is down for 100 ms when it
// reboots, and gives a test 10 s to talk to it.
func startDevice(t *testing.T) (*updatetest.Device, Device, context.Context) {
	f := updatetest.New(t, oldBuild)
	f.DownFor = 100 * time.Millisecond
	dev := Device{BaseURL: f.Start(), Password: f.Password}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return f, dev, ctx
}

// TestPushRootOnly pushes a release whose boot files the device already
// has: the boot partition and the MBR's boot code are not written, and
// the switch still points the device at the new root.
func TestPushRootOnly(t *testing.T) {
	f, dev, ctx := startDevice(t)
	var log progressLog
	if err := Push(ctx, dev, Image{Root: strings.NewReader(newBuild), BuildTimestamp: newBuild}, log.add); err != nil {
		t.Fatalf("Push without boot files: %v", err)
	}
	if got, want := f.Calls(), "GET /update/features PUT /update/root POST /update/switch POST /reboot GET /"; !strings.HasPrefix(got, want) {
		t.Errorf("device saw %q, want prefix %q", got, want)
	}
	if f.Build() != newBuild || string(f.Root()) != newBuild {
		t.Errorf("device runs %q with root %q, want %q", f.Build(), f.Root(), newBuild)
	}
	if len(f.Boot()) != 0 || len(f.MBR()) != 0 {
		t.Errorf("boot files written: %d bytes of boot, %d of MBR", len(f.Boot()), len(f.MBR()))
	}
	if got := log.steps(); got != "features,root,switch,reboot,wait" {
		t.Errorf("progress steps = %s", got)
	}
}

func TestPushErrors(t *testing.T) {
	mbr := bytes.Repeat([]byte{1}, MBRSize)
	for _, tc := range []struct {
		name      string
		setup     func(f *updatetest.Device, dev *Device, img *Image)
		timeout   time.Duration
		wantErr   []string // substrings of the error text
		wantIs    error
		wantCalls string // prefix of what the device saw; "" = nothing authenticated
	}{
		{
			name:    "wrong password",
			setup:   func(f *updatetest.Device, dev *Device, img *Image) { dev.Password = "nope" },
			wantErr: []string{"features", "GET", "/update/features", "HTTP 401", "invalid username/password"},
		},
		{
			name:      "old gokrazy without updatehash",
			setup:     func(f *updatetest.Device, dev *Device, img *Image) { f.Features = "partuuid," },
			wantErr:   []string{"features", `lacks feature "updatehash"`},
			wantCalls: "GET /update/features",
		},
		{
			name:      "wrong root hash",
			setup:     func(f *updatetest.Device, dev *Device, img *Image) { f.WrongHash = "root" },
			wantErr:   []string{"root", "PUT", "/update/root", "hash mismatch", "sha256 "},
			wantIs:    ErrHashMismatch,
			wantCalls: "GET /update/features PUT /update/root",
		},
		{
			name:      "wrong mbr hash",
			setup:     func(f *updatetest.Device, dev *Device, img *Image) { f.WrongHash = "mbr" },
			wantErr:   []string{"mbr", "/update/mbr", "hash mismatch"},
			wantIs:    ErrHashMismatch,
			wantCalls: "GET /update/features PUT /update/root PUT /update/boot PUT /update/mbr",
		},
		{
			name:    "mbr of 512 bytes",
			setup:   func(f *updatetest.Device, dev *Device, img *Image) { img.MBR = make([]byte, 512) },
			wantErr: []string{"MBR is 512 bytes, want exactly 446"},
		},
		{
			name:    "empty mbr slice",
			setup:   func(f *updatetest.Device, dev *Device, img *Image) { img.MBR = []byte{} },
			wantErr: []string{"MBR is 0 bytes"},
		},
		{
			name:    "mbr without boot files",
			setup:   func(f *updatetest.Device, dev *Device, img *Image) { img.Boot = nil },
			wantErr: []string{"Image.MBR without Image.Boot"},
		},
		{
			name:    "no build timestamp",
			setup:   func(f *updatetest.Device, dev *Device, img *Image) { img.BuildTimestamp = "" },
			wantErr: []string{"BuildTimestamp is empty"},
		},
		{
			name: "switch fails",
			setup: func(f *updatetest.Device, dev *Device, img *Image) {
				f.SwitchFail = `"/cmdline.txt" not found`
			},
			wantErr:   []string{"switch", "POST", "/update/switch", "HTTP 500", `\"/cmdline.txt\" not found`},
			wantCalls: "GET /update/features PUT /update/root PUT /update/boot PUT /update/mbr POST /update/switch",
		},
		{
			name:      "comes back with the old build",
			setup:     func(f *updatetest.Device, dev *Device, img *Image) { f.SwitchLost = true },
			wantErr:   []string{"wait", "device came back with build " + oldBuild + ", want " + newBuild},
			wantIs:    ErrWrongBuild,
			wantCalls: "GET /update/features PUT /update/root PUT /update/boot PUT /update/mbr POST /update/switch POST /reboot GET /",
		},
		{
			name:      "never reboots",
			setup:     func(f *updatetest.Device, dev *Device, img *Image) { f.Reboot = updatetest.RebootIgnore },
			timeout:   700 * time.Millisecond,
			wantErr:   []string{"wait", "device still runs build " + oldBuild, "want " + newBuild, "did not reboot", "deadline exceeded"},
			wantIs:    ErrWrongBuild,
			wantCalls: "GET /update/features PUT /update/root PUT /update/boot PUT /update/mbr POST /update/switch POST /reboot GET /",
		},
		{
			name:      "never comes back",
			setup:     func(f *updatetest.Device, dev *Device, img *Image) { f.DownFor = -1 },
			timeout:   700 * time.Millisecond,
			wantErr:   []string{"wait", "device did not come back within", "deadline exceeded", "last poll"},
			wantIs:    context.DeadlineExceeded,
			wantCalls: "GET /update/features PUT /update/root PUT /update/boot PUT /update/mbr POST /update/switch POST /reboot",
		},
		{
			name:    "bad base URL",
			setup:   func(f *updatetest.Device, dev *Device, img *Image) { dev.BaseURL = "127.0.0.1:1" },
			wantErr: []string{`BaseURL "127.0.0.1:1"`},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := updatetest.New(t, oldBuild)
			f.DownFor = 100 * time.Millisecond
			dev := Device{BaseURL: f.Start(), Password: f.Password}
			img := testImage(mbr)
			tc.setup(f, &dev, &img)
			timeout := tc.timeout
			if timeout == 0 {
				timeout = 10 * time.Second
			}
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			start := time.Now()
			err := Push(ctx, dev, img, nil)
			if err == nil {
				t.Fatal("Push succeeded, want an error")
			}
			t.Logf("error: %v", err)
			if d := time.Since(start); d > timeout+2*time.Second {
				t.Errorf("Push took %v with a %v deadline", d, timeout)
			}
			for _, s := range tc.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("error %q is not %v", err, tc.wantIs)
			}
			if got := f.Calls(); !strings.HasPrefix(got, tc.wantCalls) || (tc.wantCalls == "" && got != "") {
				t.Errorf("device saw %q, want prefix %q", got, tc.wantCalls)
			}
		})
	}
}

func TestPushCanceledDuringUpload(t *testing.T) {
	f := updatetest.New(t, oldBuild)
	dev := Device{BaseURL: f.Start(), Password: f.Password}
	ctx, cancel := context.WithCancel(context.Background())
	img := testImage(nil)
	img.Boot = &slowReader{r: bytes.NewReader(make([]byte, 8<<20)), cancel: cancel}
	err := Push(ctx, dev, img, nil)
	if err == nil || !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "boot") {
		t.Fatalf("Push = %v, want a canceled error in step boot", err)
	}
}

// slowReader cancels its context after the first read.
type slowReader struct {
	r      io.ReadSeeker
	cancel func()
	n      int
}

func (s *slowReader) Read(p []byte) (int, error) {
	s.n++
	if s.n == 2 {
		s.cancel()
		time.Sleep(50 * time.Millisecond)
	}
	return s.r.Read(p)
}

func (s *slowReader) Seek(off int64, whence int) (int64, error) { return s.r.Seek(off, whence) }

func TestRedirectToHTTPS(t *testing.T) {
	f := updatetest.New(t, oldBuild)
	dev := Device{BaseURL: f.Start(), Password: f.Password}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://device.example"+r.URL.Path, http.StatusFound)
	})
	dev.Client = &http.Client{Transport: handlerTransport{mux}}
	_, err := GetFeatures(context.Background(), dev)
	if err == nil || !strings.Contains(err.Error(), "HTTP 302") || !strings.Contains(err.Error(), "redirects to https://device.example/update/features") {
		t.Fatalf("GetFeatures = %v, want a redirect error naming the location", err)
	}
}

// handlerTransport answers requests with an http.Handler, in memory.
type handlerTransport struct{ h http.Handler }

func (ht handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := newRecorder()
	ht.h.ServeHTTP(rec, r)
	return rec.result(r), nil
}

type recorder struct {
	hdr  http.Header
	code int
	body bytes.Buffer
}

func newRecorder() *recorder                    { return &recorder{hdr: http.Header{}, code: 200} }
func (r *recorder) Header() http.Header         { return r.hdr }
func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }
func (r *recorder) WriteHeader(code int)        { r.code = code }
func (r *recorder) result(req *http.Request) *http.Response {
	return &http.Response{StatusCode: r.code, Header: r.hdr, Body: io.NopCloser(&r.body), Request: req}
}

func TestStatus(t *testing.T) {
	f := updatetest.New(t, oldBuild)
	dev := Device{BaseURL: f.Start(), Password: f.Password}
	st, err := Status(context.Background(), dev)
	if err != nil {
		t.Fatal(err)
	}
	if st.BuildTimestamp != oldBuild || st.Hostname != "lapsebox-test" || st.Model != "QEMU" ||
		st.Kernel != "Linux 7.1.2 (x86_64)" || st.PermDev != "/dev/vda4" || st.PermTotal != 800<<20 {
		t.Errorf("Status = %+v", st)
	}
	if len(st.Services) != 2 {
		t.Fatalf("Services = %+v, want 2", st.Services)
	}
	cam := st.Service("camerad")
	if cam == nil || cam.Stopped || cam.Pid != 42 || cam.StartTime.IsZero() || len(cam.Args) != 2 {
		t.Errorf(`Service("camerad") = %+v`, cam)
	}
	if hb := st.Service("/gokrazy/heartbeat"); hb == nil || !hb.Stopped {
		t.Errorf(`Service("/gokrazy/heartbeat") = %+v, want stopped`, hb)
	}
	if st.Service("nope") != nil {
		t.Error(`Service("nope") != nil`)
	}

	dev.Password = "wrong"
	if _, err := Status(context.Background(), dev); err == nil || !strings.Contains(err.Error(), "HTTP 401") {
		t.Errorf("Status with a wrong password = %v, want HTTP 401", err)
	}
}

func TestParseFeatures(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    string
		has     []string
		wantErr string
	}{
		{in: `{"features":"partuuid,updatehash,gpt,","EEPROM":null}`, want: "partuuid,updatehash,gpt,", has: []string{"partuuid", "updatehash", "gpt"}},
		{in: `{"features":"partuuid,updatehash,","EEPROM":{"PieepromSHA256":"ab","VL805SHA256":"cd","FirmwareDate":"2026-01-01"}}`, want: "partuuid,updatehash,", has: []string{"updatehash"}},
		{in: "partuuid,updatehash,", want: "partuuid,updatehash,", has: []string{"partuuid"}},
		{in: `{"EEPROM":null}`, wantErr: `no "features" field`},
		{in: `{"features":`, wantErr: "decoding features JSON"},
		{in: "<html>hi</html>", wantErr: "neither JSON nor a feature list"},
		{in: "", wantErr: "neither JSON nor a feature list"},
	} {
		f, err := parseFeatures([]byte(tc.in))
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("parseFeatures(%q) = %v, want error containing %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || f.Features != tc.want {
			t.Errorf("parseFeatures(%q) = %+v, %v; want %q", tc.in, f, err, tc.want)
			continue
		}
		for _, h := range tc.has {
			if !f.Has(h) {
				t.Errorf("parseFeatures(%q).Has(%q) = false", tc.in, h)
			}
		}
		if f.Has("update") {
			t.Errorf("parseFeatures(%q).Has(\"update\") = true; a prefix is not a feature", tc.in)
		}
	}
}

func TestParseStatus(t *testing.T) {
	for _, tc := range []struct {
		in      string
		wantErr string
	}{
		{in: `{"BuildTimestamp":"x","Services":[{"Path":"/user/a","Stopped":true}]}`},
		{in: `<html></html>`, wantErr: "decoding status JSON"},
		{in: `{"Hostname":"h"}`, wantErr: "no BuildTimestamp"},
		{in: `{"BuildTimestamp":"x","Services":{}}`, wantErr: "decoding status JSON"},
	} {
		_, err := parseStatus([]byte(tc.in))
		if (err == nil) != (tc.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("parseStatus(%q) = %v, want error %q", tc.in, err, tc.wantErr)
		}
	}
}

func FuzzParseFeatures(f *testing.F) {
	f.Add([]byte(`{"features":"partuuid,updatehash,gpt,","EEPROM":null}`))
	f.Add([]byte("partuuid,updatehash,"))
	f.Fuzz(func(t *testing.T, b []byte) {
		feat, err := parseFeatures(b)
		if err != nil {
			return
		}
		if feat == nil {
			t.Fatal("nil features without error")
		}
		// Either form gives the same features once written as the JSON
		// form (which cannot carry bytes that are not UTF-8).
		if !utf8.ValidString(feat.Features) {
			return
		}
		enc, err := json.Marshal(map[string]any{"features": feat.Features, "EEPROM": feat.EEPROM})
		if err != nil {
			t.Fatal(err)
		}
		again, err := parseFeatures(enc)
		if err != nil || !reflect.DeepEqual(again, feat) {
			t.Fatalf("round trip: %+v → %s → %+v, %v", feat, enc, again, err)
		}
	})
}

func FuzzParseStatus(f *testing.F) {
	f.Add([]byte(`{"BuildTimestamp":"x","Services":[{"Path":"/user/a","Stopped":true,"StartTime":"2026-11-02T10:00:00Z"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := parseStatus(b)
		if err == nil && st.BuildTimestamp == "" {
			t.Fatal("accepted a status without BuildTimestamp")
		}
		if err == nil {
			st.Service("x")
		}
	})
}

// A trial boot runs the new root once; a reboot without a commit returns
// to the old one, and a commit during the trial keeps the new one.
func TestTrialBoot(t *testing.T) {
	f, dev, ctx := startDevice(t)
	trial := Image{Root: strings.NewReader(newBuild), BuildTimestamp: newBuild, Trial: true}
	if err := Push(ctx, dev, trial, nil); err != nil {
		t.Fatalf("Push on trial: %v", err)
	}
	if got, want := f.Calls(), "GET /update/features PUT /update/root POST /update/testboot POST /reboot GET /"; !strings.HasPrefix(got, want) {
		t.Errorf("device saw %q, want prefix %q", got, want)
	}
	if f.Build() != newBuild {
		t.Fatalf("on trial: build %q", f.Build())
	}
	reboot := func() {
		t.Helper()
		if err := Reboot(ctx, dev); err != nil {
			t.Fatal(err)
		}
		time.Sleep(150 * time.Millisecond) // down, then up again
	}
	reboot()
	if f.Build() != oldBuild {
		t.Fatalf("after a reboot without a commit: build %q, want the old one", f.Build())
	}

	trial.Root = strings.NewReader(newBuild)
	if err := Push(ctx, dev, trial, nil); err != nil {
		t.Fatalf("Push on trial again: %v", err)
	}
	if err := Commit(ctx, dev); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	reboot()
	if f.Build() != newBuild {
		t.Fatalf("after a commit and a reboot: build %q, want the new one", f.Build())
	}

	// A trial never writes boot files: the kernel is the running one.
	bad := Image{Root: strings.NewReader(newBuild), Boot: strings.NewReader("FAT"), BuildTimestamp: newBuild, Trial: true}
	if err := Push(ctx, dev, bad, nil); err == nil || !strings.Contains(err.Error(), "running kernel") {
		t.Errorf("a trial with boot files: %v", err)
	}
}
