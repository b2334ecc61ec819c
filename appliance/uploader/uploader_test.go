package uploader

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math/rand"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/appliance/config"
	"github.com/lapsebox/lapsebox/appliance/statusfile"
	"github.com/lapsebox/lapsebox/appliance/store"
	"github.com/lapsebox/lapsebox/appliance/upload"
	"github.com/lapsebox/lapsebox/appliance/upload/tus"
	"github.com/lapsebox/lapsebox/appliance/upload/uploadtest"
	"github.com/lapsebox/lapsebox/cloud/ingest/ingesttest"
)

const (
	device = "site7"
	token  = "a-long-random-device-token"
)

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// startCloud starts cloudd's ingest on 127.0.0.1 for the device.
func startCloud(t testing.TB) *ingesttest.Cloud {
	t.Helper()
	return ingesttest.Start(t, ingesttest.Options{Tokens: map[string]string{device: token}})
}

// fill stores n captures of size bytes queued for targets.
func fill(t testing.TB, s *store.Store, n, size int, targets ...string) map[string]string {
	t.Helper()
	want := map[string]string{}
	rnd := rand.New(rand.NewSource(int64(n)))
	for i := 0; i < n; i++ {
		data := make([]byte, size+rnd.Intn(size/4+1))
		rnd.Read(data)
		p, err := s.Put(store.Capture{Time: t0.Add(time.Duration(i) * 5 * time.Minute), Files: []store.NewFile{{Ext: ".jpg", Targets: targets,
			Write: func(w io.Writer) error { _, err := w.Write(data); return err }}}})
		if err != nil {
			t.Fatal(err)
		}
		want[strings.TrimPrefix(p[0].Path, "photos/")] = p[0].Sidecar.SHA256
	}
	return want
}

func cloudTarget(t testing.TB, url string, cfg config.Target) *Target {
	t.Helper()
	tr, err := tus.New(tus.Config{URL: url, Device: device, Token: token, ChunkSize: 64 << 10,
		Transfer: upload.Transfer{StallTimeout: 2 * time.Second, Client: upload.NewClient(upload.ClientOptions{})}})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Name == "" {
		cfg.Name = "cloud"
	}
	cfg.Kind, cfg.Send = config.Cloud, config.SendOriginals
	return &Target{Config: cfg, Transport: tr, ConfigHash: "h1"}
}

// runUntil runs u until cond holds or the deadline passes.
func runUntil(t *testing.T, u *Uploader, timeout time.Duration, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	done := make(chan struct{})
	go func() {
		u.Run(ctx)
		close(done)
	}()
	for ctx.Err() == nil && !cond() {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done
	if !cond() {
		t.Fatalf("not done within %v: %+v", timeout, u.Snapshot())
	}
}

func pending(t testing.TB, s *store.Store, target string) int {
	es, err := s.Pending(target)
	if err != nil {
		t.Fatal(err)
	}
	return len(es)
}

func TestDrainsThroughFaultsExactlyOnce(t *testing.T) {
	c := startCloud(t)
	proxy, err := uploadtest.NewHTTPProxy(c.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	tcp, err := uploadtest.NewProxy(strings.TrimPrefix(proxy.URL(), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tcp.Close() })
	st, _ := store.Open(t.TempDir())
	want := fill(t, st, 12, 200<<10, "cloud")
	// Faults along the way: two 500s, a 429 with Retry-After, drops mid-body.
	proxy.Inject(uploadtest.HTTPFault{Method: "PATCH", Times: 2, Status: 500})
	proxy.Inject(uploadtest.HTTPFault{Method: "POST", Times: 1, Status: 429, Header: http.Header{"Retry-After": {"1"}}})
	tcp.Inject(uploadtest.Fault{At: 300 << 10, Drop: true})
	tcp.Inject(uploadtest.Fault{At: 900 << 10, Drop: true})
	u := &Uploader{Store: st, Targets: []*Target{cloudTarget(t, "http://"+tcp.Addr(), config.Target{})},
		MinBackoff: 50 * time.Millisecond, MaxBackoff: 500 * time.Millisecond, Poll: 50 * time.Millisecond}
	runUntil(t, u, 60*time.Second, func() bool { return pending(t, st, "cloud") == 0 })
	if proxy.Injected() != 3 || tcp.Drops() != 2 {
		t.Errorf("faults: %d HTTP errors injected, %d drops; want 3 and 2", proxy.Injected(), tcp.Drops())
	}
	got := c.Received(device)
	if len(got) != len(want) {
		t.Errorf("cloud holds %d files, want %d: %v", len(got), len(want), got)
	}
	for name, sum := range want {
		if got[name] != sum {
			t.Errorf("%s: cloud has sha256 %q, want %s", name, got[name], sum)
		}
	}
}

// fakeTarget records what it is sent and fails as told.
type fakeTarget struct {
	mu    sync.Mutex
	names []string
	got   map[string][]byte // the bytes last sent under each name
	fail  func(name string) error
}

func (f *fakeTarget) Upload(ctx context.Context, it upload.Item, save func(json.RawMessage) error) error {
	if f.fail != nil {
		if err := f.fail(it.Name); err != nil {
			return err
		}
	}
	r, err := it.Open()
	if err != nil {
		return err
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(b)
	if hex.EncodeToString(sum[:]) != it.SHA256 || int64(len(b)) != it.Size {
		return fmt.Errorf("item %s: bytes do not match its size and sha256", it.Name)
	}
	f.mu.Lock()
	f.names = append(f.names, it.Name)
	if f.got == nil {
		f.got = map[string][]byte{}
	}
	f.got[it.Name] = b
	f.mu.Unlock()
	return nil
}

func (f *fakeTarget) List(ctx context.Context, prefix string) ([]string, error) { return nil, nil }

func (f *fakeTarget) sent() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.names...)
}

// received returns the bytes last sent under each name.
func (f *fakeTarget) received() map[string][]byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.got)
}

