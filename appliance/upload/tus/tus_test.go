package tus

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/appliance/upload"
	"github.com/lapsebox/lapsebox/appliance/upload/uploadtest"
	"github.com/lapsebox/lapsebox/cloud/ingest"
	"github.com/lapsebox/lapsebox/cloud/ingest/ingesttest"
)

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

// The resume state is saved once the upload exists and after every chunk
// but the last: the answer to the last confirms the photo, whose outbox
// entry goes next, and a save (a write and its fsyncs on the device)
// would only hold up the next photo.
func TestNoSaveAfterTheConfirmedChunk(t *testing.T) {
	t.Parallel()
	c := startCloud(t, ingest.Config{})
	tg := newTarget(t, c.URL(), func(cfg *Config) { cfg.ChunkSize = 1 << 20 })
	for i, tc := range []struct{ size, saves int }{{1000, 1}, {3<<20 + 17, 4}} {
		item, _ := uploadtest.Photo(fmt.Sprintf("2026/11/26/2026112612000%d.jpg", i), tc.size, uint64(i))
		var r uploadtest.Resume
		if err := tg.Upload(context.Background(), item, r.Save); err != nil {
			t.Fatal(err)
		}
		if r.Saves() != tc.saves {
			t.Errorf("%d bytes in chunks of 1 MiB: %d saves, want %d (creation, chunks but the last)", tc.size, r.Saves(), tc.saves)
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
	p := uploadtest.StartProxy(t, c.Addr())
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
	if err := uploadtest.Deliver(t, tg, item, &r, 3); err != nil {
		t.Fatal(err)
	}
	check(t, c, map[string][]byte{item.Name: data})
}

// faultCloud is cloudd as the fault matrix drives it.
type faultCloud struct{ *ingesttest.Cloud }

func (c faultCloud) Start() error                               { c.Restart(); return nil }
func (c faultCloud) Check(t *testing.T, want map[string][]byte) { check(t, c.Cloud, want) }

// TestFaults runs the fault matrix: every photo arrives once and intact,
// and every fault happened.
func TestFaults(t *testing.T) {
	t.Parallel()
	// PATCH sizes, chosen so that faults land inside a chunk and a slow
	// link moves a chunk in a few seconds (default 1 MiB).
	chunks := map[string]int64{"10KB/s": 32 << 10, "500s": 256 << 10, "429 Retry-After": 100 << 10, "server restart": 256 << 10}
	small := []int{3 << 20, 500 << 10, 10}
	uploadtest.FaultTest{
		Server: func(t *testing.T, _ string) uploadtest.FaultServer {
			return faultCloud{startCloud(t, ingest.Config{})}
		},
		Target: func(t *testing.T, addr string, c uploadtest.FaultCase) upload.Target {
			return newTarget(t, "http://"+addr, func(cfg *Config) {
				cfg.ChunkSize = cmp.Or(chunks[c.Name], 1<<20)
				cfg.StallTimeout = c.StallTimeout
			})
		},
		Cases: []uploadtest.FaultCase{
			uploadtest.Clean(small...),
			uploadtest.Drops(small, 300<<10, 1<<20, 2<<20+5000, 3<<20+100<<10),
			uploadtest.Stall(),
			uploadtest.SlowLink(),
			uploadtest.ServerErrors([]int{1 << 20, 1000},
				uploadtest.HTTPFault{Method: "POST", Status: 500, Body: "boom"},
				uploadtest.HTTPFault{Method: "PATCH", Times: 2, Status: 500, Body: "boom", ReadBody: true},
				uploadtest.HTTPFault{Method: "HEAD", Status: 502}),
			uploadtest.RetryAfter("PATCH", "POST"),
			uploadtest.Restart(2<<20, 2<<20, 600<<10),
		},
	}.Run(t)
}

var _ = errors.Is
