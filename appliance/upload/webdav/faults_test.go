package webdav

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/appliance/upload"
	"github.com/lapsebox/lapsebox/appliance/upload/uploadtest"
)

// List implements uploadtest.Lister: every file under the collection
// with its size, temporary files left out, straight from the server.
func (s *server) List(ctx context.Context) (map[string]int64, error) {
	files, err := newTarget(s.t, s.directURL(), nil).snapshot(ctx, "")
	for name := range files {
		if isPart(name) {
			delete(files, name)
		}
	}
	return files, err
}

// Check implements uploadtest.FaultServer.
func (s *server) Check(t *testing.T, want map[string][]byte) { s.check(want) }

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

// TestFaults runs the fault matrix against nginx and Apache: every photo
// arrives once and intact, no final name ever shows a partial file, and
// every fault happened.
func TestFaults(t *testing.T) {
	t.Parallel()
	small := []int{3 << 20, 500 << 10, 10}
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			uploadtest.FaultTest{
				Server: func(t *testing.T, public string) uploadtest.FaultServer {
					s := newServer(t, kind)
					s.public = public
					s.start()
					return s
				},
				Target: func(t *testing.T, addr string, c uploadtest.FaultCase) upload.Target {
					return newTarget(t, "http://"+addr+"/dav/", func(cfg *Config) { cfg.StallTimeout = c.StallTimeout })
				},
				Cases: []uploadtest.FaultCase{
					uploadtest.Clean(small...),
					uploadtest.Drops(small, 300<<10, 1<<20, 3<<20+512<<10, 6<<20+600<<10),
					uploadtest.Stall(),
					uploadtest.SlowLink(),
					uploadtest.ServerErrors([]int{1 << 20, 1000},
						uploadtest.HTTPFault{Method: "PUT", Times: 2, Status: 500, Body: "boom", ReadBody: true},
						uploadtest.HTTPFault{Method: "MOVE", Status: 500, Body: "boom"},
						uploadtest.HTTPFault{Method: "PROPFIND", Status: 502},
						uploadtest.HTTPFault{Method: "MKCOL", Status: 500}),
					uploadtest.RetryAfter("PUT", "MKCOL"),
					{Name: "423 and 507", Sizes: []int{300 << 10}, Before: func(r *uploadtest.Rig) {
						r.HTTP.Inject(uploadtest.HTTPFault{Method: "MOVE", Times: 2, Status: 423, Body: "locked"})
						r.HTTP.Inject(uploadtest.HTTPFault{Method: "PUT", Status: 507, Body: "full", ReadBody: true})
					}, Check: func(t *testing.T, r *uploadtest.Rig, _ time.Duration, _ int64) {
						if n := r.HTTP.Requests("PUT"); n != 2 {
							t.Errorf("%d PUTs, want 2: one refused (507), one moved after the lock went", n)
						}
					}},
					uploadtest.Restart(2<<20, 2<<20, 600<<10),
				},
			}.Run(t)
		})
	}
}

// TestLiveCam replaces one fixed name 20 times, with a dropped connection
// in the middle, while a reader reads it: every read is a whole photo.
func TestLiveCam(t *testing.T) {
	t.Parallel()
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			s := newServer(t, kind)
			p := uploadtest.StartProxy(t, "")
			s.public = p.Addr()
			s.start()
			p.SetUpstream(s.addr())
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
			// A viewer's GET, on nginx. Apache's GET takes the file's size
			// before it opens the file, so a viewer can get the new photo
			// cut to the old one's length however atomically it was
			// replaced (seen: photo 1's first 102400 bytes, photo 0's
			// length); there the reader opens the file itself, which is
			// what the MOVE must keep whole.
			read := func() ([]byte, error) { return s.get("live/latest.jpg") }
			if kind == "apache" {
				read = func() ([]byte, error) { return os.ReadFile(filepath.Join(s.root, "live", "latest.jpg")) }
			}
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
					b, err := read()
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
				if err := uploadtest.Deliver(t, tg, item, &r, 3); err != nil {
					t.Fatalf("%s: %v", item.Name, err)
				}
			}
			close(stop)
			<-done
			t.Logf("%d whole reads during the 20 uploads, %d before the first; %d drops", reads, misses, p.Drops())
			s.check(map[string][]byte{"live/latest.jpg": last})
			if p.Drops() != 1 || p.Conns() < 2 {
				t.Errorf("%d drops, %d connections: want the drop to happen and the target to connect again", p.Drops(), p.Conns())
			}
		})
	}
}