func TestLiveCamSendsOnlyTheNewest(t *testing.T) {
	st, _ := store.Open(t.TempDir())
	fill(t, st, 10, 1000, "web")
	ft := &fakeTarget{}
	u := &Uploader{Store: st, Targets: []*Target{{Config: config.Target{Name: "web", Kind: config.LiveCam, Send: config.SendLatest}, Transport: ft}}, Poll: 20 * time.Millisecond}
	runUntil(t, u, 10*time.Second, func() bool { return pending(t, st, "web") == 0 })
	if got := ft.sent(); len(got) != 1 || got[0] != "2026/11/26/20261126124500.jpg" {
		t.Errorf("live-cam sent %v, want only the newest picture", got)
	}
	if s := u.Snapshot().Targets[0]; s.Skipped != 9 {
		t.Errorf("status %+v: want 9 stale pictures skipped", s)
	}
}

func TestMinIntervalSkips(t *testing.T) {
	st, _ := store.Open(t.TempDir())
	fill(t, st, 25, 1000, "hourly") // every 5 minutes for two hours
	ft := &fakeTarget{}
	u := &Uploader{Store: st, Targets: []*Target{{Config: config.Target{Name: "hourly", Kind: config.WebDAV, Send: config.SendJPG, MinInterval: time.Hour}, Transport: ft}}, Poll: 20 * time.Millisecond}
	runUntil(t, u, 10*time.Second, func() bool { return pending(t, st, "hourly") == 0 })
	want := []string{"2026/11/26/20261126120000.jpg", "2026/11/26/20261126130000.jpg", "2026/11/26/20261126140000.jpg"}
	if got := ft.sent(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("sent %v, want one an hour: %v", got, want)
	}
}

func TestPermanentFailureParksAndConfigChangeRetries(t *testing.T) {
	st, _ := store.Open(t.TempDir())
	fill(t, st, 3, 1000, "dav")
	ft := &fakeTarget{fail: func(name string) error {
		if strings.HasSuffix(name, "120500.jpg") {
			return &upload.PermanentError{StatusCode: 403, Err: fmt.Errorf("HTTP 403: forbidden")}
		}
		return nil
	}}
	tg := &Target{Config: config.Target{Name: "dav", Kind: config.WebDAV, Send: config.SendJPG}, Transport: ft, ConfigHash: "v1"}
	u := &Uploader{Store: st, Targets: []*Target{tg}, Poll: 20 * time.Millisecond}
	runUntil(t, u, 10*time.Second, func() bool { return len(ft.sent()) == 2 && u.Snapshot().Targets[0].Parked == 1 })
	s := u.Snapshot().Targets[0]
	if s.Pending != 0 || len(s.ParkedReasons) != 1 || !strings.Contains(s.ParkedReasons[0], "403") {
		t.Errorf("status %+v: want one entry parked with its reason", s)
	}
	// The configuration changes (say the password is fixed): the parked
	// entry is tried again.
	ft.fail = nil
	tg2 := &Target{Config: tg.Config, Transport: ft, ConfigHash: "v2"}
	u2 := &Uploader{Store: st, Targets: []*Target{tg2}, Poll: 20 * time.Millisecond}
	runUntil(t, u2, 10*time.Second, func() bool { return pending(t, st, "dav") == 0 })
	if got := ft.sent(); len(got) != 3 {
		t.Errorf("sent %v after the configuration changed, want all three", got)
	}
}

