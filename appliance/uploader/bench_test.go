package uploader

import (
	"context"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"io"
	"log"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/appliance/config"
	"github.com/lapsebox/lapsebox/appliance/store"
	"github.com/lapsebox/lapsebox/appliance/upload/uploadtest"
	"github.com/lapsebox/lapsebox/internal/testtool"
)

// The sizes of the benchmark's photos: JPGs of 300 KB to 8 MB (spread
// evenly on a log scale, both ends included) and RAWs of about 25 MB.
const (
	minJPG  = 300_000
	maxJPG  = 8_000_000
	rawSize = 25_000_000
)

// BenchmarkBacklogDrain measures how long uploadd's logic takes to drain a
// backlog through a shaped link, against the arithmetic limit: payload
// bytes / link rate. It is a table of sub-benchmarks,
//
//	BacklogDrain/<target>/<rate>/<mix>
//
// target: cloud (an in-process cloudd ingest, tus, built as uploadd builds
// it: Transports, default chunk size) or webdav (a real nginx with its dav
// modules, through the WebDAV transport); rate: 1, 10 or 100 Mbit/s, each
// way, through uploadtest's shaped TCP proxy; mix: jpg (a JPG-only site,
// JPGs of 300 KB to 8 MB) or raw+jpg (a RAW+JPG site: each capture a RAW of
// about 25 MB and a JPG of 300 KB to 8 MB). Photo bytes are random, so
// nothing on the way can compress them.
//
// Each cell holds as many photos (captures for raw+jpg) as take about
// LAPSEBOX_BACKLOG_SECONDS (default 60) at its rate, at least one and no
// more than take 1.5 times that: an arithmetic limit of 30 to 90 s per cell.
// One RAW+JPG capture alone takes over 200 s at 1 Mbit/s, so the two
// 1 Mbit/s raw+jpg cells are the exception (one capture each); the whole
// table takes about 17 minutes, plus filling the stores (up to 1.1 GB of
// photos a cell at 100 Mbit/s, as much again on the server). Pick cells
// with -bench's pattern:
//
//	go test -run '^$' -bench BacklogDrain -benchtime 1x -timeout 40m ./appliance/uploader
//	go test -run '^$' -bench 'BacklogDrain/cloud/10Mbit' -benchtime 1x ./appliance/uploader
//
// LAPSEBOX_BACKLOG_CONCURRENCY sets the target's concurrency (default 1,
// the configuration's default); LAPSEBOX_BACKLOG_LOG=1 logs every
// delivery. make bench runs the table; BACKLOG_CELLS picks cells there
// (BACKLOG_CELLS='cloud/100Mbit' make bench).
//
// Metrics per cell: photos, payload-MB, wall-s (the drain), limit-s (the
// arithmetic limit), wall/limit (target: at most 1.05), wire/payload
// (bytes the proxy carried towards the server per photo byte: HTTP, tus
// and WebDAV overhead; target: at most 1.01) and down/payload (bytes back).
func BenchmarkBacklogDrain(b *testing.B) {
	if testing.Short() {
		b.Skip("BenchmarkBacklogDrain drains backlogs through shaped links in real time (minutes per cell): not under -short")
	}
	secs := envInt(b, "LAPSEBOX_BACKLOG_SECONDS", 60)
	for _, target := range []config.Kind{config.Cloud, config.WebDAV} {
		b.Run(string(target), func(b *testing.B) {
			for _, mbit := range []int64{1, 10, 100} {
				b.Run(fmt.Sprintf("%dMbit", mbit), func(b *testing.B) {
					for _, mix := range []string{"jpg", "raw+jpg"} {
						b.Run(mix, func(b *testing.B) {
							drain(b, target, mbit*125_000, mix, float64(secs))
						})
					}
				})
			}
		})
	}
}

// backlogPhoto is one file of a capture in a benchmark's backlog.
type backlogPhoto struct {
	ext  string
	size int
}

// backlog returns the captures of a mix for about secs seconds at rate
// bytes/s: JPG sizes from a fixed sequence that starts with both ends of
// the range, so every cell has a smallest and a largest JPG.
func backlog(mix string, rate int64, secs float64) [][]backlogPhoto {
	rnd := rand.New(rand.NewPCG(1, 2))
	jpg := func(i int) int {
		switch i {
		case 0:
			return minJPG
		case 1:
			return maxJPG
		}
		return int(minJPG * math.Pow(float64(maxJPG)/minJPG, rnd.Float64()))
	}
	want := float64(rate) * secs
	var caps [][]backlogPhoto
	var total float64
	for i := 0; total < want && i < 10000; i++ {
		var c []backlogPhoto
		if mix == "raw+jpg" {
			c = append(c, backlogPhoto{".cr2", rawSize - 1_000_000 + rnd.IntN(2_000_000)})
		}
		c = append(c, backlogPhoto{".jpg", jpg(i)})
		n := 0
		for _, p := range c {
			n += p.size
		}
		if len(caps) > 0 && total+float64(n) > 1.5*want {
			continue // too big to fit: try the next size
		}
		caps = append(caps, c)
		total += float64(n)
	}
	return caps
}

