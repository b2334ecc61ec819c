package sim_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/internal/usbredir"
	"github.com/lapsebox/lapsebox/ptp"
	"github.com/lapsebox/lapsebox/ptp/sim"
)

// usbTransport drives a usbredir.Device the way the gousb transport drives
// a camera, so that ptp.Conn runs over the USB view of the simulator.
type usbTransport struct{ dev usbredir.Device }

func (t usbTransport) Send(ctx context.Context, p []byte) error { return t.dev.BulkOut(ctx, 0x02, p) }

func (t usbTransport) Receive(ctx context.Context, p []byte) (int, error) {
	b, err := t.dev.BulkIn(ctx, 0x81, len(p))
	return copy(p, b), err
}

func (t usbTransport) Interrupt(ctx context.Context, p []byte) (int, error) {
	b, err := t.dev.InterruptIn(ctx, 0x83)
	return copy(p, b), err
}

func (t usbTransport) MaxPacketSize() int {
	return int(t.dev.Descriptors().Interfaces[0].Endpoints[0].MaxPacketSize)
}

func (t usbTransport) Cancel(ctx context.Context, tid uint32) error {
	data := binary.LittleEndian.AppendUint32([]byte{0x01, 0x40}, tid)
	_, err := t.dev.Control(ctx, usbredir.Setup{RequestType: 0x21, Request: 0x64, Length: 6}, data)
	return err
}

func (t usbTransport) Reset(ctx context.Context) error {
	_, err := t.dev.Control(ctx, usbredir.Setup{RequestType: 0x21, Request: 0x66}, nil)
	return err
}

func (t usbTransport) Status(ctx context.Context) (ptp.ResponseCode, []uint32, error) {
	b, err := t.dev.Control(ctx, usbredir.Setup{RequestType: 0xa1, Request: 0x67, Length: 64}, nil)
	if err != nil {
		return 0, nil, err
	}
	if len(b) < 4 || int(binary.LittleEndian.Uint16(b)) != len(b) {
		return 0, nil, errors.New("bad device status")
	}
	var params []uint32
	for p := b[4:]; len(p) >= 4; p = p[4:] {
		params = append(params, binary.LittleEndian.Uint32(p))
	}
	return ptp.ResponseCode(binary.LittleEndian.Uint16(b[2:])), params, nil
}

func (t usbTransport) Close() error { return nil }

func TestUSBDescriptors(t *testing.T) {
	for _, tc := range []struct {
		model                 sim.Model
		vid, pid              uint16
		manufacturer, product string
	}{
		{sim.CanonEOS600D, 0x04a9, 0x3218, "Canon Inc.", "Canon Digital Camera"},
		{sim.NikonD7000, 0x04b0, 0x0428, "Nikon Corporation", "D7000"},
	} {
		d := sim.New(sim.Config{Model: tc.model, SerialNumber: "SN123"}).USB(sim.USBOptions{}).Descriptors()
		if err := d.Validate(); err != nil {
			t.Errorf("%v: %v", tc.model, err)
		}
		if d.Speed != usbredir.SpeedHigh || d.VendorID != tc.vid || d.ProductID != tc.pid ||
			d.Manufacturer != tc.manufacturer || d.Product != tc.product || d.SerialNumber != "SN123" {
			t.Errorf("%v: descriptors %+v", tc.model, d)
		}
		i := d.Interfaces[0]
		if i.Class != 6 || i.SubClass != 1 || i.Protocol != 1 || len(i.Endpoints) != 3 ||
			i.Endpoints[0] != (usbredir.Endpoint{Address: 0x81, Type: usbredir.Bulk, MaxPacketSize: 512}) {
			t.Errorf("%v: interface %+v", tc.model, i)
		}
	}
	if d := sim.New(sim.Config{MaxPacketSize: 64}).USB(sim.USBOptions{}).Descriptors(); d.Speed != usbredir.SpeedFull {
		t.Errorf("64-byte packets: speed %d, want full", d.Speed)
	}
}

func TestUSBPTP(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	photos := t.TempDir()
	cam := sim.New(sim.Config{Model: sim.Generic, Quality: sim.RAWAndJPEG, JPEGSize: 20_000, RAWSize: 30_000})
	dev := cam.USB(sim.USBOptions{PhotoDir: photos, Logf: t.Logf})
	c := ptp.NewConn(usbTransport{dev}, nil)
	di, err := c.GetDeviceInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if di.Model != "PTP-1" {
		t.Errorf("DeviceInfo.Model = %q", di.Model)
	}
	if err := c.OpenSession(ctx, 1); err != nil {
		t.Fatal(err)
	}
	ids, err := c.GetStorageIDs(ctx)
	if err != nil || len(ids) != 1 {
		t.Fatalf("GetStorageIDs: %v, %v", ids, err)
	}
	if err := c.InitiateCapture(ctx, 0, 0); err != nil {
		t.Fatal(err)
	}
	var added []uint32
	for {
		ev, err := c.ReadEvent(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ev.Code == ptp.EventObjectAdded {
			added = append(added, ev.Params[0])
		}
		if ev.Code == ptp.EventCaptureComplete {
			break
		}
	}
	if len(added) != 2 {
		t.Fatalf("capture added %d objects, want 2 (RAW and JPEG)", len(added))
	}
	for _, h := range added {
		oi, err := c.GetObjectInfo(ctx, h)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := c.GetObject(ctx, h, &buf); err != nil {
			t.Fatal(err)
		}
		saved, err := os.ReadFile(filepath.Join(photos, oi.Filename))
		if err != nil {
			t.Fatalf("the picture was not copied to PhotoDir: %v", err)
		}
		if !bytes.Equal(saved, buf.Bytes()) {
			t.Errorf("%s: PhotoDir has %d bytes, GetObject %d, not the same", oi.Filename, len(saved), buf.Len())
		}
	}
	if v := cam.Violations(); len(v) > 0 {
		t.Errorf("protocol violations: %q", v)
	}

	// Class requests: Cancel, then Status reports it; an unknown one stalls.
	tr := usbTransport{dev}
	if err := tr.Cancel(ctx, 9); err != nil {
		t.Fatal(err)
	}
	if code, _, err := tr.Status(ctx); err != nil || code != ptp.RespTransactionCancelled {
		t.Errorf("Status after Cancel: %v, %v", code, err)
	}
	if err := tr.Reset(ctx); err != nil || cam.Resets() != 1 || cam.Cancels() != 1 {
		t.Errorf("Reset: %v; device saw %d resets, %d cancels", err, cam.Resets(), cam.Cancels())
	}
	if _, err := dev.Control(ctx, usbredir.Setup{RequestType: 0xa1, Request: 0x65, Length: 8}, nil); !errors.Is(err, usbredir.ErrStall) {
		t.Errorf("Get Extended Event Data: %v, want a stall", err)
	}
	if _, err := dev.Control(ctx, usbredir.Setup{RequestType: 0x21, Request: 0x64, Length: 2}, []byte{1, 0x40}); !errors.Is(err, usbredir.ErrStall) {
		t.Errorf("Cancel Request with 2 bytes: %v, want a stall", err)
	}

	// An unplugged camera is gone for usbredir too.
	cam.Unplug()
	if _, err := dev.BulkIn(ctx, 0x81, 512); !errors.Is(err, usbredir.ErrNoDevice) {
		t.Errorf("BulkIn from an unplugged camera: %v, want ErrNoDevice", err)
	}
}
