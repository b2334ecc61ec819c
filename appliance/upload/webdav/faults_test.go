package webdav

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/appliance/upload"
	"github.com/lapsebox/lapsebox/appliance/upload/uploadtest"
)

// watch polls the server's listing (PROPFIND, directly) until stop is
// closed and reports any file that is neither a temporary one nor an
// expected photo of its exact size: a half-written file under a final
// name, seen while it happens.
func watch(t *testing.T, s *server, sizes map[string]int64, stop <-chan struct{}) (polls *atomic.Int64, done <-chan struct{}) {
	t.Helper()
	w := newTarget(t, s.directURL(), nil)
	polls = new(atomic.Int64)
	d := make(chan struct{})
	go func() {
		defer close(d)
		bad := map[string]bool{}
		for {
			select {
			case <-stop:
				return
			case <-time.After(15 * time.Millisecond):
			}
			es, err := w.snapshot(context.Background(), "")
			if err != nil {
				continue // the server is restarting
			}
			polls.Add(1)
			for name, size := range es {
				if isPart(name) {
					continue
				}
				if want, ok := sizes[name]; (!ok || want != size) && !bad[name] {
					bad[name] = true
					t.Errorf("listing shows %s with %d bytes, want %d (known: %v)", name, size, want, ok)
				}
			}
		}
	}()
	return polls, d
}

// snapshot lists every file under dir with its size.
func (t *Target) snapshot(ctx context.Context, dir string) (map[string]int64, error) {
	es, err := t.propfind(ctx, dir, "1")
	if err != nil {
		return nil, err
	}
	m := map[string]int64{}
	for _, e := range es {
		name, ok := t.rel(e.path)
		if !ok || name == strings.TrimSuffix(dir, "/") {
			continue
		}
		if !e.dir {
			m[name] = e.size
			continue
		}
		sub, err := t.snapshot(ctx, name+"/")
		if err != nil {
			return nil, err
		}
		for k, v := range sub {
			m[k] = v
		}
	}
	return m, nil
}

