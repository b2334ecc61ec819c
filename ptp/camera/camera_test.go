package camera

import (
	"bytes"
	"context"
	"errors"
	"image/jpeg"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/ptp"
	"github.com/lapsebox/lapsebox/ptp/sim"
)

// Small files keep the tests fast; the RAW spans several 1 MiB chunks and
// ends off a packet boundary.
const (
	testJPEGSize = 24_000
	testRAWSize  = 3<<20 + 123
)

func testConfig(m sim.Model, q sim.Quality) sim.Config {
	return sim.Config{Model: m, Quality: q, Seed: 1, JPEGSize: testJPEGSize, JPEGWidth: 160, JPEGHeight: 106, RAWSize: testRAWSize}
}

func testOptions() Options {
	return Options{
		Conn:            ptp.Options{Timeout: 2 * time.Second, BusyBackoff: time.Millisecond, MaxBusyBackoff: 5 * time.Millisecond, DrainTimeout: 20 * time.Millisecond},
		OpTimeout:       300 * time.Millisecond,
		PairTimeout:     500 * time.Millisecond,
		PollInterval:    2 * time.Millisecond,
		MaxPollInterval: 10 * time.Millisecond,
	}
}

// open starts a simulator and opens it, with a test deadline.
func open(t testing.TB, cfg sim.Config, opts Options) (*sim.Device, *Camera) {
	t.Helper()
	d := sim.New(cfg)
	opts.Conn.USBVendorID = d.USBVendorID()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Open(ctx, d, opts)
	if err != nil {
		t.Fatalf("Open %v: %v", cfg.Model, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		c.Close(ctx)
	})
	return d, c
}

func capture(t testing.TB, c *Camera, sink Sink) ([]File, error, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	files, err := c.Capture(ctx, sink)
	return files, err, time.Since(start)
}

func checkNoViolations(t *testing.T, d *sim.Device) {
	t.Helper()
	if v := d.Violations(); len(v) > 0 {
		t.Errorf("protocol violations: %q", v)
	}
}

func TestCapture(t *testing.T) {
	tests := []struct {
		name    string
		model   sim.Model
		quality sim.Quality
		target  Target
		want    []string // file names
	}{
		{"EOS card JPG", sim.CanonEOS600D, sim.JPEG, Card, []string{"IMG_0001.JPG"}},
		{"EOS card RAW", sim.CanonEOS600D, sim.RAW, Card, []string{"IMG_0001.CR2"}},
		{"EOS card RAW+JPG", sim.CanonEOS600D, sim.RAWAndJPEG, Card, []string{"IMG_0001.CR2", "IMG_0001.JPG"}},
		{"EOS host JPG", sim.CanonEOS600D, sim.JPEG, Host, []string{"IMG_0001.JPG"}},
		{"EOS host RAW+JPG", sim.CanonEOS600D, sim.RAWAndJPEG, Host, []string{"IMG_0001.CR2", "IMG_0001.JPG"}},
		{"Nikon JPG", sim.NikonD7000, sim.JPEG, Card, []string{"DSC_0001.JPG"}},
		{"Nikon RAW", sim.NikonD7000, sim.RAW, Card, []string{"DSC_0001.NEF"}},
		{"Nikon RAW+JPG", sim.NikonD7000, sim.RAWAndJPEG, Card, []string{"DSC_0001.NEF", "DSC_0001.JPG"}},
		{"generic JPG", sim.Generic, sim.JPEG, Card, []string{"IMG_0001.JPG"}},
		{"generic RAW", sim.Generic, sim.RAW, Card, []string{"IMG_0001.DNG"}},
		{"generic RAW+JPG", sim.Generic, sim.RAWAndJPEG, Card, []string{"IMG_0001.DNG", "IMG_0001.JPG"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := testOptions()
			opts.Target = tt.target
			d, c := open(t, testConfig(tt.model, tt.quality), opts)
			for shot := 1; shot <= 2; shot++ {
				sinks := map[string]*bytes.Buffer{}
				files, err, _ := capture(t, c, func(f File) (io.Writer, error) {
					b := new(bytes.Buffer)
					sinks[f.Name] = b
					return b, nil
				})
				if err != nil {
					t.Fatalf("shot %d: %v", shot, err)
				}
				var names []string
				for _, f := range files {
					names = append(names, f.Name)
					if got := int64(sinks[f.Name].Len()); got != f.Size {
						t.Errorf("%s: %d bytes in the sink, size %d", f.Name, got, f.Size)
					}
					if f.RAW != !strings.HasSuffix(f.Name, ".JPG") {
						t.Errorf("%s: RAW = %v", f.Name, f.RAW)
					}
					if f.RAW && f.Size != testRAWSize {
						t.Errorf("%s: %d bytes, want %d", f.Name, f.Size, testRAWSize)
					}
					if !f.RAW {
						cfg, err := jpeg.DecodeConfig(bytes.NewReader(sinks[f.Name].Bytes()))
						if err != nil || cfg.Width != 160 {
							t.Errorf("%s: not the JPEG expected: %+v, %v", f.Name, cfg, err)
						}
					}
				}
				want := strings.Join(tt.want, " ")
				if shot == 2 {
					want = strings.ReplaceAll(want, "0001", "0002")
				}
				if got := strings.Join(names, " "); got != want {
					t.Errorf("shot %d: files %q, want %q", shot, got, want)
				}
			}
			if n := d.Buffered(); n != 0 {
				t.Errorf("%d pictures left in the camera's buffer", n)
			}
			checkNoViolations(t, d)
		})
	}
}

