package ptp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"
)

// testOptions keep the tests fast: short backoffs and drains.
var testOptions = Options{
	Timeout:        2 * time.Second,
	BusyBackoff:    time.Millisecond,
	MaxBusyBackoff: 4 * time.Millisecond,
	DrainTimeout:   10 * time.Millisecond,
}

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>8)
	}
	return b
}

// openFake returns a Conn with a session open on a fake device.
func openFake(t *testing.T, f *fakeDevice) *Conn {
	t.Helper()
	f.info = readHex(t, "deviceinfo_qemu.hex")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var tr Transport = f
	if f.lend {
		f.lender = &lendingDevice{fakeDevice: f}
		tr = f.lender
	}
	c, err := Open(ctx, tr, &testOptions)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return c
}

func checkDevice(t *testing.T, f *fakeDevice) {
	t.Helper()
	for _, v := range f.violations {
		t.Errorf("device saw: %s", v)
	}
}

// TestGetObjectQuirks downloads objects of sizes around packet boundaries
// through every quirk of the bulk IN stream, and checks that the stream
// stays in step for the next transaction.
func TestGetObjectQuirks(t *testing.T) {
	quirks := map[string]func(*fakeDevice){
		"plain":         func(*fakeDevice) {},
		"noZLP":         func(f *fakeDevice) { f.noZLP = true },
		"packed":        func(f *fakeDevice) { f.packed = true },
		"zlpBefore":     func(f *fakeDevice) { f.zlpBefore = true },
		"splitHeader":   func(f *fakeDevice) { f.splitHeader = true },
		"splitNoZLP":    func(f *fakeDevice) { f.splitHeader, f.noZLP = true, true },
		"unknownLength": func(f *fakeDevice) { f.unknownLength = true },
		"stale":         func(f *fakeDevice) { f.staleResponse = true },
		"everything":    func(f *fakeDevice) { f.noZLP, f.zlpBefore, f.splitHeader, f.staleResponse = true, true, true, true },
	}
	sizes := []int{0, 1, 499, 500, 501, 1012, 51188, 128<<10 - 12, 128 << 10, 1<<20 + 7}
	for _, mps := range []int{64, 512} {
		for name, quirk := range quirks {
			for _, lend := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/%d/lend=%v", name, mps, lend), func(t *testing.T) {
					f := newFakeDevice(mps)
					quirk(f)
					f.lend = lend
					for i, n := range sizes {
						f.objects[uint32(i+1)] = pattern(n)
					}
					c := openFake(t, f)
					ctx := context.Background()
					fetched := 0
					for i, n := range sizes {
						if f.unknownLength && n == 0 {
							continue // a length is needed to send no data
						}
						fetched++
						h := uint32(i + 1)
						var buf bytes.Buffer
						if err := c.GetObject(ctx, h, &buf); err != nil {
							t.Fatalf("GetObject(%d bytes): %v", n, err)
						}
						if !bytes.Equal(buf.Bytes(), f.objects[h]) {
							t.Fatalf("GetObject(%d bytes): got %d bytes, not the object", n, buf.Len())
						}
						if l := f.lender; l != nil && l.buf != nil {
							t.Fatalf("GetObject(%d bytes): the lent buffer was not given back", n)
						}
						oi, err := c.GetObjectInfo(ctx, h)
						if err != nil {
							t.Fatalf("GetObjectInfo after %d bytes: %v", n, err)
						}
						if oi.CompressedSize != uint32(n) {
							t.Fatalf("GetObjectInfo: size %d, want %d", oi.CompressedSize, n)
						}
					}
					if f.cancels != 0 || f.resets != 0 {
						t.Errorf("%d cancels and %d resets, want none", f.cancels, f.resets)
					}
					if l := f.lender; l != nil && (l.lends < fetched || l.releases < fetched) {
						t.Errorf("%d transfers into the lent buffer and %d releases for %d objects", l.lends, l.releases, fetched)
					}
					checkDevice(t, f)
				})
			}
		}
	}
}