func TestRetryBacksOffAndHonoursRetryAfter(t *testing.T) {
	st, _ := store.Open(t.TempDir())
	fill(t, st, 1, 1000, "c")
	var mu sync.Mutex
	var times []time.Time
	ft := &fakeTarget{fail: func(string) error {
		mu.Lock()
		defer mu.Unlock()
		times = append(times, time.Now())
		switch len(times) {
		case 1:
			return fmt.Errorf("connection reset")
		case 2:
			return &upload.RetryAfterError{After: 700 * time.Millisecond, Err: fmt.Errorf("HTTP 429")}
		}
		return nil
	}}
	u := &Uploader{Store: st, Targets: []*Target{{Config: config.Target{Name: "c", Kind: config.Cloud, Send: config.SendOriginals}, Transport: ft}},
		Poll: 10 * time.Millisecond, MinBackoff: 100 * time.Millisecond, MaxBackoff: time.Second}
	runUntil(t, u, 10*time.Second, func() bool { return pending(t, st, "c") == 0 })
	if len(times) != 3 {
		t.Fatalf("%d attempts, want 3", len(times))
	}
	if d := times[1].Sub(times[0]); d < 70*time.Millisecond {
		t.Errorf("retried after %v, want a backoff of about 100 ms", d)
	}
	if d := times[2].Sub(times[1]); d < 650*time.Millisecond {
		t.Errorf("retried after %v, want at least the 700 ms the server asked", d)
	}
}

func TestBandwidthCapAndFairness(t *testing.T) {
	st, _ := store.Open(t.TempDir())
	fill(t, st, 4, 100<<10, "a", "b")
	fa, fb := &fakeTarget{}, &fakeTarget{}
	link := &Link{Rate: 400 << 10} // 400 KiB/s shared
	u := &Uploader{Store: st, Link: link, Poll: 10 * time.Millisecond, Targets: []*Target{
		{Config: config.Target{Name: "a", Kind: config.Cloud, Send: config.SendOriginals}, Transport: fa},
		{Config: config.Target{Name: "b", Kind: config.Cloud, Send: config.SendOriginals}, Transport: fb},
	}}
	start := time.Now()
	runUntil(t, u, 20*time.Second, func() bool { return pending(t, st, "a") == 0 && pending(t, st, "b") == 0 })
	took := time.Since(start)
	var total int64
	for _, e := range []string{"a", "b"} {
		total += u.Snapshot().Targets[map[string]int{"a": 0, "b": 1}[e]].SentBytes
	}
	// ~1 MB through a 400 KiB/s link: at least about 2 s (the first
	// quarter second of burst aside).
	if min := time.Duration(float64(total)/float64(400<<10)*float64(time.Second)) - 400*time.Millisecond; took < min {
		t.Errorf("%d bytes in %v: faster than the 400 KiB/s cap allows (%v)", total, took, min)
	}
	if len(fa.sent()) != 4 || len(fb.sent()) != 4 {
		t.Errorf("sent a %d, b %d; want 4 each", len(fa.sent()), len(fb.sent()))
	}
}

