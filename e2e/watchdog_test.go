package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/appliance/statusfile"
	"github.com/lapsebox/lapsebox/image"
	"github.com/lapsebox/lapsebox/image/qemu"
	"github.com/lapsebox/lapsebox/image/update"
	"github.com/lapsebox/lapsebox/internal/testtool"
	"github.com/lapsebox/lapsebox/ptp/sim"
)

// The virt machine's PL061 is "9030000.pl061" to the kernel. Line 0 feeds
// the watchdog, line 1 is the camera's relay; line 3 is QEMU's power
// button, which the kernel's gpio-keys driver holds.
func watchdogSiteConfig() string {
	return `{
  "site": {"name": "e2e", "time_zone": "UTC"},
  "camera": {"mode": "capture", "keep": "jpg", "min_size": 3000},
  "schedule": {"interval": "20s", "min_gap": "3s"},
  "hardware": {
    "chip": "9030000.pl061",
    "watchdog": {"line": "0", "period": "2s", "pulse": "100ms"},
    "relays": [{"device": "camera", "line": "1", "off": "3s", "min_interval": "10m", "max_per_hour": 2}],
    "inputs": [{"name": "button", "line": "3", "edges": "both"}, {"name": "nowhere", "line": "9"}],
    "health": {"startup_grace": "20s", "stale_after": "90s", "camera_grace": "1h", "check_every": "2s"}
  }
}`
}

// pl061Edge is a level change of a PL061 output, as QEMU traced it.
type pl061Edge struct {
	Time  time.Time
	Line  int
	Level int
}

var pl061Trace = regexp.MustCompile(`^\d+@(\d+)\.(\d+):pl061_set_output \S+ setting output (\d) to (\d)$`)

// pl061Tracer follows QEMU's trace of the PL061's output lines: each
// write of the guest's kernel to the GPIO data register that changes a
// line, timed by QEMU's host clock.
type pl061Tracer struct {
	path string
	mu   sync.Mutex
	off  int64
	rest string
	all  []pl061Edge
}

// poll reads what QEMU added to the trace.
func (p *pl061Tracer) poll() []pl061Edge {
	p.mu.Lock()
	defer p.mu.Unlock()
	f, err := os.Open(p.path)
	if err != nil {
		return nil
	}
	defer f.Close()
	f.Seek(p.off, io.SeekStart)
	b, _ := io.ReadAll(f)
	p.off += int64(len(b))
	text := p.rest + string(b)
	lines := strings.Split(text, "\n")
	p.rest = lines[len(lines)-1]
	var out []pl061Edge
	for _, l := range lines[:len(lines)-1] {
		m := pl061Trace.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		sec, _ := strconv.ParseInt(m[1], 10, 64)
		usec, _ := strconv.ParseInt(m[2], 10, 64)
		line, _ := strconv.Atoi(m[3])
		level, _ := strconv.Atoi(m[4])
		out = append(out, pl061Edge{Time: time.Unix(sec, usec*1000), Line: line, Level: level})
	}
	p.all = append(p.all, out...)
	return out
}

// since returns the edges of every line from the n-th seen on, after a
// poll, and how many were seen: a follower that edges' polls do not rob.
func (p *pl061Tracer) since(n int) ([]pl061Edge, int) {
	p.poll()
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.all[n:]), len(p.all)
}

// edges returns the edges of line seen so far (after a poll).
func (p *pl061Tracer) edges(line int, after time.Time) []pl061Edge {
	p.poll()
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []pl061Edge
	for _, e := range p.all {
		if e.Line == line && e.Time.After(after) {
			out = append(out, e)
		}
	}
	return out
}

// waitRises polls the trace until line has risen n times after after, and
// returns its edges since after. A slow machine only makes it wait
// longer: the bound guards against a hang, far above what a loaded
// machine needs.
func (p *pl061Tracer) waitRises(t *testing.T, line int, after time.Time, n int, what string) []pl061Edge {
	t.Helper()
	const bound = 5 * time.Minute
	for deadline := time.Now().Add(bound); ; time.Sleep(200 * time.Millisecond) {
		es := p.edges(line, after)
		if risingEdges(es) >= n {
			return es
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d of %d rises on line %d in %v: %+v", what, risingEdges(es), n, line, bound, es)
		}
	}
}

