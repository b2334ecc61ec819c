package tus

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/appliance/upload"
	"github.com/lapsebox/lapsebox/appliance/upload/uploadtest"
	"github.com/lapsebox/lapsebox/cloud/ingest"
	"github.com/lapsebox/lapsebox/cloud/ingest/ingesttest"
)

// deliver calls Upload until it succeeds, as uploadd's outbox would, at
// most tries times.
func deliver(t *testing.T, tg *Target, item upload.Item, r *uploadtest.Resume, tries int) error {
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

func TestUploadSmallAndLarge(t *testing.T) {
	t.Parallel()
	for _, withUpload := range []bool{false, true} {
		c := startCloud(t, ingest.Config{})
		tg := newTarget(t, c.URL(), func(cfg *Config) {
			cfg.ChunkSize = 1 << 20
			cfg.CreateWithUpload = withUpload
		})
		want := map[string][]byte{}
		var total int64
		for i, size := range []int{0, 1, 1000, 3<<20 + 17} {
			name := fmt.Sprintf("2026/11/26/2026112612000%d.jpg", i)
			item, data := uploadtest.Photo(name, size, uint64(i))
			var r uploadtest.Resume
			if err := tg.Upload(context.Background(), item, r.Save); err != nil {
				t.Fatalf("%s (%d bytes): %v", name, size, err)
			}
			want[name] = data
			total += int64(size)
		}
		check(t, c, want)
		if got := c.Server.Status()[testDevice]; got.Photos != 4 || got.Bytes != total || got.BodyBytes != total {
			t.Errorf("status %+v, want 4 photos of %d bytes, as many received", got, total)
		}
		names, err := tg.List(context.Background(), "2026/11/")
		if err != nil {
			t.Fatal(err)
		}
		if len(names) != 4 || names[0] != "2026/11/26/20261126120000.jpg" {
			t.Errorf("List = %q, want the 4 names", names)
		}
		if names, err := tg.List(context.Background(), "2027/"); err != nil || len(names) != 0 {
			t.Errorf("List(2027/) = %q, %v; want nothing", names, err)
		}
	}
}

// TestIdempotent uploads a photo twice (the outbox lost its entry's
// success) and then a different photo under the same name.
func TestIdempotent(t *testing.T) {
	t.Parallel()
	c := startCloud(t, ingest.Config{})
	tg := newTarget(t, c.URL(), nil)
	name := "2026/11/26/20261126120000.jpg"
	item, data := uploadtest.Photo(name, 200<<10, 1)
	for i := 0; i < 2; i++ {
		var r uploadtest.Resume
		if err := tg.Upload(context.Background(), item, r.Save); err != nil {
			t.Fatalf("upload %d: %v", i, err)
		}
	}
	if got := c.Server.Status()[testDevice].BodyBytes; got != int64(len(data)) {
		t.Errorf("server received %d bytes, want %d: the second upload should send none", got, len(data))
	}
	other, otherData := uploadtest.Photo(name, 100<<10, 2)
	for i := 0; i < 2; i++ {
		var r uploadtest.Resume
		if err := tg.Upload(context.Background(), other, r.Save); err != nil {
			t.Fatalf("other photo, upload %d: %v", i, err)
		}
	}
	check(t, c, map[string][]byte{name: data, "2026/11/26/20261126120000-1.jpg": otherData})
}

// TestRefused checks the errors a device gets for what the server refuses:
// permanent, with the server's explanation.
func TestRefused(t *testing.T) {
	t.Parallel()
	c := startCloud(t, ingest.Config{MaxSize: 1 << 20})
	good, _ := uploadtest.Photo("2026/11/26/20261126120000.jpg", 1000, 1)
	big, _ := uploadtest.Photo("2026/11/26/big.jpg", 1<<20+1, 1)
	tricky := good
	tricky.Name = "../../etc/passwd"
	badSum := good
	badSum.Name = "2026/11/26/corrupt.jpg"
	badSum.SHA256 = strings.Repeat("0", 64)
	for _, tc := range []struct {
		name   string
		mod    func(*Config)
		item   upload.Item
		status int
		msg    string
	}{
		// The same answer for both: device names are not for probing.
		{"bad token", func(c *Config) { c.Token = "guess" }, good, 401, "missing or wrong credential"},
		{"unknown device", func(c *Config) { c.Device = "stolen-1" }, good, 401, "missing or wrong credential"},
		{"path trick", nil, tricky, 400, `name "../../etc/passwd" has an element ".."`},
		{"oversize", nil, big, 413, "maximum size exceeded"},
	} {
		tg := newTarget(t, c.URL(), tc.mod)
		var r uploadtest.Resume
		err := tg.Upload(context.Background(), tc.item, r.Save)
		if !isPermanent(err, tc.status) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: got %v, want a permanent %d saying %q", tc.name, err, tc.status, tc.msg)
		}
		if strings.Contains(fmt.Sprint(err), testToken) {
			t.Errorf("%s: the error shows the token: %v", tc.name, err)
		}
	}
	// Bytes that do not hash to the declared sum: never stored, retried.
	tg := newTarget(t, c.URL(), nil)
	var r uploadtest.Resume
	err := tg.Upload(context.Background(), badSum, r.Save)
	if err == nil || upload.IsPermanent(err) || !strings.Contains(err.Error(), "do not match sha256") {
		t.Errorf("mismatching sha256: got %v, want a retryable error saying so", err)
	}
	if st := c.Server.Status()[testDevice]; st.Rejected != 3 {
		t.Errorf("server rejected %d uploads, want 3 (one per start)", st.Rejected)
	}
	check(t, c, nil)
}

