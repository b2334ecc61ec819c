package s3

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/appliance/upload"
	"github.com/lapsebox/lapsebox/appliance/upload/uploadtest"
)

// watch polls ListObjectsV2 (directly) until stop is closed and reports
// any object whose key or size is not that of an expected photo.
func watch(t *testing.T, s *store, sizes map[string]int64, stop <-chan struct{}) (*atomic.Int64, <-chan struct{}) {
	t.Helper()
	w := newTarget(t, s.url(), nil)
	polls := new(atomic.Int64)
	done := make(chan struct{})
	go func() {
		defer close(done)
		bad := map[string]bool{}
		for {
			select {
			case <-stop:
				return
			case <-time.After(15 * time.Millisecond):
			}
			resp, err := w.do(context.Background(), http.MethodGet, "", map[string][]string{"list-type": {"2"}}, nil, nil)
			if err != nil {
				continue // restarting
			}
			page, err := parseList(io.LimitReader(resp.Body, 1<<20))
			drain(resp)
			if err != nil {
				continue
			}
			polls.Add(1)
			for _, o := range page.Objects {
				if want, ok := sizes[o.Key]; (!ok || want != o.Size) && !bad[o.Key] {
					bad[o.Key] = true
					t.Errorf("listing shows %s with %d bytes, want %d (known: %v)", o.Key, o.Size, want, ok)
				}
			}
		}
	}()
	return polls, done
}

// TestFaults uploads photos, single-part and multipart, through a faulty
// link and checks that each arrives once and intact, that no listing ever
// shows a partial object, and how many bytes the wire carried.
func TestFaults(t *testing.T) {
	t.Parallel()
	type setup struct {
		s *store
		p *uploadtest.Proxy
		h *uploadtest.HTTPProxy
	}
	for _, tc := range []struct {
		name   string
		sizes  []int
		stall  time.Duration
		before func(s *setup)
		during func(s *setup)
		check  func(t *testing.T, s *setup, elapsed time.Duration, total int64)
	}{
		{name: "clean", sizes: []int{12 << 20, 500 << 10, 10}},
		{name: "drops mid-body", sizes: []int{12 << 20, 3 << 20}, before: func(s *setup) {
			s.p.Inject(uploadtest.Fault{At: 300 << 10, Drop: true},
				uploadtest.Fault{At: 7 << 20, Drop: true},
				uploadtest.Fault{At: 11 << 20, Drop: true},
				uploadtest.Fault{At: 14 << 20, Drop: true})
		}, check: func(t *testing.T, s *setup, _ time.Duration, total int64) {
			// Each drop costs at most the part (5 MiB) or the small
			// photo (3 MiB) it cut.
			if up := s.p.BytesUp(); up > total+4*(5<<20) {
				t.Errorf("%d bytes up for %d of photos", up, total)
			}
		}},
		{name: "stall", sizes: []int{2 << 20}, before: func(s *setup) {
			s.p.SetRate(1<<20, 0)
			s.p.Inject(uploadtest.Fault{At: 700 << 10, Stall: 4 * time.Second})
		}},
		{name: "10KB/s", sizes: []int{80 << 10}, stall: 3 * time.Second, before: func(s *setup) {
			s.p.SetRate(10<<10, 10<<10)
		}, check: func(t *testing.T, s *setup, elapsed time.Duration, total int64) {
			good := float64(total) / elapsed.Seconds()
			t.Logf("goodput on a 10 KB/s link: %.0f B/s (%.0f%% of the link)", good, 100*good/(10<<10))
			if good < 0.7*(10<<10) {
				t.Errorf("goodput %.0f B/s, below 70%% of the link", good)
			}
		}},
		{name: "500s", sizes: []int{12 << 20, 1000}, before: func(s *setup) {
			s.h.Inject(uploadtest.HTTPFault{Method: "PUT", Times: 2, Status: 500, Body: "boom", ReadBody: true})
			s.h.Inject(uploadtest.HTTPFault{Method: "POST", Times: 2, Status: 500, Body: "<Error><Code>InternalError</Code></Error>"})
			s.h.Inject(uploadtest.HTTPFault{Method: "HEAD", Status: 502})
		}, check: func(t *testing.T, s *setup, _ time.Duration, _ int64) {
			if n := s.h.Injected(); n != 5 {
				t.Errorf("%d faults answered, want 5", n)
			}
		}},
		{name: "429 Retry-After", sizes: []int{300 << 10}, before: func(s *setup) {
			s.h.Inject(uploadtest.HTTPFault{Method: "PUT", Status: 429, Header: http.Header{"Retry-After": {"1"}}, Body: "slow down"})
			s.h.Inject(uploadtest.HTTPFault{Method: "HEAD", Status: 503, Header: http.Header{"Retry-After": {"1"}}})
		}, check: func(t *testing.T, s *setup, elapsed time.Duration, _ int64) {
			if elapsed < 2*time.Second {
				t.Errorf("done in %v: the two Retry-After: 1 were not honoured", elapsed)
			}
		}},
		{name: "server restart", sizes: []int{12 << 20}, before: func(s *setup) {
			s.p.SetRate(8<<20, 0)
		}, during: func(s *setup) {
			for s.p.BytesUp() < 7<<20 {
				time.Sleep(5 * time.Millisecond)
			}
			s.s.stop()
			time.Sleep(300 * time.Millisecond)
			s.s.start()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := &setup{s: startStore(t, false)}
			var err error
			if s.h, err = uploadtest.NewHTTPProxy(s.s.url()); err != nil {
				t.Fatal(err)
			}
			defer s.h.Close()
			if s.p, err = uploadtest.NewProxy(strings.TrimPrefix(s.h.URL(), "http://")); err != nil {
				t.Fatal(err)
			}
			defer s.p.Close()
			if tc.before != nil {
				tc.before(s)
			}
			tg := newTarget(t, s.p.URL(), func(cfg *Config) {
				cfg.MultipartThreshold, cfg.PartSize = 6<<20, 5<<20
				cfg.StallTimeout = time.Second
				if tc.stall > 0 {
					cfg.StallTimeout = tc.stall
				}
			})
			want := map[string][]byte{}
			sizes := map[string]int64{}
			var items []upload.Item
			var total int64
			for i, size := range tc.sizes {
				item, data := uploadtest.Photo(fmt.Sprintf("2026/11/26/20261126120%03d.jpg", i), size, uint64(i+7))
				items = append(items, item)
				want[item.Name], sizes[item.Name] = data, int64(size)
				total += int64(size)
			}
			stop := make(chan struct{})
			polls, watched := watch(t, s.s, sizes, stop)
			var wg sync.WaitGroup
			if tc.during != nil {
				wg.Add(1)
				go func() { defer wg.Done(); tc.during(s) }()
			}
			start := time.Now()
			for _, item := range items {
				var r uploadtest.Resume
				if err := deliver(t, tg, item, &r, 5); err != nil {
					t.Fatalf("%s: %v", item.Name, err)
				}
			}
			elapsed := time.Since(start)
			wg.Wait()
			close(stop)
			<-watched
			s.s.check(want)
			t.Logf("%d bytes of photos in %v: %d bytes up (%.4f per photo byte), %d down, %d connections, %d drops, %d listings watched",
				total, elapsed.Round(time.Millisecond), s.p.BytesUp(), float64(s.p.BytesUp())/float64(total), s.p.BytesDown(), s.p.Conns(), s.p.Drops(), polls.Load())
			if tc.check != nil {
				tc.check(t, s, elapsed, total)
			}
		})
	}
}