func TestOpenSessionTIDs(t *testing.T) {
	f := newFakeDevice(512)
	c := openFake(t, f)
	ctx := context.Background()
	if c.SessionID() != 1 {
		t.Fatalf("SessionID = %d", c.SessionID())
	}
	if c.Vendor() != VendorMicrosoft || c.DeviceInfo().Model != "QEMU filesharing" {
		t.Errorf("Vendor %v, DeviceInfo %+v", c.Vendor(), c.DeviceInfo())
	}
	for i := 0; i < 3; i++ {
		if _, err := c.GetObjectInfo(ctx, 99); !IsResponse(err, RespInvalidObjectHandle) {
			t.Fatalf("GetObjectInfo(99): %v", err)
		}
	}
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	wantOps := []OpCode{OpGetDeviceInfo, OpOpenSession, OpGetObjectInfo, OpGetObjectInfo, OpGetObjectInfo, OpCloseSession}
	wantTIDs := []uint32{0, 0, 1, 2, 3, 4}
	if !reflect.DeepEqual(f.ops, wantOps) || !reflect.DeepEqual(f.tids, wantTIDs) {
		t.Errorf("ops %v tids %v, want %v %v", f.ops, f.tids, wantOps, wantTIDs)
	}
	if c.SessionID() != 0 {
		t.Error("session still open after Close")
	}
	checkDevice(t, f)
}

func TestBusyRetried(t *testing.T) {
	f := newFakeDevice(512)
	f.objects[5] = pattern(1000)
	c := openFake(t, f)
	ctx := context.Background()

	f.busy[OpGetObject] = 2
	var buf bytes.Buffer
	if err := c.GetObject(ctx, 5, &buf); err != nil {
		t.Fatalf("busy twice: %v", err)
	}
	if !bytes.Equal(buf.Bytes(), f.objects[5]) {
		t.Fatal("wrong data after busy retries")
	}
	if n := len(f.ops); n != 5 { // GetDeviceInfo, OpenSession, 3 × GetObject
		t.Errorf("%d operations, want 5: %v", n, f.ops)
	}

	// Busy for longer than the retries: the error says so.
	f.busy[OpGetObject] = 100
	err := c.GetObject(ctx, 5, io.Discard)
	var re *ResponseError
	if !errors.As(err, &re) || re.Code != RespDeviceBusy || re.Op.Code != OpGetObject {
		t.Fatalf("busy forever: %v", err)
	}
	if want := "ptp: GetObject(0x5): DeviceBusy (0x2019)"; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	if got := 100 - f.busy[OpGetObject]; got != 9 {
		t.Errorf("%d attempts, want 1 + 8 retries", got)
	}

	// DoOnce does not retry.
	f.busy[OpGetObject] = 1
	if _, err := c.DoOnce(ctx, Operation{Code: OpGetObject, Params: []uint32{5}}, nil, io.Discard); !IsResponse(err, RespDeviceBusy) {
		t.Errorf("DoOnce: %v", err)
	}
	// A deadline ends the retries early, with the Busy error.
	f.busy[OpGetObject] = 100
	slow := testOptions
	slow.BusyBackoff = time.Hour
	c2 := NewConn(f, &slow)
	c2.sessionID, c2.nextTID = c.sessionID, c.nextTID
	dctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := c2.GetObject(dctx, 5, io.Discard); !IsResponse(err, RespDeviceBusy) || time.Since(start) > time.Second {
		t.Errorf("busy with deadline: %v after %v", err, time.Since(start))
	}
	checkDevice(t, f)
}

