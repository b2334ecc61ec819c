package uploadtest

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/appliance/upload"
)

// Deliver calls Upload until it succeeds or fails permanently, as
// uploadd's outbox would, at most tries times, and logs every failed
// attempt.
func Deliver(t testing.TB, tg upload.Target, item upload.Item, r *Resume, tries int) error {
	t.Helper()
	var err error
	for i := 0; i < tries; i++ {
		item.Resume = r.State()
		if err = tg.Upload(context.Background(), item, r.Save); err == nil || upload.IsPermanent(err) {
			return err
		}
		t.Logf("%s: attempt %d: %v", item.Name, i+1, err)
	}
	return err
}

// Rig is the way a fault test's uploads take to the server: the device's
// link (a TCP Proxy; first, since the queue of a slow link sits in the
// device's socket), then an HTTPProxy that answers chosen requests with
// errors, then the target's server.
type Rig struct {
	Link *Proxy
	HTTP *HTTPProxy
}

// FaultServer is a target's server as the fault matrix drives it.
type FaultServer interface {
	// Addr is where the server listens now, "127.0.0.1:port".
	Addr() string
	// Stop stops the server; Start starts it again on the same files,
	// on another port if its own was taken meanwhile.
	Stop()
	Start() error
	// Check verifies that the server holds exactly want (name → bytes)
	// and nothing half-written.
	Check(t *testing.T, want map[string][]byte)
}

// Lister is a FaultServer that lists what it holds (name → size), read
// straight from the server: the matrix watches it while the uploads run
// and reports any file under a final name that is not a photo of its
// exact size, a half-written file seen while it happens.
type Lister interface {
	List(ctx context.Context) (map[string]int64, error)
}

// FaultCase is one scenario of a target's fault matrix.
type FaultCase struct {
	Name string
	// Sizes are the photos uploaded, one after the other.
	Sizes []int
	// StallTimeout is the target's (0: 1 s).
	StallTimeout time.Duration
	// Before injects faults and shapes the link before the uploads.
	Before func(r *Rig)
	// RestartAt restarts the server (stop, 300 ms, start) once this many
	// bytes went up the link (0: no restart).
	RestartAt int64
	// Check checks what is particular to the scenario once every photo
	// arrived.
	Check func(t *testing.T, r *Rig, elapsed time.Duration, total int64)
}

// FaultTest is a target's fault matrix.
type FaultTest struct {
	// Server starts the target's server for one case; clients reach it
	// at public, the link's address (Apache checks MOVE's Destination
	// against it). It stops with the test.
	Server func(t *testing.T, public string) FaultServer
	// Target returns the target under test, uploading through the link
	// at addr ("127.0.0.1:port"), with c.StallTimeout.
	Target func(t *testing.T, addr string, c FaultCase) upload.Target
	Cases  []FaultCase
}

// Run runs every case in parallel. Each uploads its photos through the
// faulty link and checks that every photo arrived once and intact, that
// every fault injected happened (each drop, stall and restart made the
// target connect again; each HTTP fault was answered), then the case's
// own checks.
func (ft FaultTest) Run(t *testing.T) {
	for _, c := range ft.Cases {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			ft.run(t, c)
		})
	}
}

