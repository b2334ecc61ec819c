package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/image"
	"github.com/lapsebox/lapsebox/image/update"
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

// BenchmarkBootPC measures power-on to gokrazy's status page under TCG.
func BenchmarkBootPC(b *testing.B) {
	img := buildImage(b, "pc", b.TempDir(), time.Now())
	pw := password(b, img.manifest)
	b.ResetTimer()
	var total time.Duration
	for i := 0; i < b.N; i++ {
		vm := boot(b, img, bootOptions{})
		total += waitBuild(b, vm, update.Device{BaseURL: "http://" + vm.Addr("gokrazy"), Password: pw}, img.manifest.BuildTimestamp)
		vm.Stop()
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "s/boot")
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
