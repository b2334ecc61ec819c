package usb

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/gousb"

	"github.com/lapsebox/lapsebox/ptp"
)

func newTestContext(t *testing.T, cams ...*fakeCamera) (*Context, *fakeBus) {
	t.Helper()
	b := &fakeBus{}
	for _, c := range cams {
		b.plug(c)
	}
	return &Context{bus: b, opts: (*Options)(nil).withDefaults()}, b
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestFindStillImage(t *testing.T) {
	si, ok := findStillImage(stillImageDesc())
	if !ok {
		t.Fatal("no Still Image interface found")
	}
	if si.config != 1 || si.number != 1 || si.in.Address != 0x81 || si.out.Address != 0x02 || !si.hasIntr || si.intr.Address != 0x83 {
		t.Errorf("found %+v, want config 1 interface 1, endpoints 0x81 0x02 0x83", si)
	}
	d := stillImageDesc()
	cfg := d.Configs[1]
	cfg.Interfaces = cfg.Interfaces[:1] // the vendor interface alone
	d.Configs[1] = cfg
	if _, ok := findStillImage(d); ok {
		t.Error("a vendor-specific interface was taken for a camera")
	}
}

func TestOpenAndGetObject(t *testing.T) {
	cam := newFakeCamera("USB1", "PTP1")
	cam.objectSize = 1<<20 + 12 // crosses many 128 KiB transfers
	c, _ := newTestContext(t, cam)
	ctx := testCtx(t)
	tr, err := c.Open(ctx, Selector{})
	if err != nil {
		t.Fatal(err)
	}
	if info := tr.Info(); info.Serial != "USB1" || info.Interface != 1 || info.MaxPacketSize != 512 || info.Speed != "high" {
		t.Errorf("Info %+v", info)
	}
	conn, err := ptp.Open(ctx, tr, nil)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := conn.GetObject(ctx, 1, &buf); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), pattern(cam.objectSize)) {
		t.Errorf("GetObject: %d bytes, not the object's %d", buf.Len(), cam.objectSize)
	}
	if !tr.Usable() {
		t.Error("an open transport is not usable")
	}
	if err := conn.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := cam.calls(), "release interface, release config, close device"; !strings.HasSuffix(got, want) {
		t.Errorf("calls %q, want them to end with %q", got, want)
	}
	// Closing the session closed the transport: whoever kept it must see
	// that, and every call says why it fails.
	if tr.Usable() {
		t.Error("a closed transport is usable")
	}
	if _, err := ptp.NewConn(tr, nil).GetDeviceInfo(ctx); !errors.Is(err, ptp.ErrClosed) {
		t.Errorf("GetDeviceInfo over a closed transport: %v, want ErrClosed", err)
	}
	if err := tr.ResetPort(ctx); !errors.Is(err, ptp.ErrClosed) {
		t.Errorf("ResetPort of a closed transport: %v, want ErrClosed", err)
	}
}

func TestSelectBySerial(t *testing.T) {
	a := newFakeCamera("A-USB", "A-PTP")
	b := newFakeCamera("", "B-PTP") // no iSerial: only PTP knows it
	c, _ := newTestContext(t, a, b)
	ctx := testCtx(t)
	for _, tc := range []struct {
		serial string
		want   *fakeCamera
	}{
		{"A-USB", a}, {"A-PTP", a}, {"B-PTP", b}, {"", a},
	} {
		tr, err := c.Open(ctx, Selector{Serial: tc.serial})
		if err != nil {
			t.Fatalf("serial %q: %v", tc.serial, err)
		}
		if got := tr.Info().Address; got != tc.want.dd.Address {
			t.Errorf("serial %q opened address %d, want %d", tc.serial, got, tc.want.dd.Address)
		}
		tr.Close()
	}
	_, err := c.Open(ctx, Selector{Serial: "C"})
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown serial: %v, want ErrNotFound", err)
	}
	for _, cam := range []*fakeCamera{a, b} {
		if cam.opened != cam.closed || cam.claimed {
			t.Errorf("camera %s: opened %d times, closed %d, claimed %v", cam.ptpSerial, cam.opened, cam.closed, cam.claimed)
		}
	}
	infos, err := c.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 2 || infos[0].PTPSerial != "A-PTP" || infos[1].SerialNumber() != "B-PTP" || infos[1].Model != "Canon EOS 600D" {
		t.Errorf("List: %+v", infos)
	}
}