func (ft FaultTest) run(t *testing.T, c FaultCase) {
	var r Rig
	var err error
	if r.HTTP, err = NewHTTPProxy(""); err != nil {
		t.Fatal(err)
	}
	defer r.HTTP.Close()
	if r.Link, err = NewProxy(r.HTTP.Addr()); err != nil {
		t.Fatal(err)
	}
	defer r.Link.Close()
	srv := ft.Server(t, r.Link.Addr())
	if err := r.HTTP.SetUpstream("http://" + srv.Addr()); err != nil {
		t.Fatal(err)
	}
	if c.Before != nil {
		c.Before(&r)
	}
	if c.StallTimeout <= 0 {
		c.StallTimeout = time.Second
	}
	tg := ft.Target(t, r.Link.Addr(), c)
	want := map[string][]byte{}
	sizes := map[string]int64{}
	var items []upload.Item
	var total int64
	for i, size := range c.Sizes {
		item, data := Photo(fmt.Sprintf("2026/11/26/20261126120%03d.jpg", i), size, uint64(i+7))
		items = append(items, item)
		want[item.Name], sizes[item.Name] = data, int64(size)
		total += int64(size)
	}

	// The watcher and the restart end with the uploads, even when the
	// test fails: wg.Wait runs before the proxies close and the server
	// stops.
	done := make(chan struct{})
	var wg sync.WaitGroup
	defer wg.Wait()
	var polls atomic.Int64
	if l, ok := srv.(Lister); ok {
		wg.Go(func() { watch(t, l, sizes, done, &polls) })
	}
	var restartErr error
	if c.RestartAt > 0 {
		wg.Go(func() { restartErr = restart(&r, srv, c.RestartAt, done) })
	}
	start := time.Now()
	func() {
		defer close(done)
		for _, item := range items {
			var res Resume
			if err := Deliver(t, tg, item, &res, 5); err != nil {
				t.Fatalf("%s: %v", item.Name, err)
			}
		}
	}()
	elapsed := time.Since(start)
	wg.Wait()
	if restartErr != nil {
		t.Fatal(restartErr)
	}
	srv.Check(t, want)
	t.Logf("%d bytes of photos in %v: %d bytes up (%.4f per photo byte), %d down, %d connections, %d drops, %d stalls, %d listings watched",
		total, elapsed.Round(time.Millisecond), r.Link.BytesUp(), float64(r.Link.BytesUp())/float64(total), r.Link.BytesDown(),
		r.Link.Conns(), r.Link.Drops(), r.Link.Stalls(), polls.Load())

	// The faults happened, and the target saw them.
	if n := r.Link.Pending(); n > 0 {
		t.Errorf("%d link faults never fired: the uploads sent fewer bytes than the faults wait for", n)
	}
	if n := r.HTTP.Pending(); n > 0 {
		t.Errorf("%d HTTP faults never answered: the target sent no matching request", n)
	}
	events := r.Link.Drops() + r.Link.Stalls()
	if c.RestartAt > 0 {
		events++
	}
	if conns := r.Link.Conns(); conns < int64(1+events) {
		t.Errorf("%d connections for %d drops, stalls and restarts: the target went on without reconnecting after each", conns, events)
	}
	if c.Check != nil {
		c.Check(t, &r, elapsed, total)
	}
}

// restart restarts srv once at bytes up the link, unless the uploads end
// first, which it reports as an error: the restart must happen during
// an upload.
func restart(r *Rig, srv FaultServer, at int64, done <-chan struct{}) error {
	for r.Link.BytesUp() < at {
		select {
		case <-done:
			return fmt.Errorf("the uploads ended after %d bytes, before the restart at %d", r.Link.BytesUp(), at)
		case <-time.After(5 * time.Millisecond):
		}
	}
	srv.Stop()
	time.Sleep(300 * time.Millisecond)
	if err := srv.Start(); err != nil {
		return fmt.Errorf("restarting the server: %w", err)
	}
	return r.HTTP.SetUpstream("http://" + srv.Addr())
}

// watch lists the server until done is closed and reports any file that
// is not an expected photo of its exact size.
func watch(t *testing.T, l Lister, sizes map[string]int64, done <-chan struct{}, polls *atomic.Int64) {
	bad := map[string]bool{}
	for {
		select {
		case <-done:
			return
		case <-time.After(15 * time.Millisecond):
		}
		files, err := l.List(context.Background())
		if err != nil {
			continue // the server is restarting
		}
		polls.Add(1)
		for name, size := range files {
			if want, ok := sizes[name]; (!ok || want != size) && !bad[name] {
				bad[name] = true
				t.Errorf("listing shows %s with %d bytes, want %d (known: %v)", name, size, want, ok)
			}
		}
	}
}

