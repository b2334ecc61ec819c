package e2e

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/appliance/statusfile"
	"github.com/lapsebox/lapsebox/appliance/updater"
	"github.com/lapsebox/lapsebox/cloud/server"
	"github.com/lapsebox/lapsebox/cloud/server/servertest"
	"github.com/lapsebox/lapsebox/image"
	"github.com/lapsebox/lapsebox/image/qemu"
	"github.com/lapsebox/lapsebox/image/release"
	"github.com/lapsebox/lapsebox/image/update"
	"github.com/lapsebox/lapsebox/ptp/sim"
)

// BenchmarkBuildPC measures a pc image build with a warm Go cache, and the
// image's sizes. The reference is the build's own floor: the go build and
// mksquashfs steps it cannot avoid, reported per step.
func BenchmarkBuildPC(b *testing.B) {
	configDir := b.TempDir()
	buildImage(b, "pc", configDir, time.Now()) // warms the Go cache
	b.ResetTimer()
	var last built
	for i := 0; i < b.N; i++ {
		last = buildImage(b, "pc", configDir, time.Now())
	}
	b.StopTimer()
	for _, s := range last.manifest.Steps {
		b.ReportMetric(s.Duration.Seconds(), "s-"+s.Name)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(last.path, &st); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(last.manifest.Boot.Size)/(1<<20), "MiB-boot")
	b.ReportMetric(float64(last.manifest.Root.Size)/(1<<20), "MiB-root")
	b.ReportMetric(float64(st.Blocks*512)/(1<<20), "MiB-on-disk")
}

// BenchmarkBuildRPi reports the Pi image's sizes (its boot partition holds
// the firmware and every device tree).
func BenchmarkBuildRPi(b *testing.B) {
	var last built
	for i := 0; i < b.N; i++ {
		last = buildImage(b, "rpi", b.TempDir(), time.Now())
	}
	b.ReportMetric(float64(last.manifest.Boot.Size)/(1<<20), "MiB-boot")
	b.ReportMetric(float64(last.manifest.Root.Size)/(1<<20), "MiB-root")
}

// BenchmarkBootPC measures power-on to gokrazy's status page under TCG,
// and where the time goes: before the kernel runs (SeaBIOS, the MBR
// loader reading the kernel, its decompression), the kernel until it
// starts the init (its own clock, in the serial console's timestamps),
// and the init until the status page answers (gokrazy's start, the
// network, DHCP). The split is as fine as the serial console is read:
// every 20 ms.
func BenchmarkBootPC(b *testing.B) {
	img := buildImage(b, "pc", b.TempDir(), time.Now())
	pw := password(b, img.manifest)
	b.ResetTimer()
	var total, preKernel, kernel, userland time.Duration
	for i := 0; i < b.N; i++ {
		vm := boot(b, img, bootOptions{})
		start := time.Now()
		initSeen := make(chan time.Time, 1)
		go func() {
			for time.Since(start) < bootTimeout {
				if strings.Contains(vm.SerialOutput(), "Run /gokrazy/init as init process") {
					initSeen <- time.Now()
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
		}()
		up := waitBuild(b, vm, update.Device{BaseURL: "http://" + vm.Addr("gokrazy"), Password: pw}, img.manifest.BuildTimestamp)
		total += up
		atInit := (<-initSeen).Sub(start)
		k := kernelTime(b, vm.SerialOutput(), "Run /gokrazy/init as init process")
		kernel += k
		preKernel += atInit - k
		userland += up - atInit
		vm.Stop()
	}
	n := float64(b.N)
	b.ReportMetric(total.Seconds()/n, "s/boot")
	b.ReportMetric(preKernel.Seconds()/n, "s-before-kernel")
	b.ReportMetric(kernel.Seconds()/n, "s-kernel")
	b.ReportMetric(userland.Seconds()/n, "s-init-to-page")
}

// kernelTime returns the kernel's timestamp of the console line that
// contains msg ("[    2.328808] Run /gokrazy/init as init process").
func kernelTime(tb testing.TB, console, msg string) time.Duration {
	tb.Helper()
	for line := range strings.Lines(console) {
		if !strings.Contains(line, msg) {
			continue
		}
		var secs float64
		if _, err := fmt.Sscanf(strings.TrimLeft(line, "[ "), "%f]", &secs); err != nil {
			tb.Fatalf("no kernel timestamp in %q: %v", line, err)
		}
		return time.Duration(secs * float64(time.Second))
	}
	tb.Fatalf("the console has no line %q", msg)
	return 0
}

// BenchmarkUpdatePC measures an over-the-air update end to end (upload,
// switch, reboot, new build reported) and compares the upload of the root
// file system with curl sending the same bytes to the same endpoint.
func BenchmarkUpdatePC(b *testing.B) {
	configDir := b.TempDir()
	v1 := buildImage(b, "pc", configDir, time.Now())
	dev := update.Device{Password: password(b, v1.manifest)}
	vm := boot(b, v1, bootOptions{})
	dev.BaseURL = "http://" + vm.Addr("gokrazy")
	waitBuild(b, vm, dev, v1.manifest.BuildTimestamp)
	lapsebox := buildLapsebox(b)

	var total, upload, curl time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		next := buildImage(b, "pc", configDir, time.Now())
		root := filepath.Join(b.TempDir(), "root.squashfs")
		writeRegion(b, next.path, next.manifest.Root, root)

		// Reference: curl PUTs the root file system to the inactive
		// partition, which the update overwrites again right after.
		start := time.Now()
		out, err := exec.Command("curl", "-sS", "--fail", "-u", "gokrazy:"+dev.Password, "-T", root, dev.BaseURL+"/update/root").CombinedOutput()
		if err != nil {
			b.Fatalf("curl: %v\n%s", err, out)
		}
		curl += time.Since(start)

		b.StartTimer()
		start = time.Now()
		out, err = exec.Command(lapsebox, "update", "-timings", "-o", next.path, "-device", dev.BaseURL).CombinedOutput()
		if err != nil {
			b.Fatalf("lapsebox update: %v\n%s", err, out)
		}
		total += time.Since(start)
		upload += rootUploadTime(b, string(out))
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "s/update")
	b.ReportMetric(upload.Seconds()/float64(b.N), "s-root-upload")
	b.ReportMetric(curl.Seconds()/float64(b.N), "s-root-curl")
	b.ReportMetric(upload.Seconds()/curl.Seconds(), "upload/curl")
}

func writeRegion(b testing.TB, img string, r image.Region, out string) {
	f, err := os.Open(img)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, r.Size)
	if _, err := f.ReadAt(buf, r.Offset); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(out, buf, 0o644); err != nil {
		b.Fatal(err)
	}
}