// TestUnplugAndRediscover unplugs the camera in the middle of a GetObject:
// the error must say the device is gone, the transport must close in
// gousb's order, and Wait must find the camera at its new address.
func TestUnplugAndRediscover(t *testing.T) {
	cam := newFakeCamera("", "SERIAL")
	cam.objectSize = 3 << 20
	c, bus := newTestContext(t, newFakeCamera("OTHER", "OTHER"), cam)
	ctx := testCtx(t)
	tr, err := c.Open(ctx, Selector{Serial: "SERIAL"})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := ptp.Open(ctx, tr, nil)
	if err != nil {
		t.Fatal(err)
	}
	cam.mu.Lock()
	cam.unplugAt = cam.sent + 1<<20
	cam.mu.Unlock()
	var buf bytes.Buffer
	err = conn.GetObject(ctx, 1, &buf)
	if !errors.Is(err, ptp.ErrNoDevice) {
		t.Fatalf("GetObject while unplugged: %v, want ErrNoDevice", err)
	}
	if got, want := cam.calls(), "release interface, release config, close device"; !strings.HasSuffix(got, want) {
		t.Errorf("calls %q, want them to end with %q", got, want)
	}
	before := cam.calls()
	if err := tr.Send(ctx, []byte{1}); !errors.Is(err, ptp.ErrNoDevice) {
		t.Errorf("Send after the unplug: %v", err)
	}
	if _, err := tr.Receive(ctx, make([]byte, 512)); !errors.Is(err, ptp.ErrNoDevice) {
		t.Errorf("Receive after the unplug: %v", err)
	}
	if _, err := tr.ReceiveBuffered(ctx, 1<<20); !errors.Is(err, ptp.ErrNoDevice) {
		t.Errorf("ReceiveBuffered after the unplug: %v", err)
	}
	if cam.calls() != before {
		t.Errorf("the transport used the device after it was gone: %q", cam.calls())
	}
	if tr.Usable() {
		t.Error("a transport whose camera left the bus is usable")
	}
	if err := tr.Close(); err != nil {
		t.Errorf("Close after the unplug: %v", err)
	}

	// Plugged in again, a little later, at another address.
	again := newFakeCamera("", "SERIAL")
	go func() {
		time.Sleep(300 * time.Millisecond)
		bus.plug(again)
	}()
	tr2, err := c.Wait(ctx, Selector{Serial: "SERIAL"}, 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer tr2.Close()
	if tr2.Info().Address != again.dd.Address || again.dd.Address == cam.dd.Address {
		t.Errorf("Wait opened address %d, the camera is back at %d (was %d)", tr2.Info().Address, again.dd.Address, cam.dd.Address)
	}
}

// TestDeadlines checks that every blocking call returns soon after its
// context is done, with an error that says so.
func TestDeadlines(t *testing.T) {
	c, _ := newTestContext(t, newFakeCamera("S", "S"))
	tr, err := c.Open(testCtx(t), Selector{})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	for name, call := range map[string]func(context.Context) error{
		"Receive":         func(ctx context.Context) error { _, err := tr.Receive(ctx, make([]byte, 512)); return err },
		"ReceiveBuffered": func(ctx context.Context) error { _, err := tr.ReceiveBuffered(ctx, 1024); return err },
		"Interrupt":       func(ctx context.Context) error { _, err := tr.Interrupt(ctx, make([]byte, 512)); return err },
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		start := time.Now()
		err := call(ctx)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s with nothing to read: %v, want DeadlineExceeded", name, err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("%s took %v", name, d)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := tr.Cancel(ctx, 1); !errors.Is(err, context.Canceled) {
		t.Errorf("Cancel with a done context: %v", err)
	}
	if _, err := tr.Receive(context.Background(), make([]byte, 100)); err == nil {
		t.Error("Receive into 100 bytes (not a multiple of 512) did not fail")
	}
	if _, err := tr.ReceiveBuffered(context.Background(), 1000); err == nil {
		t.Error("ReceiveBuffered of 1000 bytes (not a multiple of 512) did not fail")
	}
	// Close aborts a transfer that waits for an event.
	done := make(chan error)
	go func() {
		_, err := tr.Interrupt(context.Background(), make([]byte, 512))
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	tr.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Error("Interrupt returned no error after Close")
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Close did not end a pending Interrupt")
	}
}

func TestEvents(t *testing.T) {
	cam := newFakeCamera("S", "S")
	c, _ := newTestContext(t, cam)
	ctx := testCtx(t)
	tr, err := c.Open(ctx, Selector{})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	cam.mu.Lock()
	cam.events = append(cam.events, event(ptp.EventObjectAdded, 0x42))
	cam.changed()
	cam.mu.Unlock()
	ev, err := ptp.NewConn(tr, nil).ReadEvent(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Code != ptp.EventObjectAdded || len(ev.Params) != 1 || ev.Params[0] != 0x42 {
		t.Errorf("event %v", ev)
	}
}

func TestClassRequests(t *testing.T) {
	cam := newFakeCamera("S", "S")
	c, _ := newTestContext(t, cam)
	ctx := testCtx(t)
	tr, err := c.Open(ctx, Selector{})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if err := tr.Cancel(ctx, 7); err != nil {
		t.Fatal(err)
	}
	if err := tr.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	code, _, err := tr.Status(ctx)
	if err != nil || code != ptp.RespOK {
		t.Errorf("Status: %v, %v", code, err)
	}
	if got, want := cam.calls(), "cancel 01 40 07 00 00 00, device reset, device status"; !strings.HasSuffix(got, want) {
		t.Errorf("calls %q, want them to end with %q", got, want)
	}

	// A stalled bulk IN endpoint: Status clears it (and only it), even
	// from a device that does not implement Get Device Status.
	cam.mu.Lock()
	cam.halted[0x81] = true
	cam.statusUnsupported = true
	cam.mu.Unlock()
	if _, err := tr.Receive(ctx, make([]byte, 512)); !errors.Is(err, gousb.TransferStall) {
		t.Fatalf("Receive from a halted endpoint: %v", err)
	}
	if _, _, err := tr.Status(ctx); !errors.Is(err, ptp.ErrUnsupported) {
		t.Errorf("Status of a device without it: %v, want ErrUnsupported", err)
	}
	calls := cam.calls()
	if !strings.HasSuffix(calls, "clear halt 0x81") || strings.Contains(calls, "clear halt 0x02") {
		t.Errorf("calls %q: want the halt of 0x81 cleared, not 0x02's", calls)
	}
	// The connection recovers by itself after the stall.
	conn := ptp.NewConn(tr, nil)
	if _, err := conn.GetDeviceInfo(ctx); err != nil {
		t.Fatalf("GetDeviceInfo after clearing the halt: %v", err)
	}
}

func TestResetPort(t *testing.T) {
	cam := newFakeCamera("S", "S")
	c, _ := newTestContext(t, cam)
	ctx := testCtx(t)
	tr, err := c.Open(ctx, Selector{})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if err := tr.ResetPort(ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := cam.calls(), "claim 1.1.0, release interface, release config, port reset, claim 1.1.0"; got != want {
		t.Errorf("calls %q, want %q", got, want)
	}
	if _, err := ptp.Open(ctx, tr, nil); err != nil {
		t.Fatalf("session after the port reset: %v", err)
	}

	// A camera that re-enumerates on reset is another device now.
	cam.mu.Lock()
	cam.resetRenumbers = true
	cam.mu.Unlock()
	if err := tr.ResetPort(ctx); !errors.Is(err, ptp.ErrNoDevice) {
		t.Fatalf("ResetPort of a re-enumerated camera: %v, want ErrNoDevice", err)
	}
	if !strings.HasSuffix(cam.calls(), "close device") {
		t.Errorf("the transport did not close the device: %q", cam.calls())
	}
}

// A port reset that fails past the reset itself leaves the interface
// released: the transport must say it cannot be used, not keep a camera's
// owner opening sessions on it ("interface not claimed") for ever, and
// must close the device. gousb formats the libusb error of a failed claim
// into its message; libusbError gives it back.
func TestResetPortFailureClosesTheTransport(t *testing.T) {
	for _, tc := range []struct {
		name     string
		claimErr error
		want     error
	}{
		{"the camera leaves after the reset", libusbError(fmt.Errorf("failed to claim interface 1 on vid=04a9,pid=3218,bus=1,addr=2,config=1: %v", gousb.ErrorNoDevice)), ptp.ErrNoDevice},
		{"setting the configuration times out", libusbError(fmt.Errorf("failed to set active config 1 for the device vid=04a9,pid=3218,bus=1,addr=2: %v", gousb.ErrorTimeout)), ptp.ErrClosed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cam := newFakeCamera("S", "S")
			cam.claimAfterReset = tc.claimErr
			c, _ := newTestContext(t, cam)
			ctx := testCtx(t)
			tr, err := c.Open(ctx, Selector{})
			if err != nil {
				t.Fatal(err)
			}
			if err := tr.ResetPort(ctx); !errors.Is(err, tc.want) {
				t.Fatalf("ResetPort: %v, want %v", err, tc.want)
			}
			if tr.Usable() {
				t.Error("the transport is usable after its port reset failed")
			}
			if got := cam.calls(); !strings.HasSuffix(got, "port reset, close device") {
				t.Errorf("calls %q: want the device closed after the failed reset", got)
			}
			if err := tr.Send(ctx, []byte{1}); !errors.Is(err, tc.want) {
				t.Errorf("Send after the failed reset: %v, want %v", err, tc.want)
			}
			if err := tr.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
	}
}

func TestLibusbError(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want gousb.Error
	}{
		{fmt.Errorf("failed to claim interface 1 on vid=04a9,pid=3218,bus=1,addr=2,config=1: %v", gousb.ErrorBusy), gousb.ErrorBusy},
		{fmt.Errorf("Can't detach kernel driver of the device vid=04a9,pid=3218,bus=1,addr=2 and interface 0: %v", gousb.ErrorNoDevice), gousb.ErrorNoDevice},
		{fmt.Errorf("Config(2) called on vid=04a9,pid=3218,bus=1,addr=2 after Close"), 0},
	} {
		got := libusbError(tc.err)
		if got.Error() != tc.err.Error() {
			t.Errorf("libusbError(%q) says %q", tc.err, got)
		}
		var code gousb.Error
		errors.As(got, &code)
		if code != tc.want {
			t.Errorf("libusbError(%q): code %v, want %v", tc.err, code, tc.want)
		}
	}
	if !isGone(libusbError(fmt.Errorf("x: %v", gousb.ErrorNoDevice))) {
		t.Error("a formatted ErrorNoDevice is not a device gone")
	}
}

func TestNewContextRetries(t *testing.T) {
	defer func(f func() (bus, error), d time.Duration) { newBus, retryInterval = f, d }(newBus, retryInterval)
	retryInterval = 10 * time.Millisecond
	tries := 0
	newBus = func() (bus, error) {
		tries++
		if tries < 3 {
			// what gousb.NewContext does on a udev-less libusb before
			// /dev/bus/usb exists
			return startLibusb(func() *gousb.Context { panic(gousb.ErrorOther) })
		}
		return &fakeBus{}, nil
	}
	if _, err := NewContext(testCtx(t), nil); err != nil || tries != 3 {
		t.Fatalf("NewContext: %v after %d tries", err, tries)
	}

	tries = -1000
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := NewContext(ctx, nil)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "libusb_init") {
		t.Errorf("NewContext that never starts: %v", err)
	}
}

// TestLibusbClosesPromptly opens and closes real libusb sessions. gousb is
// patched (third_party/gousb) to handle USB events in a thread of its own
// that waits up to 10 minutes at a time rather than wake ten times a
// second, and to interrupt that wait on Close: if the interrupt were lost,
// each Close would take up to 10 minutes.
func TestLibusbClosesPromptly(t *testing.T) {
	const n = 6
	start := time.Now()
	for i := 0; i < n; i++ {
		b, err := newGousbBus()
		if err != nil {
			t.Fatalf("starting libusb: %v", err)
		}
		// Every other time, let the event thread enter its wait, where
		// Close must wake it; else Close may come before it waits.
		time.Sleep(time.Duration(i%2) * 50 * time.Millisecond)
		if err := b.close(); err != nil {
			t.Fatalf("closing libusb: %v", err)
		}
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("%d libusb sessions took %v to open and close: Close waits out the event timeout", n, d)
	}
}