// The scenarios every target runs. Their photos and faults differ by
// target where its protocol does (which requests fail, where a drop lands
// in a multipart upload).

// Clean uploads photos of sizes over a perfect link.
func Clean(sizes ...int) FaultCase {
	return FaultCase{Name: "clean", Sizes: sizes}
}

// Drops resets every connection each time the bytes up the link reach
// one of at.
func Drops(sizes []int, at ...int64) FaultCase {
	return FaultCase{Name: "drops mid-body", Sizes: sizes, Before: func(r *Rig) {
		for _, a := range at {
			r.Link.Inject(Fault{At: a, Drop: true})
		}
	}}
}

// Stall stops a 1 MB/s link for 4 s after 700 KiB of a 2 MiB photo: the
// target's stall guard (1 s) must give up on the request and resume.
func Stall() FaultCase {
	return FaultCase{Name: "stall", Sizes: []int{2 << 20}, Before: func(r *Rig) {
		r.Link.SetRate(1<<20, 0)
		r.Link.Inject(Fault{At: 700 << 10, Stall: 4 * time.Second})
	}}
}

// SlowLink uploads 80 KiB over a 10 KB/s link each way: the stall guard
// (3 s) must not mistake it for a dead one. That is judged by bytes, not
// by the clock (a loaded machine stretches any time): a false stall
// aborts the request and sends part of the photo again, so the bytes up
// the link must stay within what one upload and its requests' headers
// take. The goodput is logged.
func SlowLink() FaultCase {
	return FaultCase{Name: "10KB/s", Sizes: []int{80 << 10}, StallTimeout: 3 * time.Second, Before: func(r *Rig) {
		r.Link.SetRate(10<<10, 10<<10)
	}, Check: func(t *testing.T, r *Rig, elapsed time.Duration, total int64) {
		good := float64(total) / elapsed.Seconds()
		t.Logf("goodput on a 10 KB/s link: %.0f B/s (%.0f%% of the link); %d bytes up for %d of photos",
			good, 100*good/(10<<10), r.Link.BytesUp(), total)
		if up := r.Link.BytesUp(); float64(up) > 1.25*float64(total) {
			t.Errorf("%d bytes went up the link for %d bytes of photos: the stall guard cut a slow but live upload", up, total)
		}
	}}
}

// ServerErrors answers requests with faults (500s, 502s) while photos of
// sizes go up.
func ServerErrors(sizes []int, faults ...HTTPFault) FaultCase {
	return FaultCase{Name: "500s", Sizes: sizes, Before: func(r *Rig) {
		for _, f := range faults {
			r.HTTP.Inject(f)
		}
	}}
}

// RetryAfter answers the first request of method429 with 429 and of
// method503 with 503, both with Retry-After: 1: the upload must wait at
// least the 2 s they ask for.
func RetryAfter(method429, method503 string) FaultCase {
	return FaultCase{Name: "429 Retry-After", Sizes: []int{300 << 10}, Before: func(r *Rig) {
		r.HTTP.Inject(HTTPFault{Method: method429, Status: http.StatusTooManyRequests, Header: http.Header{"Retry-After": {"1"}}, Body: "slow down"})
		r.HTTP.Inject(HTTPFault{Method: method503, Status: http.StatusServiceUnavailable, Header: http.Header{"Retry-After": {"1"}}})
	}, Check: func(t *testing.T, r *Rig, elapsed time.Duration, _ int64) {
		if elapsed < 2*time.Second {
			t.Errorf("done in %v: the two Retry-After: 1 were not honoured", elapsed)
		}
	}}
}

// Restart uploads a photo of size over a link of rate bytes/s and
// restarts the server once at bytes have gone up.
func Restart(size int, rate, at int64) FaultCase {
	return FaultCase{Name: "server restart", Sizes: []int{size}, RestartAt: at, Before: func(r *Rig) {
		r.Link.SetRate(rate, 0)
	}}
}