// drain runs one cell of BenchmarkBacklogDrain.
func drain(b *testing.B, kind config.Kind, rate int64, mix string, secs float64) {
	var wall time.Duration
	var up, down, totalPayload int64
	var limit float64
	var photos int
	b.StopTimer()
	for i := 0; i < b.N; i++ {
		var upstream string
		cfg := config.Target{Name: "t", Kind: kind, Send: config.SendOriginals, Concurrency: envInt(b, "LAPSEBOX_BACKLOG_CONCURRENCY", 1)}
		secret := token
		var received func() int
		switch kind {
		case config.Cloud:
			c := startCloud(b)
			upstream = strings.TrimPrefix(c.URL(), "http://")
			received = func() int { return len(c.Received(device)) }
		case config.WebDAV:
			d := startDAV(b)
			upstream = d.Addr()
			cfg.User, secret = davUser, davPassword
			received = func() int { return countFiles(b, d.root) }
		}
		proxy, err := uploadtest.NewProxy(upstream)
		if err != nil {
			b.Fatal(err)
		}
		proxy.SetRate(rate, rate)
		cfg.URL = proxy.URL()
		if kind == config.WebDAV {
			cfg.URL += "/dav/"
		}
		st, err := store.Open(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		fillBacklog(b, st, backlog(mix, rate, secs), cfg.Name)
		entries, err := st.Pending(cfg.Name)
		if err != nil {
			b.Fatal(err)
		}
		photos = len(entries)
		var payload int64
		for _, e := range entries {
			payload += e.Size
		}
		limit = float64(payload) / float64(rate)
		b.Logf("%d photos, %.1f MB: %.1f s at %d bytes/s", photos, float64(payload)/1e6, limit, rate)
		totalPayload += payload
		tr, err := Transports[kind](cfg, secret, device)
		if err != nil {
			b.Fatalf("making the %s target for %s: %v", kind, cfg.URL, err)
		}
		u := &Uploader{Store: st, Targets: []*Target{{Config: cfg, Transport: tr, ConfigHash: "bench"}}}
		if os.Getenv("LAPSEBOX_BACKLOG_LOG") != "" {
			u.Log = log.New(os.Stderr, "", log.Lmicroseconds)
		}

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
		left := photos
		for ctx.Err() == nil {
			if left = pending(b, st, cfg.Name); left == 0 {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		took := time.Since(start)
		b.StopTimer()
		cancel()
		<-done
		proxy.Close()
		if left > 0 {
			b.Fatalf("%d of %d photos still pending after %v: %+v", left, photos, took.Round(time.Second), u.Snapshot())
		}
		if n := received(); n != photos {
			b.Fatalf("the server holds %d photos after the drain, want %d", n, photos)
		}
		wall += took
		up += proxy.BytesUp()
		down += proxy.BytesDown()
	}
	n := float64(b.N)
	payload := float64(totalPayload) / n
	s := wall.Seconds() / n
	b.ReportMetric(float64(photos), "photos")
	b.ReportMetric(payload/1e6, "payload-MB")
	b.ReportMetric(s, "wall-s")
	b.ReportMetric(limit, "limit-s")
	b.ReportMetric(s/limit, "wall/limit")
	b.ReportMetric(float64(up)/n/payload, "wire/payload")
	b.ReportMetric(float64(down)/n/payload, "down/payload")
}

// fillBacklog stores captures of random bytes, five minutes apart, queued
// for target.
func fillBacklog(b *testing.B, st *store.Store, caps [][]backlogPhoto, target string) {
	b.Helper()
	rnd := rand.NewChaCha8([32]byte{7})
	buf := make([]byte, 1<<20)
	for i, c := range caps {
		files := make([]store.NewFile, len(c))
		for j, p := range c {
			files[j] = store.NewFile{Ext: p.ext, Targets: []string{target}, Write: func(w io.Writer) error {
				for left := p.size; left > 0; {
					k := min(left, len(buf))
					rnd.Read(buf[:k])
					if _, err := w.Write(buf[:k]); err != nil {
						return err
					}
					left -= k
				}
				return nil
			}}
		}
		if _, err := st.Put(store.Capture{Time: t0.Add(time.Duration(i) * 5 * time.Minute), Files: files}); err != nil {
			b.Fatal(err)
		}
	}
}

// The WebDAV server's credential.
const (
	davUser     = "photographer"
	davPassword = "s3cret-dav-password"
)

// davServer is a real WebDAV server: nginx with its dav modules (as
// appliance/upload/webdav's tests run it), on 127.0.0.1, everything under
// a temporary directory.
type davServer struct {
	uploadtest.Server
	root string // the folder behind /dav/
}

// startDAV starts nginx as a WebDAV server with Basic authentication; it
// stops with b.
func startDAV(b *testing.B) *davServer {
	b.Helper()
	bin := testtool.Program(b, "nginx")
	testtool.File(b, testtool.NginxDAV)
	d := b.TempDir()
	s := &davServer{root: filepath.Join(d, "www", "dav")}
	for _, dir := range []string{s.root, filepath.Join(d, "run"), filepath.Join(d, "body")} {
		if err := os.MkdirAll(dir, 0o777); err != nil {
			b.Fatal(err)
		}
	}
	sum := sha1.Sum([]byte(davPassword))
	if err := os.WriteFile(filepath.Join(d, "htpasswd"), []byte(davUser+":{SHA}"+base64.StdEncoding.EncodeToString(sum[:])+"\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	s.Server = uploadtest.Server{Name: "nginx", Dir: d, Logs: []string{filepath.Join(d, "error.log")},
		Command: func(addr string) (*exec.Cmd, error) {
			conf := uploadtest.NginxDAVConf(d, addr)
			p := filepath.Join(d, "nginx.conf")
			if err := os.WriteFile(p, []byte(conf), 0o644); err != nil {
				return nil, err
			}
			cmd := exec.Command(bin, "-p", d, "-c", p, "-e", d+"/error.log")
			cmd.Dir = d
			return cmd, nil
		}}
	b.Cleanup(s.Stop)
	if err := s.Start(); err != nil {
		b.Fatal(err)
	}
	return s
}

// countFiles counts the visible files under dir (not the hidden
// temporary ones an upload writes first).
func countFiles(b *testing.B, dir string) int {
	n := 0
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.HasPrefix(d.Name(), ".") {
			n++
		}
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	return n
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