// TestExpired resumes an upload the server expired: it starts over.
func TestExpired(t *testing.T) {
	t.Parallel()
	c := startCloud(t, ingest.Config{})
	p, err := uploadtest.NewProxy(c.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	tg := newTarget(t, p.URL(), func(cfg *Config) { cfg.Rounds = 1 })
	item, data := uploadtest.Photo("2026/11/26/20261126120000.jpg", 1<<20, 1)
	p.Inject(uploadtest.Fault{At: 300 << 10, Drop: true})
	var r uploadtest.Resume
	if err := tg.Upload(context.Background(), item, r.Save); err == nil {
		t.Fatal("upload succeeded through a dropped connection in one round")
	}
	if r.State() == nil {
		t.Fatal("no resume state saved")
	}
	c.Server.Sweep(time.Now().Add(8 * 24 * time.Hour))
	if err := deliver(t, tg, item, &r, 3); err != nil {
		t.Fatal(err)
	}
	check(t, c, map[string][]byte{item.Name: data})
}

// TestFaults uploads photos through a faulty link and checks that each
// arrives once, intact, and how many bytes the wire carried for it.
func TestFaults(t *testing.T) {
	t.Parallel()
	type setup struct {
		c     *ingesttest.Cloud
		p     *uploadtest.Proxy
		h     *uploadtest.HTTPProxy
		sizes []int
	}
	for _, tc := range []struct {
		name   string
		sizes  []int
		chunk  int64
		stall  time.Duration
		before func(s *setup)
		during func(s *setup) // runs alongside the uploads
		check  func(t *testing.T, s *setup, elapsed time.Duration)
	}{
		{name: "clean", sizes: []int{3 << 20, 500 << 10, 10}},
		{name: "drops mid-body", sizes: []int{3 << 20, 500 << 10, 10}, before: func(s *setup) {
			s.p.Inject(uploadtest.Fault{At: 300 << 10, Drop: true},
				uploadtest.Fault{At: 1 << 20, Drop: true},
				uploadtest.Fault{At: 2<<20 + 5000, Drop: true},
				uploadtest.Fault{At: 3<<20 + 100<<10, Drop: true})
		}},
		{name: "stall", sizes: []int{2 << 20}, before: func(s *setup) {
			s.p.SetRate(1<<20, 0)
			s.p.Inject(uploadtest.Fault{At: 700 << 10, Stall: 4 * time.Second})
		}},
		{name: "10KB/s", sizes: []int{80 << 10}, chunk: 32 << 10, stall: 3 * time.Second, before: func(s *setup) {
			s.p.SetRate(10<<10, 10<<10)
		}, check: func(t *testing.T, s *setup, elapsed time.Duration) {
			good := float64(80<<10) / elapsed.Seconds()
			t.Logf("goodput on a 10 KB/s link: %.0f B/s (%.0f%% of the link)", good, 100*good/(10<<10))
			if good < 0.7*(10<<10) {
				t.Errorf("goodput %.0f B/s, below 70%% of the link", good)
			}
		}},
		{name: "500s", sizes: []int{1 << 20, 1000}, chunk: 256 << 10, before: func(s *setup) {
			s.h.Inject(uploadtest.HTTPFault{Method: "POST", Status: 500, Body: "boom"})
			s.h.Inject(uploadtest.HTTPFault{Method: "PATCH", Times: 2, Status: 500, Body: "boom", ReadBody: true})
			s.h.Inject(uploadtest.HTTPFault{Method: "HEAD", Status: 502})
		}, check: func(t *testing.T, s *setup, _ time.Duration) {
			if n := s.h.Injected(); n != 4 {
				t.Errorf("%d faults answered, want 4", n)
			}
		}},
		{name: "429 Retry-After", sizes: []int{300 << 10}, chunk: 100 << 10, before: func(s *setup) {
			s.h.Inject(uploadtest.HTTPFault{Method: "PATCH", Status: 429, Header: http.Header{"Retry-After": {"1"}}, Body: "slow down"})
			s.h.Inject(uploadtest.HTTPFault{Method: "POST", Status: 503, Header: http.Header{"Retry-After": {"1"}}})
		}, check: func(t *testing.T, s *setup, elapsed time.Duration) {
			if elapsed < 2*time.Second {
				t.Errorf("done in %v: the two Retry-After: 1 were not honoured", elapsed)
			}
		}},
		{name: "server restart", sizes: []int{2 << 20}, chunk: 256 << 10, before: func(s *setup) {
			s.p.SetRate(2<<20, 0)
		}, during: func(s *setup) {
			for s.p.BytesUp() < 600<<10 {
				time.Sleep(5 * time.Millisecond)
			}
			s.c.Stop()
			time.Sleep(300 * time.Millisecond)
			s.c.Restart()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := &setup{c: startCloud(t, ingest.Config{}), sizes: tc.sizes}
			var err error
			// The device's link (the TCP proxy) comes first, as the
			// queue of a slow link sits in the device's socket.
			if s.h, err = uploadtest.NewHTTPProxy(s.c.URL()); err != nil {
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
			chunk := tc.chunk
			if chunk == 0 {
				chunk = 1 << 20
			}
			tg := newTarget(t, s.p.URL(), func(cfg *Config) {
				cfg.ChunkSize = chunk
				cfg.StallTimeout = time.Second
				if tc.stall > 0 {
					cfg.StallTimeout = tc.stall
				}
			})
			var wg sync.WaitGroup
			if tc.during != nil {
				wg.Add(1)
				go func() { defer wg.Done(); tc.during(s) }()
			}
			start := time.Now()
			want := map[string][]byte{}
			var total int64
			for i, size := range tc.sizes {
				item, data := uploadtest.Photo(fmt.Sprintf("2026/11/26/20261126120%03d.jpg", i), size, uint64(i+7))
				var r uploadtest.Resume
				if err := deliver(t, tg, item, &r, 5); err != nil {
					t.Fatalf("%s: %v", item.Name, err)
				}
				want[item.Name] = data
				total += int64(size)
			}
			elapsed := time.Since(start)
			wg.Wait()
			check(t, s.c, want)
			t.Logf("%d bytes of photos in %v: %d bytes up (%.4f per photo byte), %d down, %d connections, %d drops",
				total, elapsed.Round(time.Millisecond), s.p.BytesUp(), float64(s.p.BytesUp())/float64(total), s.p.BytesDown(), s.p.Conns(), s.p.Drops())
			if tc.check != nil {
				tc.check(t, s, elapsed)
			}
		})
	}
}

var _ = errors.Is
