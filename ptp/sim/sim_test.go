package sim

import (
	"bytes"
	"context"
	"errors"
	"image/jpeg"
	"io"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/ptp"
)

func conn(t *testing.T, d *Device) *ptp.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c, err := ptp.Open(ctx, d, &ptp.Options{Timeout: time.Second, DrainTimeout: 10 * time.Millisecond, BusyBackoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestPackets reads files whose data containers end on and off packet
// boundaries, with and without ZLPs (the response then glued on).
func TestPackets(t *testing.T) {
	for _, noZLP := range []bool{false, true} {
		for _, mps := range []int{64, 512} {
			sizes := []int{0, 1, 52, 500, 64*100 - 12, 512*3 - 12, 100_000}
			var files []File
			for i, n := range sizes {
				files = append(files, File{Path: "DCIM/100TEST/F" + itoa(i) + ".JPG", Data: bytes.Repeat([]byte{byte(i + 1)}, n)})
			}
			d := New(Config{Model: DownloadOnly, MaxPacketSize: mps, NoZLP: noZLP, Files: files})
			c := conn(t, d)
			for _, f := range d.Card() {
				var buf bytes.Buffer
				if err := c.GetObject(context.Background(), f.Handle, &buf); err != nil || int64(buf.Len()) != f.Size {
					t.Fatalf("mps %d noZLP %v %s: %d bytes, %v", mps, noZLP, f.Path, buf.Len(), err)
				}
			}
			if v := d.Violations(); len(v) > 0 {
				t.Errorf("violations %q", v)
			}
		}
	}
}

func TestStallCancel(t *testing.T) {
	d := New(Config{Model: DownloadOnly, Files: []File{{Path: "A.JPG", Data: make([]byte, 100_000)}}})
	c := conn(t, d)
	h := d.Card()[0].Handle
	d.Inject(Fault{Kind: Stall, Op: ptp.OpGetObject, At: 5000})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	var buf bytes.Buffer
	if err := c.GetObject(ctx, h, &buf); !errors.Is(err, context.DeadlineExceeded) || buf.Len() > 5000 {
		t.Fatalf("stalled GetObject: %d bytes, %v", buf.Len(), err)
	}
	// The next transaction recovers with Cancel and works.
	buf.Reset()
	if err := c.GetObject(context.Background(), h, &buf); err != nil || buf.Len() != 100_000 {
		t.Fatalf("after the stall: %d bytes, %v", buf.Len(), err)
	}
	if d.Cancels() != 1 {
		t.Errorf("%d cancels", d.Cancels())
	}
}

func TestOutStallWhileInFlight(t *testing.T) {
	d := New(Config{Model: DownloadOnly})
	cmd := func(tid uint32) []byte {
		b, _ := (&ptp.Container{Type: ptp.ContainerCommand, Code: uint16(ptp.OpGetDeviceInfo), TransactionID: tid}).MarshalBinary()
		return b
	}
	if err := d.Send(context.Background(), cmd(0)); err != nil {
		t.Fatal(err)
	}
	if err := d.Send(context.Background(), cmd(0)); !errors.Is(err, ErrStall) {
		t.Fatalf("second command: %v", err)
	}
}

func TestUnplugWakesWaiters(t *testing.T) {
	d := New(Config{Model: Generic})
	errc := make(chan error, 2)
	go func() { _, err := d.Interrupt(context.Background(), make([]byte, 64)); errc <- err }()
	go func() { _, err := d.Receive(context.Background(), make([]byte, 512)); errc <- err }()
	time.Sleep(10 * time.Millisecond)
	d.Unplug()
	for i := 0; i < 2; i++ {
		select {
		case err := <-errc:
			if !errors.Is(err, ptp.ErrNoDevice) {
				t.Errorf("waiter: %v", err)
			}
		case <-time.After(time.Second):
			t.Fatal("waiter not woken by Unplug")
		}
	}
	if err := d.Send(context.Background(), []byte{1}); !errors.Is(err, ptp.ErrNoDevice) {
		t.Errorf("Send after Unplug: %v", err)
	}
	d.Replug()
	conn(t, d)
}

func TestGeneratedFiles(t *testing.T) {
	d := New(Config{Model: Generic, Quality: RAWAndJPEG, Seed: 7, JPEGSize: 200_000, RAWSize: 1 << 20})
	c := conn(t, d)
	if err := c.InitiateCapture(context.Background(), 0, 0); err != nil {
		t.Fatal(err)
	}
	var evs []ptp.Event
	for len(evs) < 3 {
		ev, err := c.ReadEvent(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
	}
	if evs[0].Code != ptp.EventObjectAdded || evs[1].Code != ptp.EventObjectAdded || evs[2].Code != ptp.EventCaptureComplete || evs[2].TransactionID != evs[0].TransactionID {
		t.Fatalf("events %v", evs)
	}
	card := d.Card()
	if len(card) != 2 || card[0].Format != ptp.FormatDNG || card[1].Format != ptp.FormatEXIFJPEG {
		t.Fatalf("card %+v", card)
	}
	var jpg, raw bytes.Buffer
	c.GetObject(context.Background(), card[1].Handle, &jpg)
	c.GetObject(context.Background(), card[0].Handle, &raw)
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(jpg.Bytes()))
	if err != nil || cfg.Width != 640 || jpg.Len() != 200_000 {
		t.Errorf("JPEG: %+v, %d bytes, %v", cfg, jpg.Len(), err)
	}
	if _, err := jpeg.Decode(bytes.NewReader(jpg.Bytes())); err != nil {
		t.Errorf("JPEG does not decode: %v", err)
	}
	if raw.Len() != 1<<20 || !bytes.HasPrefix(raw.Bytes(), []byte("II*\x00")) {
		t.Errorf("RAW: %d bytes % x", raw.Len(), raw.Bytes()[:8])
	}
	// The same seed makes the same RAW; reading in pieces gives the same bytes.
	d2 := New(Config{Model: Generic, Quality: RAW, Seed: 7, RAWSize: 1 << 20})
	f := d2.raw.file(1, 1<<20, ".DNG")
	var pieces bytes.Buffer
	io.Copy(&pieces, io.NewSectionReader(f, 0, 1<<20))
	if !bytes.Equal(pieces.Bytes(), raw.Bytes()) {
		t.Error("RAW is not deterministic")
	}
}