// gokrazyStopStart stops (or starts again) a service through gokrazy's
// web interface, as a person on its status page would.
func gokrazyStopStart(t *testing.T, dev update.Device, action, path string) {
	t.Helper()
	const token = "4711"
	form := url.Values{"path": {path}, "xsrftoken": {token}}
	req, _ := http.NewRequest("POST", dev.BaseURL+"/"+action, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(&http.Cookie{Name: "gokrazy_xsrf", Value: token})
	req.SetBasicAuth("gokrazy", dev.Password)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("gokrazy %s %s: %v", action, path, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("gokrazy %s %s: %s: %s", action, path, resp.Status, body)
	}
}

// readStatus decodes the status file of service as statusd shows it.
func readStatus[T any](vm *qemu.VM, service string) (*T, error) {
	files, err := statusFiles(vm)
	if err != nil {
		return nil, err
	}
	raw, ok := files[service]
	if !ok {
		return nil, fmt.Errorf("statusd shows no %s.json", service)
	}
	v := new(T)
	if err := json.Unmarshal(raw, v); err != nil {
		return nil, fmt.Errorf("%s.json: %w", service, err)
	}
	return v, nil
}

// waitStatus polls service's status file until cond holds.
func waitStatus[T any](t *testing.T, vm *qemu.VM, service, what string, timeout time.Duration, cond func(*T) bool) *T {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last *T
	var lastErr error
	for time.Now().Before(deadline) {
		st, err := readStatus[T](vm, service)
		if err == nil && cond(st) {
			return st
		}
		if st != nil {
			last = st
		}
		lastErr = err
		time.Sleep(500 * time.Millisecond)
	}
	b, _ := json.MarshalIndent(last, "", "  ")
	t.Fatalf("%s: not within %v (%v); %s.json:\n%s", what, timeout, lastErr, service, b)
	return nil
}

// stats are the mean, the smallest and the largest of xs.
func stats(xs []time.Duration) (mean, lo, hi, sd time.Duration) {
	if len(xs) == 0 {
		return
	}
	lo, hi = xs[0], xs[0]
	var sum float64
	for _, x := range xs {
		sum += float64(x)
		lo, hi = min(lo, x), max(hi, x)
	}
	m := sum / float64(len(xs))
	var v float64
	for _, x := range xs {
		v += (float64(x) - m) * (float64(x) - m)
	}
	return time.Duration(m), lo, hi, time.Duration(math.Sqrt(v / float64(len(xs))))
}

// TestWatchdogInVM boots the arm64 image under QEMU's virt machine, whose
// PL061 GPIO controller the kernel drives through the GPIO character
// device, with a site configuration wiring the external watchdog, the
// camera's relay and inputs to it, and a simulated camera on the VM's
// USB bus. QEMU traces every change of a PL061 output with its host
// time: the test reads there what watchdogd made the kernel write to the
// controller, and plays the relay's load: while line 1 is active, the
// camera is without power, off the VM's USB bus (usb-redir unplugs it);
// when the line rests again it is plugged in and enumerated anew, with
// another device number, as a real camera behind a relay is.
//
// Checked: the feed line is pulsed while healthy (period and pulse width
// measured); a line the kernel's gpio-keys driver holds, and a line the
// chip does not have, are errors naming chip, line and holder; camerad
// stopped through gokrazy stops the feeding once its status file is
// stale, with the reason, and started again resumes it (twice); a camera
// whose every capture fails makes camerad climb its recovery ladder to a
// power cycle, which watchdogd performs on line 1, after which the camera
// takes pictures again; a second power cycle within the relay's minimum
// interval is refused, the line untouched.
func TestWatchdogInVM(t *testing.T) {
	needVM(t)
	testtool.Program(t, "qemu-system-aarch64")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	photos := t.TempDir()
	cam, err := sim.ServeRedir(ctx, sim.RedirConfig{
		Sim:      sim.Config{SerialNumber: "E2EWDOG0001", JPEGSize: 200_000, JPEGWidth: 1024, JPEGHeight: 683},
		PhotoDir: photos,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer cam.Close()

	img := buildImage(t, "virt", t.TempDir(), time.Now())
	b, _ := image.LookupBoard("virt")
	state := t.TempDir()
	vmDisk := filepath.Join(state, "disk.img")
	if err := qemu.CopyDisk(img.path, vmDisk); err != nil {
		t.Fatal(err)
	}
	cfgFile := filepath.Join(t.TempDir(), "config.json")
	os.WriteFile(cfgFile, []byte(watchdogSiteConfig()), 0o644)
	off := permOffset(t, img.manifest)
	debugfs(t, vmDisk, off, true, "mkdir lapsebox")
	debugfs(t, vmDisk, off, true, "write "+cfgFile+" lapsebox/config.json")

	tracePath := filepath.Join(state, "pl061.trace")
	args := []string{"-d", "trace:pl061_set_output", "-D", tracePath, "-msg", "timestamp=on",
		"-device", "usb-ehci,id=ehci"}
	vm, err := qemu.Start(ctx, qemu.Config{
		Image: vmDisk, Board: b, StateDir: state,
		Forwards:  []qemu.Forward{{Name: "gokrazy", GuestPort: img.manifest.HTTPPort}, {Name: "statusd", GuestPort: 8080}},
		ExtraArgs: append(args, cam.Args()...),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer vm.Stop()
	statusdPasswords.Store(vm, password(t, img.manifest))
	defer func() {
		if t.Failed() {
			t.Logf("serial console:\n%s", tail(vm.SerialOutput(), 8000))
		}
	}()
	tr := &pl061Tracer{path: tracePath}

	// The camera's relay: NC contact, energised (line 1 active) = power
	// off. The test is the load: while the relay is energised the camera
	// is off the VM's USB bus; when the power comes back it is plugged in
	// again, a new device to the guest's kernel, its session closed.
	var relayMu sync.Mutex
	var powerCuts []time.Duration
	go func() {
		var cutAt time.Time
		for seen := 0; ctx.Err() == nil; time.Sleep(50 * time.Millisecond) {
			var es []pl061Edge
			es, seen = tr.since(seen)
			for _, e := range es {
				if e.Line != 1 {
					continue
				}
				switch {
				case e.Level == 1 && cutAt.IsZero():
					cutAt = e.Time
					cam.Unplug()
				case e.Level == 0 && !cutAt.IsZero():
					relayMu.Lock()
					powerCuts = append(powerCuts, e.Time.Sub(cutAt))
					relayMu.Unlock()
					cutAt = time.Time{}
					cam.Sim.SetFocus(true) // a power cycle cures it
					if err := cam.Replug(ctx); err != nil && ctx.Err() == nil {
						t.Errorf("plugging the camera in again: %v", err)
					}
				}
			}
		}
	}()

	dev := update.Device{BaseURL: "http://" + vm.Addr("gokrazy"), Password: password(t, img.manifest)}
	waitBuild(t, vm, dev, img.manifest.BuildTimestamp)
	checkGokrazy(t, vm, dev, defaultServices)

	type wd = statusfile.Watchdog
	st := waitStatus(t, vm, "watchdogd", "healthy and feeding", 3*time.Minute, func(st *wd) bool {
		return st.Healthy && st.Feeding && st.Feeder != nil && st.Feeder.Pulses >= 3
	})
	if st.Hardware != "wired" || st.Feeder.Error != "" {
		t.Errorf("watchdogd: hardware %q, feeder %+v", st.Hardware, st.Feeder)
	}
	// The kernel's own rules, through the character device: a line a
	// driver holds is busy, and says who holds it; a line the chip does
	// not have is named.
	if len(st.Inputs) != 2 ||
		!strings.Contains(st.Inputs[0].Error, `chip "gpiochip0 (9030000.pl061)" line "3": line busy (held by "GPIO Key Poweroff")`) ||
		!strings.Contains(st.Inputs[1].Error, `chip "gpiochip0 (9030000.pl061)" line "9": no such line: the chip has 8 lines (0 to 7)`) {
		t.Errorf("inputs %+v", st.Inputs)
	}
	if r := st.Relays; len(r) != 2 || !r[0].Wired || !r[0].Powered || r[1].Device != "modem" || r[1].Wired {
		t.Errorf("relays %+v", r)
	}

	// The feed line, measured on the controller over 20 periods.
	feed := tr.waitRises(t, 0, time.Now(), 22, "the feed line")
	var periods, pulses []time.Duration
	var lastRise time.Time
	for i, e := range feed {
		if e.Level != 1 {
			continue
		}
		if !lastRise.IsZero() {
			periods = append(periods, e.Time.Sub(lastRise))
		}
		lastRise = e.Time
		if i+1 < len(feed) && feed[i+1].Level == 0 {
			pulses = append(pulses, feed[i+1].Time.Sub(e.Time))
		}
	}
	if len(pulses) < 20 || len(periods) < 20 {
		t.Fatalf("%d pulses, %d periods on the feed line: %+v", len(pulses), len(periods), feed)
	}
	pm, plo, phi, psd := stats(periods)
	wm, wlo, whi, wsd := stats(pulses)
	t.Logf("feed line on the PL061: %d pulses; period mean %v (min %v, max %v, sd %v) for 2s; pulse mean %v (min %v, max %v, sd %v) for 100ms",
		len(pulses), pm.Round(time.Microsecond), plo.Round(time.Microsecond), phi.Round(time.Microsecond), psd.Round(time.Microsecond),
		wm.Round(time.Microsecond), wlo.Round(time.Microsecond), whi.Round(time.Microsecond), wsd.Round(time.Microsecond))

	// camerad stopped through gokrazy, twice: the feeding stops once its
	// status file is stale, and resumes when it runs again.
	for round := 1; round <= 2; round++ {
		gokrazyStopStart(t, dev, "stop", "/user/camerad")
		st = waitStatus(t, vm, "watchdogd", "feeding stopped", 4*time.Minute, func(st *wd) bool { return !st.Feeding })
		stopped, why := time.Now(), st.FeedingReason
		if st.Healthy || !strings.Contains(why, "status files: camerad: status file unchanged for") {
			t.Errorf("round %d: feeding stopped for %q", round, why)
		}
		time.Sleep(6 * time.Second) // three periods in which no pulse may come
		if rises := risingEdges(tr.edges(0, stopped.Add(500*time.Millisecond))); rises != 0 {
			t.Errorf("round %d: %d pulses on the feed line after watchdogd said it stopped feeding", round, rises)
		}
		gokrazyStopStart(t, dev, "restart", "/user/camerad")
		st = waitStatus(t, vm, "watchdogd", "feeding again", 2*time.Minute, func(st *wd) bool { return st.Feeding && st.Healthy })
		tr.waitRises(t, 0, time.Now(), 2, fmt.Sprintf("round %d: pulses after feeding resumed", round))
		t.Logf("round %d: camerad stopped, feeding stopped for %q; camerad started, feeding resumed", round, why)
	}

	// The camera goes wrong: every capture fails (its autofocus never
	// locks), and nothing but a power cycle cures it. camerad climbs its
	// ladder to a power cycle, which watchdogd performs on line 1: the
	// camera comes back.
	cam0 := waitStatus(t, vm, "camerad", "a first picture", 3*time.Minute, func(st *statusfile.Camera) bool { return st.Captures >= 1 })
	cam.Sim.SetFocus(false)
	st = waitStatus(t, vm, "watchdogd", "the camera power-cycled", 4*time.Minute, func(st *wd) bool {
		return len(st.Relays) > 0 && len(st.Relays[0].Cycles) >= 1 && !st.Relays[0].Cycles[0].End.IsZero()
	})
	c := st.Relays[0].Cycles[0]
	if c.From != "camerad" || c.Error != "" || c.Off.Seconds() < 3 {
		t.Errorf("power cycle %+v", c)
	}
	relayEdges := fromFirstRise(tr.edges(1, time.Time{}))
	if len(relayEdges) != 2 || relayEdges[0].Level != 1 || relayEdges[1].Level != 0 {
		t.Fatalf("relay line edges %+v: want one cut", relayEdges)
	}
	t.Logf("relay line 1 active (camera off) for %v on the controller", relayEdges[1].Time.Sub(relayEdges[0].Time).Round(time.Millisecond))
	camSt := waitStatus(t, vm, "camerad", "pictures after the power cycle", 3*time.Minute, func(st *statusfile.Camera) bool {
		return st.Captures >= cam0.Captures+2 && slices.ContainsFunc(st.RecoveryActions, func(a statusfile.RecoveryAction) bool { return a.Action == "power cycle" })
	})
	t.Logf("ladder: %v", actionNames(camSt.RecoveryActions))
	if nums := deviceNumbers(vm.SerialOutput()); len(nums) != 2 || nums[0] == nums[1] || !strings.Contains(vm.SerialOutput(), "USB disconnect") {
		t.Errorf("the guest's kernel enumerated the camera as devices %v: want it gone at the cut and back under a new number", nums)
	}

	// It goes wrong again: the ladder asks for a second power cycle,
	// which the relay's minimum interval refuses; line 1 is not touched.
	cam.Sim.SetFocus(false)
	st = waitStatus(t, vm, "watchdogd", "a refused power cycle", 4*time.Minute, func(st *wd) bool {
		return len(st.Relays) > 0 && len(st.Relays[0].Refusals) >= 1
	})
	if r := st.Relays[0].Refusals[0]; r.From != "camerad" || !strings.Contains(r.Reason, "at most one every 10m0s") {
		t.Errorf("refusal %+v", r)
	}
	if n := len(fromFirstRise(tr.edges(1, time.Time{}))); n != 2 {
		t.Errorf("the relay line changed %d times, want 2 (one cut)", n)
	}
	cam.Sim.SetFocus(true) // a person at the site
	waitStatus(t, vm, "camerad", "pictures again", 3*time.Minute, func(st *statusfile.Camera) bool {
		return st.Captures >= camSt.Captures+1
	})
	relayMu.Lock()
	t.Logf("power cuts seen on line 1: %v", powerCuts)
	relayMu.Unlock()
}

// fromFirstRise drops the edges before the first rising one: QEMU traces
// every line going low when the machine resets.
func fromFirstRise(es []pl061Edge) []pl061Edge {
	for i, e := range es {
		if e.Level == 1 {
			return es[i:]
		}
	}
	return nil
}

func risingEdges(es []pl061Edge) int {
	n := 0
	for _, e := range es {
		if e.Level == 1 {
			n++
		}
	}
	return n
}

func actionNames(as []statusfile.RecoveryAction) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.Action)
	}
	return out
}
