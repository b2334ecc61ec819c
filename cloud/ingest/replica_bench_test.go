package ingest_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/appliance/upload/tus"
	"github.com/lapsebox/lapsebox/appliance/upload/uploadtest"
	"github.com/lapsebox/lapsebox/cloud/archive"
	"github.com/lapsebox/lapsebox/cloud/ingest"
	"github.com/lapsebox/lapsebox/cloud/ingest/ingesttest"
	"github.com/lapsebox/lapsebox/internal/rusage"
)

// BenchmarkIngestTwoStores uploads the same photos, with the device's
// own tus uploader over loopback, to three cloudd ingests in turn: one
// that keeps each photo once (the reference), one that also copies it
// to a second directory, and one that also puts it in versitygw. It
// reports each one's throughput (MB/s of photos acknowledged) and CPU
// per photo: this process's (the uploader and cloudd together, the same
// uploader for all three) and, for versitygw, the store's own. The
// ratios are against the reference in the same run.
func BenchmarkIngestTwoStores(b *testing.B) {
	const size = 6 << 20 // an 18 MP JPEG
	srv := uploadtest.StartVersitygw(b, false)
	s3, err := archive.NewS3(archive.S3Config{Endpoint: srv.URL(), Bucket: uploadtest.S3Bucket, Prefix: "lapsebox/",
		AccessKey: uploadtest.S3Access, SecretKey: uploadtest.S3Secret, PathStyle: true})
	if err != nil {
		b.Fatal(err)
	}
	dir, err := archive.OpenDir(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	type setup struct {
		name    string
		replica archive.Store
		pid     func() int // a store's own process, 0 for none
		tg      *tus.Target
		wall    time.Duration
		cpu     time.Duration
		other   time.Duration
	}
	setups := []*setup{
		{name: "one", pid: func() int { return 0 }},
		{name: "dir", replica: dir, pid: func() int { return 0 }},
		{name: "s3", replica: s3, pid: srv.Pid},
	}
	for _, s := range setups {
		c := ingesttest.Start(b, ingesttest.Options{Tokens: map[string]string{device: token}, Config: ingest.Config{Replica: s.replica}})
		tr := uploadtest.Transfer()
		if s.tg, err = tus.New(tus.Config{URL: c.URL(), Device: device, Token: token, Transfer: tr}); err != nil {
			b.Fatal(err)
		}
	}
	_, data := uploadtest.Photo("x", size, 1)
	ctx := context.Background()
	b.SetBytes(size * int64(len(setups)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		item := uploadtest.ItemOf(fmt.Sprintf("2026/12/03/IMG_%06d.JPG", i), data)
		for _, s := range setups {
			other0, _ := procCPU(s.pid())
			cpu0, t0 := rusage.CPU(), time.Now()
			if err := s.tg.Upload(ctx, item, new(uploadtest.Resume).Save); err != nil {
				b.Fatalf("%s: %v", s.name, err)
			}
			s.wall += time.Since(t0)
			s.cpu += rusage.CPU() - cpu0
			other1, _ := procCPU(s.pid())
			s.other += other1 - other0
		}
	}
	b.StopTimer()
	n := float64(b.N)
	mbps := func(s *setup) float64 { return n * size / 1e6 / s.wall.Seconds() }
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 / n }
	one := setups[0]
	b.ReportMetric(mbps(one), "one-MB/s")
	b.ReportMetric(ms(one.cpu), "one-cpu-ms/photo")
	for _, s := range setups[1:] {
		b.ReportMetric(mbps(s), s.name+"-MB/s")
		b.ReportMetric(mbps(s)/mbps(one), s.name+"/one-throughput")
		b.ReportMetric(ms(s.cpu), s.name+"-cpu-ms/photo")
		b.ReportMetric(ms(s.cpu)/ms(one.cpu), s.name+"/one-cpu")
	}
	b.ReportMetric(ms(setups[2].other), "versitygw-cpu-ms/photo")
}

// procCPU is rusage.ProcessCPU, 0 for no process.
func procCPU(pid int) (time.Duration, error) {
	if pid == 0 {
		return 0, nil
	}
	return rusage.ProcessCPU(pid)
}