func TestOpenSessionReset(t *testing.T) {
	for _, code := range []ResponseCode{RespSessionAlreadyOpen, RespInvalidTransactionID} {
		t.Run(code.String(), func(t *testing.T) {
			f := newFakeDevice(512)
			f.sessionID = 7 // left open by an earlier process
			f.openUntilReset = code
			c := openFake(t, f)
			if f.resets != 1 {
				t.Errorf("%d resets, want 1", f.resets)
			}
			if c.SessionID() != 1 || f.sessionID != 1 {
				t.Errorf("session %d on the host, %d on the device", c.SessionID(), f.sessionID)
			}
			checkDevice(t, f)
		})
	}
	t.Run("already open without Reset support", func(t *testing.T) {
		f := newFakeDevice(512)
		f.sessionID = 7 // Reset closes it, but the device keeps answering 0x201E
		c := NewConn(&stubbornReset{f}, &testOptions)
		err := c.OpenSession(context.Background(), 1)
		if !IsResponse(err, RespSessionAlreadyOpen) {
			t.Fatalf("got %v", err)
		}
		if want := "ptp: OpenSession(0x1): SessionAlreadyOpen (0x201E)"; err.Error() != want {
			t.Errorf("error %q, want %q", err, want)
		}
		if n := len(f.ops); n != 3 {
			t.Errorf("%d OpenSession tries, want 3", n)
		}
	})
	t.Run("session ID 0", func(t *testing.T) {
		c := NewConn(newFakeDevice(512), &testOptions)
		if err := c.OpenSession(context.Background(), 0); err == nil {
			t.Fatal("OpenSession(0) succeeded")
		}
	})
}

// stubbornReset is a device whose Reset does nothing.
type stubbornReset struct{ *fakeDevice }

func (s *stubbornReset) Reset(ctx context.Context) error { return nil }

func TestResponseInsteadOfData(t *testing.T) {
	f := newFakeDevice(512)
	f.objects[1] = pattern(600)
	c := openFake(t, f)
	ctx := context.Background()
	_, err := c.GetObjectInfo(ctx, 0x1234)
	var re *ResponseError
	if !errors.As(err, &re) || re.Code != RespInvalidObjectHandle {
		t.Fatalf("got %v", err)
	}
	if want := "ptp: GetObjectInfo(0x1234): InvalidObjectHandle (0x2009)"; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	if _, err := c.GetObjectInfo(ctx, 1); err != nil {
		t.Fatalf("next transaction: %v", err)
	}
	// Data the caller did not ask for is read and dropped.
	resp, err := c.Do(ctx, Operation{Code: OpGetObject, Params: []uint32{1}}, nil, nil)
	if err != nil || resp.Code != RespOK {
		t.Fatalf("Do without a writer: %v %v", resp, err)
	}
	checkDevice(t, f)
}

func TestTimeoutThenRecover(t *testing.T) {
	f := newFakeDevice(512)
	f.objects[1] = pattern(3000)
	c := openFake(t, f)
	f.silent[OpGetObjectInfo] = true
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := c.GetObjectInfo(ctx, 1)
	var oe *OpError
	if !errors.Is(err, context.DeadlineExceeded) || !errors.As(err, &oe) {
		t.Fatalf("got %v", err)
	}
	if want := "ptp: GetObjectInfo(0x1): receive: context deadline exceeded"; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	f.silent[OpGetObjectInfo] = false
	f.status = []ResponseCode{RespDeviceBusy, RespTransactionCancelled}
	var buf bytes.Buffer
	if err := c.GetObject(context.Background(), 1, &buf); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
	if !bytes.Equal(buf.Bytes(), f.objects[1]) || f.cancels != 1 || len(f.status) != 0 {
		t.Errorf("%d bytes, %d cancels, status left %v", buf.Len(), f.cancels, f.status)
	}
	checkDevice(t, f)
}

// failingWriter fails after n bytes.
type failingWriter struct{ n int }

func (w *failingWriter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		return 0, errors.New("disk full")
	}
	w.n -= len(p)
	return len(p), nil
}