// TestResume cuts a multipart upload after its first part, as a reboot
// would, and continues it from the saved state: the acknowledged part is
// not sent again.
func TestResume(t *testing.T) {
	t.Parallel()
	s := startStore(t, false)
	p, err := uploadtest.NewProxy(s.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	tg := newTarget(t, p.URL(), func(c *Config) { c.MultipartThreshold, c.PartSize, c.Rounds = 6<<20, 5<<20, 1 })
	item, data := uploadtest.Photo("2026/11/26/20261126120000.jpg", 12<<20, 1)
	p.Inject(uploadtest.Fault{At: 7 << 20, Drop: true})
	var r uploadtest.Resume
	if err := tg.Upload(context.Background(), item, r.Save); err == nil {
		t.Fatal("upload succeeded through a dropped connection in one round")
	}
	if !strings.Contains(string(r.State()), `"n":1`) {
		t.Fatalf("resume state %s: want the first part", r.State())
	}
	before := p.BytesUp()
	tg = newTarget(t, p.URL(), func(c *Config) { c.MultipartThreshold, c.PartSize = 6<<20, 5<<20 })
	if err := deliver(t, tg, item, &r, 1); err != nil {
		t.Fatal(err)
	}
	if sent := p.BytesUp() - before; sent > 7<<20+64<<10 {
		t.Errorf("resumed upload sent %d bytes, want the last 7 MiB and a little", sent)
	}
	s.check(map[string][]byte{item.Name: data})
	// A photo changed under a saved state: the old upload is aborted.
	r.Save(nil)
	other, _ := uploadtest.Photo("2026/11/26/other.jpg", 12<<20, 2)
	p.Inject(uploadtest.Fault{At: p.BytesUp() + 6<<20, Drop: true})
	tg1 := newTarget(t, p.URL(), func(c *Config) { c.MultipartThreshold, c.PartSize, c.Rounds = 6<<20, 5<<20, 1 })
	if err := tg1.Upload(context.Background(), other, r.Save); err == nil {
		t.Fatal("no drop")
	}
	changed, changedData := uploadtest.Photo("2026/11/26/other.jpg", 12<<20+1, 3)
	if err := deliver(t, tg, changed, &r, 2); err != nil {
		t.Fatal(err)
	}
	s.check(map[string][]byte{item.Name: data, changed.Name: changedData})
}
