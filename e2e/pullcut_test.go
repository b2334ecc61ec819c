package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/appliance/statusfile"
	"github.com/lapsebox/lapsebox/appliance/updater"
	"github.com/lapsebox/lapsebox/image"
	"github.com/lapsebox/lapsebox/image/qemu"
	"github.com/lapsebox/lapsebox/image/release"
	"github.com/lapsebox/lapsebox/image/update"
	"github.com/lapsebox/lapsebox/ptp/sim"
)

// TestPullUpdatePowerCut cuts the power of a device pulling a release at
// the moments an update could leave it without a working root: while it
// fetches the release's blocks (over a slow link), while gokrazy writes
// the inactive root, and while the new root runs on trial. The disk is
// behind a write cache that keeps or loses each unflushed page, as a
// real card does. After every cut the device boots the root it came
// from; in the end it fetches what it lacks, runs the release on trial
// and commits it.
func TestPullUpdatePowerCut(t *testing.T) {
	needVM(t)
	ctx := context.Background()
	const token = "pullcut-token"
	cloud, rel, configDir, base := startPull(t)
	link := startSlowLink(t, cloud.URL)
	v1 := buildSigned(t, "pc", configDir, base.Add(-time.Hour), rel.pub)
	v2 := buildSigned(t, "pc", configDir, base, rel.pub)
	cloud.AddDevice(t, v1.manifest.Hostname, token)
	rel.publish(t, v2, "v2")

	camCtx, stopCam := context.WithCancel(ctx)
	defer stopCam()
	cam, _ := startCamera(camCtx, t, sim.Config{SerialNumber: "E2E600D0005", JPEGSize: 200_000, JPEGWidth: 640, JPEGHeight: 480})
	rig := newCutRig(t, v1, pullConfig(token), link.addr, cam)
	boot := func(wants ...built) (*qemu.VM, built) { t.Helper(); return rig.boot(ctx, wants...) }
	cut, rng := rig.cut, rig.rng

	// 1. In the middle of a block, on a link of a few tens of KB/s.
	vm, _ := boot(v1)
	select {
	case <-link.midBlock():
	case <-time.After(5 * time.Minute):
		t.Fatal("the device fetched no release block within 5 minutes")
	}
	cut(vm, "during the download")

	// 2. While gokrazy writes the inactive root. The root takes seconds
	// to write: the cut lands in it, or just after gokrazy marked the
	// trial boot.
	vm, _ = boot(v1)
	link.fast()
	waitUpdatedEvery(t, vm, "writing the root", 6*time.Minute, 200*time.Millisecond, func(st *statusfile.Update) bool {
		return st.State == "installing" && st.Step == update.StepRoot
	})
	time.Sleep(time.Duration(rng.Int64N(int64(time.Second))))
	cut(vm, "during the root write")

	// 3. While the new root runs on trial, before its verdict.
	vm, on := boot(v1, v2)
	if on.path == v2.path {
		t.Logf("the cut came after gokrazy marked the trial boot: v2 runs on trial")
	}
	waitUpdated(t, vm, "v2 on trial", 6*time.Minute, func(st *statusfile.Update) bool {
		return st.Running.Equal(v2.buildTime(t)) && st.Trial != nil
	})
	time.Sleep(time.Duration(rng.Int64N(int64(20 * time.Second))))
	cut(vm, "during the trial")

	// Back on v1, which the boot configuration still names; the trial
	// that ended without a verdict counts as a failure, one of two, and
	// the cut root write as none.
	vm, _ = boot(v1)
	st := waitUpdated(t, vm, "v2 committed", 10*time.Minute, func(st *statusfile.Update) bool {
		a := st.LastAttempt
		return st.Running.Equal(v2.buildTime(t)) && a != nil && a.Release.Version == "v2" && a.Result == updater.ResultInstalled
	})
	a := st.LastAttempt
	// The cut trial is a failure if it came before updated on trial had
	// found v2 healthy, an interruption after.
	if !st.Committed.Equal(v2.buildTime(t)) || a.Failures+a.Interrupted != 1 || !a.Trial {
		t.Errorf("after the cuts: committed %s, attempt %+v; want v2 committed after one failed or interrupted trial", st.Committed.Format(time.RFC3339), a)
	}
	t.Logf("the cut trial counted as %d failed, %d interrupted", a.Failures, a.Interrupted)
	t.Logf("v2 committed: %d KiB fetched, %d KiB reused, %d KiB resumed from what the cut attempts staged; %d KiB of release blocks crossed the link",
		a.FetchedBytes>>10, a.ReusedBytes>>10, a.ResumedBytes>>10, link.sent.Load()>>10)
}

// cutRig boots one device's disk again and again, behind a write cache
// that keeps or loses each unflushed page at a power cut, with a camera
// on its USB bus (when one is given) and cloudd reached at cloudAddr
// (when one is given).
type cutRig struct {
	t                  *testing.T
	img                built // what the disk was made from: ports, password
	board              *image.Board
	state, disk, cloud string
	qemuArgs           []string // the camera's, and any a test adds
	rng                *rand.Rand
	dev                update.Device
}