func TestWriterFailsMidData(t *testing.T) {
	f := newFakeDevice(512)
	f.objects[1] = pattern(1 << 20)
	c := openFake(t, f)
	ctx := context.Background()
	err := c.GetObject(ctx, 1, &failingWriter{n: 200 << 10})
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("got %v", err)
	}
	// Busy must not be retried once data reached the writer; here the
	// next transaction recovers the stream (the rest of the object and
	// the response are still queued).
	if _, err := c.GetObjectInfo(ctx, 1); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
	if f.cancels != 1 {
		t.Errorf("%d cancels", f.cancels)
	}
	checkDevice(t, f)
}

func TestDeviceGone(t *testing.T) {
	f := newFakeDevice(512)
	c := openFake(t, f)
	f.gone = true
	_, err := c.GetObjectInfo(context.Background(), 1)
	if !errors.Is(err, ErrNoDevice) {
		t.Fatalf("got %v", err)
	}
	_, err = c.GetObjectInfo(context.Background(), 1)
	if !errors.Is(err, ErrNoDevice) || !strings.Contains(err.Error(), "recovering") {
		t.Fatalf("second call: %v", err)
	}
}

func TestDataOut(t *testing.T) {
	for _, mps := range []int{64, 512} {
		f := newFakeDevice(mps)
		c := openFake(t, f)
		ctx := context.Background()
		// 12 + 4 + n: n = 496 makes 512 bytes, a multiple of both packet sizes.
		for _, n := range []int{0, 1, 48, 495, 496, 497, 1008} {
			v := pattern(n)
			if err := c.SetDevicePropValue(ctx, 0xD120, TypeArray|TypeUint8, v); err != nil {
				t.Fatalf("mps %d, %d bytes: %v", mps, n, err)
			}
			got, err := c.GetDevicePropValue(ctx, 0xD120, TypeArray|TypeUint8)
			if err != nil || !bytes.Equal(got.([]uint8), v) {
				t.Fatalf("mps %d, %d bytes: read back %v, %v", mps, n, got, err)
			}
		}
		// A data phase of several transfers (sendChunk) ending on a boundary.
		big := pattern(3*sendChunk - HeaderSize)
		if _, err := c.Do(ctx, Operation{Code: OpSendObject}, big, nil); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(f.objects[0xFFFF0001], big) {
			t.Error("SendObject data differs")
		}
		wantZLPs := 1 // big
		for _, n := range []int{0, 1, 48, 495, 496, 497, 1008} {
			if (HeaderSize+4+n)%mps == 0 {
				wantZLPs++
			}
		}
		if f.zlpsIn != wantZLPs {
			t.Errorf("mps %d: %d ZLPs sent, want %d", mps, f.zlpsIn, wantZLPs)
		}
		checkDevice(t, f)
	}
}

func TestDoArguments(t *testing.T) {
	c := NewConn(newFakeDevice(512), &testOptions)
	ctx := context.Background()
	if _, err := c.Do(ctx, Operation{Code: OpSendObject}, []byte{1}, io.Discard); err == nil {
		t.Error("both data phases accepted")
	}
	if _, err := c.Do(ctx, Operation{Code: OpGetObject, Params: make([]uint32, 6)}, nil, nil); err == nil {
		t.Error("6 parameters accepted")
	}
}

func TestVendorResponseNames(t *testing.T) {
	f := newFakeDevice(512)
	c := openFake(t, f)
	c.SetVendor(VendorCanon)
	_, err := c.Do(context.Background(), Operation{Code: OpEOSRemoteReleaseOn, Params: []uint32{2, 0}}, nil, nil)
	if want := "ptp: EOSRemoteReleaseOn(0x2, 0x0): OperationNotSupported (0x2005)"; err == nil || err.Error() != want {
		t.Errorf("error %v, want %q", err, want)
	}
	re := &ResponseError{Op: Operation{Code: OpEOSRemoteRelease}, Code: 0xA001, Vendor: VendorCanon}
	if want := "ptp: EOSRemoteRelease(): EOSUnknownCommand (0xA001)"; re.Error() != want {
		t.Errorf("error %q, want %q", re, want)
	}
	re.Vendor = VendorNikon
	if !strings.Contains(re.Error(), "NikonHardwareError") {
		t.Errorf("error %q", re)
	}
}

