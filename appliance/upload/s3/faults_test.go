package s3

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/appliance/upload"
	"github.com/lapsebox/lapsebox/appliance/upload/uploadtest"
	"github.com/lapsebox/lapsebox/internal/s3client"
)

// List implements uploadtest.Lister: every object with its size, from
// ListObjectsV2 straight to the store.
func (s *store) List(ctx context.Context) (map[string]int64, error) {
	resp, err := newTarget(s.t, s.url(), nil).do(ctx, http.MethodGet, "", map[string][]string{"list-type": {"2"}}, nil, nil)
	if err != nil {
		return nil, err
	}
	defer upload.Drain(resp)
	page, err := s3client.ParseList(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	objects := map[string]int64{}
	for _, o := range page.Objects {
		objects[o.Key] = o.Size
	}
	return objects, nil
}

// Check implements uploadtest.FaultServer.
func (s *store) Check(t *testing.T, want map[string][]byte) { s.check(want) }

// TestFaults runs the fault matrix, single-part and multipart (6 MiB and
// up, in 5 MiB parts): every photo arrives once and intact, no listing
// ever shows a partial object, and every fault happened.
func TestFaults(t *testing.T) {
	t.Parallel()
	uploadtest.FaultTest{
		Server: func(t *testing.T, _ string) uploadtest.FaultServer { return startStore(t, false) },
		Target: func(t *testing.T, addr string, c uploadtest.FaultCase) upload.Target {
			return newTarget(t, "http://"+addr, func(cfg *Config) {
				cfg.MultipartThreshold, cfg.PartSize = 6<<20, 5<<20
				cfg.StallTimeout = c.StallTimeout
			})
		},
		Cases: []uploadtest.FaultCase{
			uploadtest.Clean(12<<20, 500<<10, 10),
			withCheck(uploadtest.Drops([]int{12 << 20, 3 << 20}, 300<<10, 7<<20, 11<<20, 14<<20),
				func(t *testing.T, r *uploadtest.Rig, _ time.Duration, total int64) {
					// Each drop costs at most the part (5 MiB) or the
					// small photo (3 MiB) it cut.
					if up := r.Link.BytesUp(); up > total+4*(5<<20) {
						t.Errorf("%d bytes up for %d of photos", up, total)
					}
				}),
			uploadtest.Stall(),
			uploadtest.SlowLink(),
			uploadtest.ServerErrors([]int{12 << 20, 1000},
				uploadtest.HTTPFault{Method: "PUT", Times: 2, Status: 500, Body: "boom", ReadBody: true},
				uploadtest.HTTPFault{Method: "POST", Times: 2, Status: 500, Body: "<Error><Code>InternalError</Code></Error>"},
				uploadtest.HTTPFault{Method: "HEAD", Status: 502}),
			uploadtest.RetryAfter("PUT", "HEAD"),
			uploadtest.Restart(12<<20, 8<<20, 7<<20),
		},
	}.Run(t)
}

func withCheck(c uploadtest.FaultCase, check func(t *testing.T, r *uploadtest.Rig, elapsed time.Duration, total int64)) uploadtest.FaultCase {
	c.Check = check
	return c
}

// TestResume cuts a multipart upload after its first part, as a reboot
// would, and continues it from the saved state: the acknowledged part is
// not sent again.
func TestResume(t *testing.T) {
	t.Parallel()
	s := startStore(t, false)
	p := uploadtest.StartProxy(t, s.addr())
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
	if err := uploadtest.Deliver(t, tg, item, &r, 1); err != nil {
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
	if err := uploadtest.Deliver(t, tg, changed, &r, 2); err != nil {
		t.Fatal(err)
	}
	s.check(map[string][]byte{item.Name: data, changed.Name: changedData})
}