func TestCaptureWithoutSink(t *testing.T) {
	d, c := open(t, testConfig(sim.CanonEOS600D, sim.RAWAndJPEG), testOptions())
	files, err, _ := capture(t, c, nil)
	if err != nil || len(files) != 2 {
		t.Fatalf("%d files, %v", len(files), err)
	}
	for _, f := range files {
		if int64(len(f.Data)) != f.Size || cap(f.Data) != len(f.Data) {
			t.Errorf("%s: len %d cap %d, size %d", f.Name, len(f.Data), cap(f.Data), f.Size)
		}
	}
	// The download equals the file on the card.
	card := d.Card()
	if len(card) != 2 || card[0].Size != files[0].Size {
		t.Fatalf("card %+v", card)
	}
	checkNoViolations(t, d)
}

func TestKindOf(t *testing.T) {
	info := func(m sim.Model) *ptp.DeviceInfo {
		d := sim.New(sim.Config{Model: m})
		c := ptp.NewConn(d, nil)
		di, err := c.GetDeviceInfo(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return di
	}
	mtpCanon := info(sim.CanonEOS600D)
	mtpCanon.VendorExtensionID = ptp.VendorMicrosoft
	mtpCanon.Manufacturer = ""
	tests := []struct {
		name string
		di   *ptp.DeviceInfo
		vid  uint16
		want Kind
	}{
		{"EOS", info(sim.CanonEOS600D), 0, CanonEOS},
		{"Nikon", info(sim.NikonD7000), 0, Nikon},
		{"generic", info(sim.Generic), 0, Generic},
		{"QEMU", info(sim.DownloadOnly), 0, DownloadOnly},
		{"Canon as MTP, no hint", mtpCanon, 0, DownloadOnly},
		{"Canon as MTP, Canon VID", mtpCanon, 0x04A9, CanonEOS},
		{"Nikon with a Canon VID", info(sim.NikonD7000), 0x04A9, Nikon},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := KindOf(tt.di, tt.vid); got != tt.want {
				t.Errorf("KindOf = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestDownloadOnly(t *testing.T) {
	cfg := testConfig(sim.DownloadOnly, sim.JPEG)
	cfg.Files = []sim.File{{Path: "DCIM/100CANON/IMG_0001.JPG", Data: []byte("not really a jpeg")}}
	d, c := open(t, cfg, testOptions())
	if c.Kind() != DownloadOnly {
		t.Fatalf("kind %v", c.Kind())
	}
	_, err, _ := capture(t, c, nil)
	if !errors.Is(err, ErrNoCapture) || err.Error() != "camera: capture: camera cannot capture" {
		t.Errorf("Capture: %v", err)
	}
	// The files are still there for the download mode.
	hs, err := c.Conn().GetObjectHandles(context.Background(), ptp.AllStorages, ptp.AllImages, ptp.AllObjects)
	if err != nil || len(hs) != 1 {
		t.Errorf("handles %v, %v", hs, err)
	}
	checkNoViolations(t, d)
}

func TestIdentity(t *testing.T) {
	tests := []struct {
		model sim.Model
		owner string
		want  Identity
	}{
		{sim.CanonEOS600D, "Glacier cam", Identity{Manufacturer: "Canon Inc.", Model: "Canon EOS 600D", SerialNumber: "2c8f3a1e9b4d4f1a8c7e", DeviceVersion: "3-1.0.2", Owner: "Glacier cam"}},
		{sim.CanonEOS600D, "", Identity{Manufacturer: "Canon Inc.", Model: "Canon EOS 600D", SerialNumber: "2c8f3a1e9b4d4f1a8c7e", DeviceVersion: "3-1.0.2"}},
		{sim.Generic, "Roof", Identity{Manufacturer: "Acme Optics", Model: "PTP-1", SerialNumber: "GEN0001", DeviceVersion: "1.0", Owner: "Roof"}},
		{sim.NikonD7000, "", Identity{Manufacturer: "Nikon Corporation", Model: "D7000", SerialNumber: "3012345", DeviceVersion: "V1.03"}},
	}
	for _, tt := range tests {
		t.Run(tt.model.String()+"/"+tt.owner, func(t *testing.T) {
			cfg := testConfig(tt.model, sim.JPEG)
			cfg.Owner = tt.owner
			_, c := open(t, cfg, testOptions())
			if got := c.Identity(); got != tt.want {
				t.Errorf("Identity = %+v, want %+v", got, tt.want)
			}
			if !c.Identity().Same(Identity{Model: tt.want.Model, SerialNumber: tt.want.SerialNumber, Owner: "other"}) {
				t.Error("Same ignores the owner")
			}
		})
	}
}

func TestFocusFailure(t *testing.T) {
	for _, m := range []sim.Model{sim.CanonEOS600D, sim.NikonD7000} {
		t.Run(m.String(), func(t *testing.T) {
			d, c := open(t, testConfig(m, sim.JPEG), testOptions())
			d.SetFocus(false)
			files, err, took := capture(t, c, nil)
			if !errors.Is(err, ErrFocus) || len(files) != 0 {
				t.Fatalf("Capture = %d files, %v", len(files), err)
			}
			if m == sim.CanonEOS600D && err.Error() != "camera: RemoteReleaseOn: focus failed" {
				t.Errorf("error %q", err)
			}
			if took > 2*time.Second {
				t.Errorf("took %v", took)
			}
			// Manual focus needs no autofocus; and focus back makes it work.
			d.SetFocus(true)
			if files, err, _ := capture(t, c, nil); err != nil || len(files) != 1 {
				t.Fatalf("after focus: %d files, %v", len(files), err)
			}
			checkNoViolations(t, d)
		})
	}
}

func TestManualFocus(t *testing.T) {
	opts := testOptions()
	opts.ManualFocus = true
	d, c := open(t, testConfig(sim.CanonEOS600D, sim.JPEG), opts)
	d.SetFocus(false)
	if files, err, _ := capture(t, c, nil); err != nil || len(files) != 1 {
		t.Fatalf("%d files, %v", len(files), err)
	}
}

// clock is a settable clock for the simulator.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestSleep(t *testing.T) {
	clk := &clock{t: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}
	cfg := testConfig(sim.CanonEOS600D, sim.JPEG)
	cfg.IdleSleep = time.Minute
	cfg.Now = clk.Now
	d, c := open(t, cfg, testOptions())

	// Kept awake: KeepAlive more often than the idle time.
	for i := 0; i < 5; i++ {
		clk.advance(40 * time.Second)
		if err := c.KeepAlive(context.Background()); err != nil {
			t.Fatalf("KeepAlive: %v", err)
		}
	}
	if files, err, _ := capture(t, c, nil); err != nil || len(files) != 1 {
		t.Fatalf("awake: %d files, %v", len(files), err)
	}

	// Left alone, it falls asleep: a capture ends with a clear error by its
	// deadline, not a hang.
	clk.advance(2 * time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	start := time.Now()
	_, err := c.Capture(ctx, nil)
	if err == nil || !d.Asleep() {
		t.Fatalf("asleep: %v", err)
	}
	if took := time.Since(start); took > 1500*time.Millisecond {
		t.Errorf("took %v", took)
	}
	t.Logf("asleep: %v", err)
	if err := c.KeepAlive(context.Background()); err == nil {
		t.Error("KeepAlive to a sleeping camera succeeded")
	}

	// Woken (a button, a power cycle), the camera needs a new session.
	d.Wake()
	c2, err := Open(context.Background(), d, testOptions())
	if err != nil {
		t.Fatalf("re-open: %v", err)
	}
	if files, err, _ := capture(t, c2, nil); err != nil || len(files) != 1 {
		t.Fatalf("after wake: %d files, %v", len(files), err)
	}
}

func TestPairDeadline(t *testing.T) {
	cfg := testConfig(sim.CanonEOS600D, sim.RAWAndJPEG)
	cfg.PairPolls = 1000 // the JPG comes much later
	opts := testOptions()
	opts.PairTimeout = 50 * time.Millisecond
	opts.MaxPollInterval = 2 * time.Millisecond
	_, c := open(t, cfg, opts)
	files, err, _ := capture(t, c, nil)
	if !errors.Is(err, ErrMissingFile) || len(files) != 1 || files[0].Name != "IMG_0001.CR2" {
		t.Fatalf("%d files, %v", len(files), err)
	}
	t.Logf("%v", err)
}

func TestKeepAliveDuringCapture(t *testing.T) {
	d, c := open(t, testConfig(sim.CanonEOS600D, sim.RAWAndJPEG), testOptions())
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := c.KeepAlive(context.Background()); err != nil {
				t.Errorf("KeepAlive: %v", err)
				return
			}
		}
	}()
	for i := 0; i < 3; i++ {
		if files, err, _ := capture(t, c, nil); err != nil || len(files) != 2 {
			t.Errorf("%d files, %v", len(files), err)
		}
	}
	close(stop)
	wg.Wait()
	checkNoViolations(t, d)
}