func TestReconcileRequeuesWhatTheTargetLost(t *testing.T) {
	c := startCloud(t)
	st, _ := store.Open(t.TempDir())
	want := fill(t, st, 5, 10<<10, "cloud")
	tg := cloudTarget(t, c.URL(), config.Target{})
	u := &Uploader{Store: st, Targets: []*Target{tg}, Poll: 20 * time.Millisecond}
	runUntil(t, u, 30*time.Second, func() bool { return pending(t, st, "cloud") == 0 })

	// The server loses two photos (restored from an old backup, say).
	lost := []string{"2026/11/26/20261126120500.jpg", "2026/11/26/20261126121500.jpg"}
	for _, n := range lost {
		if err := os.Remove(filepath.Join(c.Root, device, filepath.FromSlash(n))); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := u.Reconcile(context.Background(), tg)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Stored != 5 || rep.Present != 3 || rep.Requeued != 2 || rep.Pending != 0 {
		t.Errorf("report %+v: want 5 stored, 3 present, 2 requeued", rep)
	}
	if again, _ := u.Reconcile(context.Background(), tg); again.Requeued != 0 || again.Pending != 2 {
		t.Errorf("a second reconcile %+v: want the two already pending, none requeued again", again)
	}
	runUntil(t, u, 30*time.Second, func() bool { return pending(t, st, "cloud") == 0 })
	got := c.Received(device)
	for name, sum := range want {
		if got[name] != sum {
			t.Errorf("%s: cloud has %q after reconciling, want %s", name, got[name], sum)
		}
	}
}

// Past the modem's monthly data cap only the essential targets are sent
// to; the others wait in the outbox, with the reason in the status, until
// the billing period the cap was reached in is over.
func TestDataCapHoldsTargetsThatAreNotEssential(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		name   string
		period string
		held   bool
	}{
		{name: "this period", period: statusfile.BillingPeriod(now, 5, time.UTC), held: true},
		{name: "an earlier period", period: "2020-01-05"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, _ := store.Open(t.TempDir())
			fill(t, st, 3, 1000, "web", "archive")
			capFile := filepath.Join(t.TempDir(), "data-use.json")
			if err := statusfile.Write(capFile, statusfile.DataUse{Period: tc.period, UsedBytes: 1_020_000_000, CapBytes: 1_000_000_000,
				OverCap: true, EssentialOnly: true, EssentialTargets: []string{"web"}}); err != nil {
				t.Fatal(err)
			}
			web, archive := &fakeTarget{}, &fakeTarget{}
			u := &Uploader{Store: st, Poll: 20 * time.Millisecond, DataCap: &DataCap{Path: capFile, BillingDay: 5},
				Targets: []*Target{
					{Config: config.Target{Name: "web", Kind: config.LiveCam, Send: config.SendLatest}, Transport: web},
					{Config: config.Target{Name: "archive", Kind: config.WebDAV, Send: config.SendOriginals}, Transport: archive},
				}}
			runUntil(t, u, 10*time.Second, func() bool {
				return pending(t, st, "web") == 0 && (tc.held && u.Snapshot().Targets[0].State == "held" || pending(t, st, "archive") == 0)
			})
			if len(web.sent()) != 1 {
				t.Errorf("the essential live-cam target was sent %v, want the newest picture", web.sent())
			}
			s := u.Snapshot().Targets[0] // sorted: archive first
			if tc.held {
				if len(archive.sent()) != 0 || pending(t, st, "archive") != 3 {
					t.Errorf("past the cap the archive was sent %v, %d left; want nothing sent, 3 waiting", archive.sent(), pending(t, st, "archive"))
				}
				if s.Name != "archive" || s.State != "held" || !strings.Contains(s.Held, "data cap") || s.Pending != 3 {
					t.Errorf("archive status %+v: want held by the data cap with 3 pending", s)
				}
				return
			}
			if len(archive.sent()) != 3 || s.Held != "" {
				t.Errorf("a cap reached in an earlier period held the archive back: sent %v, status %+v", archive.sent(), s)
			}
		})
	}
}

// Working comes before each delivery begins (uploadd takes its processors
// back for it), once a delivery.
func TestWorkingBeforeEachDelivery(t *testing.T) {
	st, _ := store.Open(t.TempDir())
	fill(t, st, 6, 1000, "dav")
	var mu sync.Mutex
	working, started := 0, 0
	ft := &fakeTarget{fail: func(name string) error {
		mu.Lock()
		defer mu.Unlock()
		started++
		if working < started {
			t.Errorf("delivery %d (%s) began after only %d calls of Working", started, name, working)
		}
		return nil
	}}
	u := &Uploader{Store: st, Targets: []*Target{{Config: config.Target{Name: "dav", Kind: config.WebDAV, Send: config.SendOriginals}, Transport: ft}},
		Poll: 20 * time.Millisecond, Working: func() {
			mu.Lock()
			working++
			mu.Unlock()
		}}
	runUntil(t, u, 10*time.Second, func() bool { return pending(t, st, "dav") == 0 })
	mu.Lock()
	defer mu.Unlock()
	if working != 6 || started != 6 {
		t.Errorf("Working called %d times for %d deliveries, want 6 and 6", working, started)
	}
}