// rootUploadTime reads the "timing root <duration>" line of lapsebox
// update -timings.
func rootUploadTime(b testing.TB, out string) time.Duration {
	for _, line := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(line, "timing root "); ok {
			d, err := time.ParseDuration(strings.TrimSpace(rest))
			if err != nil {
				b.Fatal(err)
			}
			return d
		}
	}
	b.Fatalf("lapsebox update printed no root timing:\n%s", out)
	return 0
}

// BenchmarkFleetPull measures a release reaching a fleet of three
// appliance VMs on one machine, each with its simulated camera, pulling
// from one cloudd: from the publication until every device runs it
// committed (its trial passed). The devices are asked to look at once
// (updated restarted), as they would at their next poll; a real fleet
// adds up to 1.25 × update.poll_every of waiting. The reference is the
// release's own root: what each device fetched (a patch from its root,
// and any blocks), against the root compressed, what a device that has
// none of it fetches.
func BenchmarkFleetPull(b *testing.B) {
	needVM(b)
	const fleet = 3
	ctx := context.Background()
	cloud := servertest.Start(b, server.Config{}, server.Options{})
	rel := newReleaser(b, cloud)
	pub := rel.pub
	configDir := b.TempDir()
	base := time.Now().UTC().Truncate(time.Second)
	v1 := buildSigned(b, "pc", configDir, base.Add(-time.Hour), pub)
	// v2 changes one service's flags: the init, a configuration change.
	v2 := buildSigned(b, "pc", configDir, base, pub, func(d *image.Description) {
		for i, s := range d.Services {
			if strings.HasSuffix(s.Package, "/cmd/statusd") {
				d.Services[i].Flags = append(slices.Clone(s.Flags), "-refresh=20s")
			}
		}
	})
	const token = "fleet-token"
	cloud.AddDevice(b, v1.manifest.Hostname, token)
	// The devices run a published release: cloudd patches its root.
	rel.publish(b, v1, "v1")
	want, err := time.Parse(time.RFC3339, v2.manifest.BuildTimestamp)
	if err != nil {
		b.Fatal(err)
	}

	type device struct {
		vm  *qemu.VM
		dev update.Device
	}
	var devs []device
	for i := range fleet {
		cam, _ := startCamera(ctx, b, sim.Config{SerialNumber: fmt.Sprintf("FLEET600D%03d", i), JPEGSize: 200_000, JPEGWidth: 640, JPEGHeight: 480})
		vm, _ := bootAppliance(ctx, b, v1, pullConfig(token), cloud.PublicAddr(), cam)
		devs = append(devs, device{vm, update.Device{BaseURL: "http://" + vm.Addr("gokrazy"), Password: password(b, v1.manifest)}})
	}
	// Every device has made its first look and found nothing.
	for i, d := range devs {
		waitUpdated(b, d.vm, fmt.Sprintf("device %d up to date", i), 3*time.Minute, func(st *statusfile.Update) bool {
			return st.State == "up to date"
		})
	}

	b.ResetTimer()
	published := time.Now()
	rel.publish(b, v2, "v2")
	for _, d := range devs {
		restartService(b, d.dev, "/user/updated")
	}
	var fetched int64
	var last time.Duration
	for i, d := range devs {
		st := waitUpdated(b, d.vm, fmt.Sprintf("device %d committed", i), 15*time.Minute, func(st *statusfile.Update) bool {
			a := st.LastAttempt
			return st.Running.Equal(want) && a != nil && a.Result == updater.ResultInstalled
		})
		took := time.Since(published)
		last = max(last, took)
		a := st.LastAttempt
		fetched += a.FetchedBytes + a.PatchBytes
		b.Logf("device %d: committed %.0fs after the publication, a patch of %d bytes and %d KiB of blocks fetched for a %d KiB root",
			i, took.Seconds(), a.PatchBytes, a.FetchedBytes>>10, a.RootBytes>>10)
	}
	b.StopTimer()
	compressed := gzippedRoot(b, v2)
	b.ReportMetric(last.Seconds(), "s-to-fleet")
	b.ReportMetric(float64(fetched)/fleet, "bytes-fetched/device")
	b.ReportMetric(float64(fetched)/fleet/float64(compressed)*100, "%-root-compressed/device")
}

// gzippedRoot returns the size of img's root gzipped: what a device
// that has none of it fetches.
func gzippedRoot(tb testing.TB, img built) int64 {
	tb.Helper()
	f, err := os.Open(img.path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	n, err := release.GzipSize(io.NewSectionReader(f, img.manifest.Root.Offset, img.manifest.Root.Size))
	if err != nil {
		tb.Fatal(err)
	}
	return n
}