// TestFaults uploads photos through a faulty link and checks that each
// arrives once, intact, that no final name ever shows a partial file, and
// how many bytes the wire carried.
func TestFaults(t *testing.T) {
	t.Parallel()
	type setup struct {
		s *server
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
		{name: "clean", sizes: []int{3 << 20, 500 << 10, 10}},
		{name: "drops mid-body", sizes: []int{3 << 20, 500 << 10, 10}, before: func(s *setup) {
			s.p.Inject(uploadtest.Fault{At: 300 << 10, Drop: true},
				uploadtest.Fault{At: 1 << 20, Drop: true},
				uploadtest.Fault{At: 3<<20 + 512<<10, Drop: true},
				uploadtest.Fault{At: 6<<20 + 600<<10, Drop: true})
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
		{name: "500s", sizes: []int{1 << 20, 1000}, before: func(s *setup) {
			s.h.Inject(uploadtest.HTTPFault{Method: "PUT", Times: 2, Status: 500, Body: "boom", ReadBody: true})
			s.h.Inject(uploadtest.HTTPFault{Method: "MOVE", Status: 500, Body: "boom"})
			s.h.Inject(uploadtest.HTTPFault{Method: "PROPFIND", Status: 502})
			s.h.Inject(uploadtest.HTTPFault{Method: "MKCOL", Status: 500})
		}, check: func(t *testing.T, s *setup, _ time.Duration, _ int64) {
			if n := s.h.Injected(); n != 5 {
				t.Errorf("%d faults answered, want 5", n)
			}
		}},
		{name: "429 Retry-After", sizes: []int{300 << 10}, before: func(s *setup) {
			s.h.Inject(uploadtest.HTTPFault{Method: "PUT", Status: 429, Header: http.Header{"Retry-After": {"1"}}, Body: "slow down"})
			s.h.Inject(uploadtest.HTTPFault{Method: "MKCOL", Status: 503, Header: http.Header{"Retry-After": {"1"}}})
		}, check: func(t *testing.T, s *setup, elapsed time.Duration, _ int64) {
			if elapsed < 2*time.Second {
				t.Errorf("done in %v: the two Retry-After: 1 were not honoured", elapsed)
			}
		}},
		{name: "423 and 507", sizes: []int{300 << 10}, check: func(t *testing.T, s *setup, _ time.Duration, _ int64) {
			if n := s.h.Requests("PUT"); n != 2 {
				t.Errorf("%d PUTs, want 2: one refused (507), one moved after the lock went", n)
			}
		}, before: func(s *setup) {
			s.h.Inject(uploadtest.HTTPFault{Method: "MOVE", Times: 2, Status: 423, Body: "locked"})
			s.h.Inject(uploadtest.HTTPFault{Method: "PUT", Status: 507, Body: "full", ReadBody: true})
		}},
		{name: "server restart", sizes: []int{2 << 20}, before: func(s *setup) {
			s.p.SetRate(2<<20, 0)
		}, during: func(s *setup) {
			for s.p.BytesUp() < 600<<10 {
				time.Sleep(5 * time.Millisecond)
			}
			s.s.stop()
			time.Sleep(300 * time.Millisecond)
			s.s.start()
		}},
	} {
		for _, kind := range kinds {
			t.Run(kind+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				s := &setup{s: newServer(t, kind)}
				var err error
				if s.h, err = uploadtest.NewHTTPProxy("http://" + s.s.addr()); err != nil {
					t.Fatal(err)
				}
				defer s.h.Close()
				if s.p, err = uploadtest.NewProxy(strings.TrimPrefix(s.h.URL(), "http://")); err != nil {
					t.Fatal(err)
				}
				defer s.p.Close()
				s.s.public = s.p.Addr()
				s.s.start()
				t.Cleanup(s.s.stop)
				if tc.before != nil {
					tc.before(s)
				}
				tg := newTarget(t, s.s.url(), func(cfg *Config) {
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
}

// TestLiveCam replaces one fixed name 20 times, with a dropped connection
// in the middle, while a reader fetches it: every read is a whole photo.
func TestLiveCam(t *testing.T) {
	t.Parallel()
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			s := newServer(t, kind)
			p, err := uploadtest.NewProxy(s.addr())
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			s.public = p.Addr()
			s.start()
			t.Cleanup(s.stop)
			tg := newTarget(t, s.url(), func(c *Config) { c.FixedName = "live/latest.jpg" })
			sums := map[string]int{}
			var items []upload.Item
			var last []byte
			for i := 0; i < 20; i++ {
				item, data := uploadtest.Photo(fmt.Sprintf("2026/11/26/20261126120%03d.jpg", i), 100<<10+i*1000, uint64(i))
				items = append(items, item)
				sums[sum(data)] = i
				last = data
			}
			p.Inject(uploadtest.Fault{At: 1 << 20, Drop: true})
			stop := make(chan struct{})
			done := make(chan struct{})
			var reads, misses int
			go func() {
				defer close(done)
				for {
					select {
					case <-stop:
						return
					default:
					}
					b, err := s.get("live/latest.jpg")
					if err != nil {
						misses++
						continue
					}
					reads++
					if _, ok := sums[sum(b)]; !ok {
						t.Errorf("read %d bytes under the fixed name that are no photo", len(b))
					}
				}
			}()
			for _, item := range items {
				var r uploadtest.Resume
				if err := deliver(t, tg, item, &r, 3); err != nil {
					t.Fatalf("%s: %v", item.Name, err)
				}
			}
			close(stop)
			<-done
			t.Logf("%d whole reads during the 20 uploads, %d before the first; %d drops", reads, misses, p.Drops())
			s.check(map[string][]byte{"live/latest.jpg": last})
		})
	}
}