func TestReadEvent(t *testing.T) {
	f := newFakeDevice(512)
	c := NewConn(f, &testOptions)
	ev1, _ := Event{Code: EventObjectAdded, Params: []uint32{0x12}}.AppendBinary(nil)
	ev2, _ := Event{Code: EventCaptureComplete, TransactionID: 9}.AppendBinary(nil)
	ev3, _ := Event{Code: EventStoreFull, TransactionID: 9, Params: []uint32{1, 2, 3}}.AppendBinary(nil)
	f.events <- append(ev1, ev2...) // two in one transfer
	f.events <- ev3[:7]             // one in pieces
	f.events <- ev3[7:]
	f.events <- []byte{}
	f.events <- []byte{40, 0, 0, 0, 4, 0, 2, 0x40, 0, 0, 0, 0} // too long for an event
	ctx := context.Background()
	want := []Event{
		{Code: EventObjectAdded, Params: []uint32{0x12}},
		{Code: EventCaptureComplete, TransactionID: 9},
		{Code: EventStoreFull, TransactionID: 9, Params: []uint32{1, 2, 3}},
	}
	for _, w := range want {
		got, err := c.ReadEvent(ctx)
		if err != nil || !reflect.DeepEqual(got, w) {
			t.Fatalf("ReadEvent = %+v, %v; want %+v", got, err, w)
		}
	}
	if _, err := c.ReadEvent(ctx); !errors.Is(err, ErrProtocol) {
		t.Errorf("bad event: %v", err)
	}
	dctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := c.ReadEvent(dctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("no event: %v", err)
	}
}

// receiveSizes records the buffer of every bulk IN transfer.
type receiveSizes struct {
	*fakeDevice
	sizes []int
}

func (r *receiveSizes) Receive(ctx context.Context, p []byte) (int, error) {
	r.sizes = append(r.sizes, len(p))
	return r.fakeDevice.Receive(ctx, p)
}

// An object (or a chunk of one) of 1 MiB arrives in one large transfer; everything else in
// small ones, and the large buffer is not kept once the download is over
// (a camera stays open between captures).
func TestDownloadTransfers(t *testing.T) {
	f := newFakeDevice(512)
	f.info = readHex(t, "deviceinfo_qemu.hex")
	for h := uint32(1); h <= 3; h++ {
		f.objects[h] = pattern(1<<20 + int(h))
	}
	r := &receiveSizes{fakeDevice: f}
	ctx := context.Background()
	c, err := Open(ctx, r, nil) // the default BufferSize
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range r.sizes {
		if n > smallBuffer {
			t.Errorf("opening the session: a %d-byte transfer, want at most %d", n, smallBuffer)
		}
	}
	r.sizes = nil
	for h := uint32(1); h <= 3; h++ {
		var got bytes.Buffer
		if err := c.GetObject(ctx, h, &got); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Bytes(), f.objects[h]) {
			t.Fatalf("object %d: the bytes differ", h)
		}
	}
	large := 0
	for _, n := range r.sizes {
		if n >= 1<<20+HeaderSize {
			large++
		}
	}
	// Per object: the data container in one transfer, the response in a
	// small one.
	if large != 3 || len(r.sizes) != 6 {
		t.Errorf("3 objects of 1 MiB in transfers of %v bytes; want one large transfer and one small each", r.sizes)
	}
	if c.in.big != nil {
		t.Error("the connection keeps its large buffer after the download")
	}
	r.sizes = nil
	if _, err := c.GetObjectInfo(ctx, 1); err != nil {
		t.Fatal(err)
	}
	for _, n := range r.sizes {
		if n > smallBuffer {
			t.Errorf("GetObjectInfo: a %d-byte transfer, want at most %d", n, smallBuffer)
		}
	}
	checkDevice(t, f)
}
