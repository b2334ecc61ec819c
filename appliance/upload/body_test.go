package upload

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

// opLog is a ReadSeeker over a string that records its calls, and whose
// reads may be held inside Read.
type opLog struct {
	r    *strings.Reader
	mu   sync.Mutex
	ops  []string
	hold chan struct{} // if not nil, a read waits for it inside Read
	in   chan struct{} // told when a held read is inside Read
}

func (o *opLog) log(s string) {
	o.mu.Lock()
	o.ops = append(o.ops, s)
	o.mu.Unlock()
}

func (o *opLog) Read(p []byte) (int, error) {
	o.log("read")
	if o.hold != nil {
		o.in <- struct{}{}
		<-o.hold
	}
	n, err := o.r.Read(p)
	o.log(fmt.Sprintf("read %q", p[:n]))
	return n, err
}

func (o *opLog) Seek(off int64, whence int) (int64, error) {
	o.log(fmt.Sprintf("seek %d", off))
	return o.r.Seek(off, whence)
}

func TestBodiesFenceOffEarlierBodies(t *testing.T) {
	f := &opLog{r: strings.NewReader("0123456789")}
	var b Bodies
	progress := 0
	first, err := b.Open(f, "IMG_0001.JPG", 0, 10, func() { progress++ })
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 3)
	if n, err := first.Read(buf); n != 3 || err != nil || string(buf) != "012" {
		t.Fatalf("first body: %d %v %q", n, err, buf[:n])
	}
	// A retry from offset 5, while the transport may still read the
	// first body.
	second, err := b.Open(f, "IMG_0001.JPG", 5, 5, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := first.Read(buf); n != 0 || !errors.Is(err, ErrBodyOver) {
		t.Errorf("the first body after a second was opened: %d bytes, %v; want ErrBodyOver", n, err)
	}
	got, err := io.ReadAll(second)
	if err != nil || string(got) != "56789" {
		t.Errorf("second body = %q, %v; want 56789: the first body's late read moved the offset", got, err)
	}
	if progress != 1 {
		t.Errorf("progress called %d times, want once (the first body's one read)", progress)
	}
	b.Close()
	if n, err := second.Read(buf); n != 0 || !errors.Is(err, ErrBodyOver) {
		t.Errorf("a body read after Close: %d bytes, %v; want ErrBodyOver", n, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	want := `seek 0,read,read "012",seek 5,read,read "56789"`
	if ops := strings.Join(f.ops, ","); ops != want {
		t.Errorf("the file saw %s\nwant %s", ops, want)
	}
	if _, err := b.Open(&failingSeeker{}, "IMG_0002.JPG", 7, 1, nil); err == nil || !strings.Contains(err.Error(), "seeking IMG_0002.JPG to 7") {
		t.Errorf("a failing seek: %v; want an error naming the photo and the offset", err)
	}
}

type failingSeeker struct{ io.Reader }

func (failingSeeker) Seek(int64, int) (int64, error) { return 0, errors.New("input/output error") }

// TestBodiesOpenWaitsForAReadUnderWay holds the transport's late read
// inside the file's Read: the next body may seek only once it returned.
func TestBodiesOpenWaitsForAReadUnderWay(t *testing.T) {
	f := &opLog{r: strings.NewReader("0123456789"), hold: make(chan struct{}), in: make(chan struct{})}
	var b Bodies
	first, err := b.Open(f, "IMG_0001.JPG", 0, 10, nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		first.Read(make([]byte, 4))
	}()
	<-f.in
	opened := make(chan error, 1)
	go func() {
		_, err := b.Open(f, "IMG_0001.JPG", 8, 2, nil)
		opened <- err
	}()
	// Give Open its chance to seek under the read; it must not take it.
	time.Sleep(50 * time.Millisecond)
	close(f.hold)
	<-done
	if err := <-opened; err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	want := `seek 0,read,read "0123",seek 8`
	if ops := strings.Join(f.ops, ","); ops != want {
		t.Errorf("the file saw %s\nwant %s", ops, want)
	}
}