func newCutRig(t *testing.T, img built, siteJSON, cloudAddr string, cam *sim.RedirCamera) *cutRig {
	t.Helper()
	r := &cutRig{t: t, img: img, cloud: cloudAddr}
	if cam != nil {
		r.qemuArgs = append([]string{"-device", "usb-ehci,id=ehci"}, cam.Args()...)
	}
	r.board, r.state, r.disk = diskWithConfig(t, img, siteJSON)
	seed := rand.Uint64()
	t.Logf("cut seed %d", seed)
	r.rng = rand.New(rand.NewPCG(seed, 3))
	r.dev = update.Device{Password: password(t, img.manifest)}
	return r
}

// boot starts the VM and waits until it runs one of wants.
func (r *cutRig) boot(ctx context.Context, wants ...built) (*qemu.VM, built) {
	t := r.t
	t.Helper()
	var toHost []qemu.GuestForward
	if r.cloud != "" {
		toHost = []qemu.GuestForward{{GuestAddr: cloudGuestAddr, HostAddr: r.cloud}}
	}
	vm, err := qemu.Start(ctx, qemu.Config{
		Image: r.disk, Board: r.board, StateDir: r.state,
		WriteCache: &qemu.WriteCacheConfig{Survive: 0.5, Rand: rand.New(rand.NewPCG(r.rng.Uint64(), 4)), FlushTime: flushTime},
		Forwards: []qemu.Forward{{Name: "gokrazy", GuestPort: r.img.manifest.HTTPPort}, {Name: "statusd", GuestPort: 8080},
			{Name: "updated", GuestPort: 8081}},
		ToHost:    toHost,
		ExtraArgs: r.qemuArgs,
	})
	if err != nil {
		t.Fatal(err)
	}
	statusdPasswords.Store(vm, r.dev.Password)
	t.Cleanup(func() {
		vm.Stop()
		if t.Failed() {
			t.Logf("serial console:\n%s", tail(vm.SerialOutput(), 6000))
		}
	})
	r.dev.BaseURL = "http://" + vm.Addr("gokrazy")
	var builds []string
	for _, w := range wants {
		builds = append(builds, w.manifest.BuildTimestamp)
	}
	runs, took := waitBuilds(t, vm, r.dev, builds...)
	for _, w := range wants {
		if w.manifest.BuildTimestamp == runs {
			t.Logf("up in %.1fs on build %s", took.Seconds(), runs)
			return vm, w
		}
	}
	panic("unreachable")
}

// cut cuts the VM's power.
func (r *cutRig) cut(vm *qemu.VM, when string) {
	r.t.Helper()
	rep, err := vm.PowerCut()
	if err != nil {
		r.t.Fatalf("cut %s: %v", when, err)
	}
	r.t.Logf("power cut %s: %d unflushed pages lost, %d kept", when, rep.Lost, rep.Kept)
}

// slowLink is an HTTP proxy between the device and cloudd that sends
// release blocks at dial-up speed until told otherwise, so that a test
// can cut the device's power in the middle of one.
type slowLink struct {
	addr  string
	sent  atomic.Int64 // release block bytes sent
	slow  atomic.Bool
	inMid chan struct{} // closed once half of a block has gone out slowly
	mid   sync.Once
}

func startSlowLink(t *testing.T, upstream string) *slowLink {
	t.Helper()
	u, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	l := &slowLink{inMid: make(chan struct{})}
	l.slow.Store(true)
	proxy := httputil.NewSingleHostReverseProxy(u)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l.addr = ln.Addr().String()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, release.BlockPath) {
			proxy.ServeHTTP(w, r)
			return
		}
		proxy.ServeHTTP(&slowWriter{ResponseWriter: w, l: l}, r)
	}), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return l
}

func (l *slowLink) midBlock() <-chan struct{} { return l.inMid }
func (l *slowLink) fast()                     { l.slow.Store(false) }

// slowWriter writes a block's body in 1 KiB pieces, 25 ms apart, while
// the link is slow: about 40 KB/s, a poor 3G cell. Blocks travel
// gzipped, a few KiB each: small pieces leave the cut time to land
// inside one.
type slowWriter struct {
	http.ResponseWriter
	l    *slowLink
	body int
	size int
}

// Unwrap lets the proxy's flushes reach the connection.
func (w *slowWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *slowWriter) WriteHeader(code int) {
	fmt.Sscan(w.Header().Get("Content-Length"), &w.size)
	w.ResponseWriter.WriteHeader(code)
}

func (w *slowWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		k := min(len(p), 1024)
		m, err := w.ResponseWriter.Write(p[:k])
		n += m
		w.body += m
		w.l.sent.Add(int64(m))
		if err != nil {
			return n, err
		}
		p = p[k:]
		if !w.l.slow.Load() {
			continue
		}
		w.ResponseWriter.(http.Flusher).Flush()
		half := 8 << 10 // without a length, a block is tens of KiB
		if w.size > 0 {
			half = w.size / 2
		}
		if w.body >= half {
			w.l.mid.Do(func() { close(w.l.inMid) })
		}
		time.Sleep(25 * time.Millisecond)
	}
	return n, nil
}
