package uploader

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/appliance/config"
	"github.com/lapsebox/lapsebox/appliance/store"
	"github.com/lapsebox/lapsebox/appliance/upload/uploadtest"
)

// backlogRate is the uplink of the benchmark: 1 Mbit/s, each way.
const backlogRate = 125_000 // bytes/s

// BenchmarkBacklogDrain measures how long uploadd's logic takes to drain a
// 72-hour backlog of JPGs (one picture every 5 minutes: 864) to cloudd
// through a 1 Mbit/s link, against the arithmetic limit: payload bytes /
// 125 000 bytes/s. The tus target is built as uploadd builds it
// (Transports, default chunk size) and reaches an in-process cloudd
// through uploadtest's shaped TCP proxy.
//
// Full-size 6 MB JPGs would take 11.5 hours, so the photos are scaled
// down: LAPSEBOX_BACKLOG_JPG_BYTES sets their size (default 16 KiB, about
// 2 minutes in all) and LAPSEBOX_BACKLOG_COUNT their number (default 864):
//
//	go test -run '^$' -bench BacklogDrain -benchtime 1x ./appliance/uploader
//
// At full size (lift go test's 10-minute timeout):
//
//	LAPSEBOX_BACKLOG_JPG_BYTES=6000000 go test -run '^$' -bench BacklogDrain -benchtime 1x -timeout 0 ./appliance/uploader
//
// Metrics: photos, payload-MB, wall-s (the drain), limit-s (the
// arithmetic limit), measured/limit, and wire-B/payload-B (bytes the
// proxy carried towards cloudd per photo byte: HTTP and tus overhead).
func BenchmarkBacklogDrain(b *testing.B) {
	if testing.Short() {
		b.Skip("BenchmarkBacklogDrain drains a backlog through a 1 Mbit/s link in real time (about 2 minutes at the default size): not under -short")
	}
	size := envInt(b, "LAPSEBOX_BACKLOG_JPG_BYTES", 16<<10)
	count := envInt(b, "LAPSEBOX_BACKLOG_COUNT", 72*60/5)

	var wall time.Duration
	var wire, totalPayload int64
	var limit float64
	b.StopTimer()
	for i := 0; i < b.N; i++ {
		c := startCloud(b)
		proxy, err := uploadtest.NewProxy(strings.TrimPrefix(c.URL(), "http://"))
		if err != nil {
			b.Fatal(err)
		}
		proxy.SetRate(backlogRate, backlogRate)
		st, err := store.Open(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		// Sizes vary by up to a quarter around size, as JPEGs do.
		var payload int64
		fill(b, st, count, size, "cloud")
		photos, _ := st.Pending("cloud")
		for _, e := range photos {
			payload += e.Size
		}
		limit = float64(payload) / backlogRate
		b.Logf("%d JPGs, %.2f MB: %.1f s at 1 Mbit/s", count, float64(payload)/1e6, limit)
		totalPayload += payload
		cfg := config.Target{Name: "cloud", Kind: config.Cloud, Send: config.SendOriginals, URL: proxy.URL()}
		tr, err := Transports[config.Cloud](cfg, token, device)
		if err != nil {
			b.Fatalf("making the cloud target for %s: %v", cfg.URL, err)
		}
		u := &Uploader{Store: st, Targets: []*Target{{Config: cfg, Transport: tr, ConfigHash: "bench"}}}

		// Ten times the limit, and a minute for the start: a drain that
		// slow is broken, not slow.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute+10*time.Duration(limit*float64(time.Second)))
		done := make(chan struct{})
		b.StartTimer()
		start := time.Now()
		go func() {
			u.Run(ctx)
			close(done)
		}()
		left := count
		for ctx.Err() == nil {
			if left = pending(b, st, "cloud"); left == 0 {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		took := time.Since(start)
		b.StopTimer()
		cancel()
		<-done
		proxy.Close()
		if left > 0 {
			b.Fatalf("%d of %d photos still pending after %v: %+v", left, count, took.Round(time.Second), u.Snapshot())
		}
		if n := len(c.Received(device)); n != count {
			b.Fatalf("cloudd holds %d photos after the drain, want %d", n, count)
		}
		wall += took
		wire += proxy.BytesUp()
	}
	secs := wall.Seconds() / float64(b.N)
	b.ReportMetric(float64(count), "photos")
	payload := float64(totalPayload) / float64(b.N)
	b.ReportMetric(payload/1e6, "payload-MB")
	b.ReportMetric(secs, "wall-s")
	b.ReportMetric(limit, "limit-s")
	b.ReportMetric(secs/limit, "measured/limit")
	b.ReportMetric(float64(wire)/float64(b.N)/payload, "wire-B/payload-B")
}

// envInt reads a positive integer from the environment, or returns def.
func envInt(b testing.TB, name string, def int) int {
	b.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		b.Fatalf("%s=%q: want a positive whole number", name, s)
	}
	return n
}
