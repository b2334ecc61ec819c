package main

// goBench is a go test -bench command line.
func goBench(name, args string) Command {
	return Command{Name: name, Line: "go test -run '^$' -bench " + args}
}

// The commands of make bench. BacklogDrain's cells are BACKLOG_CELLS, a
// -bench pattern below BacklogDrain/ (all of them when unset).
var (
	cmdBuildPC        = goBench("e2e-BuildPC", "BuildPC -benchtime 1x -timeout 30m ./e2e/")
	cmdBuildRPi       = goBench("e2e-BuildRPi", "BuildRPi -benchtime 1x -timeout 30m ./e2e/")
	cmdBootPC         = Command{Name: "e2e-BootPC", Line: "CI=1 go test -run '^$' -bench BootPC -benchtime 3x -timeout 30m ./e2e/"}
	cmdUpdatePC       = goBench("e2e-UpdatePC", "UpdatePC -benchtime 1x -timeout 30m ./e2e/")
	cmdDelta          = goBench("release-Delta", "Delta -benchtime 1x -timeout 30m ./image/release/")
	cmdFleetPull      = goBench("e2e-FleetPull", "FleetPull -benchtime 1x -timeout 30m ./e2e/")
	cmdCameraDownload = goBench("e2e-CameraDownload", "CameraDownload -benchtime 3x -timeout 30m ./e2e/")
	cmdCamera         = goBench("ptp-camera", ". ./ptp/camera/")
	cmdFAT            = goBench("image-fat", ". ./image/fat/")
	cmdProcessScript  = Command{Name: "bench-process", Line: "scripts/bench-process"}
	cmdArm64          = Command{Name: "bench-arm64", Line: "scripts/bench-arm64"}
	cmdProcessAll     = goBench("process-ProcessAll18MP", "ProcessAll18MP -benchtime 5x -count 4 ./appliance/process/")
	cmdBacklog        = goBench("uploader-BacklogDrain", `"BacklogDrain/${BACKLOG_CELLS:-.}" -benchtime 1x -timeout 45m ./appliance/uploader/`)
	cmdModemdIdle     = goBench("modemd-Idle", "Idle -benchtime 1x ./cmd/modemd/")
	cmdWatchdogdIdle  = goBench("watchdogd-Idle", "Idle -benchtime 1x ./cmd/watchdogd/")
	cmdStatusdIdle    = goBench("statusd-Idle", "Idle -benchtime 1x ./cmd/statusd/")
	cmdChromium       = goBench("status-PageInChromium", "PageInChromium -benchtime 20x ./appliance/status/")
	cmdRoundTrip      = goBench("modem-RoundTrip", "RoundTrip -benchtime 5000x ./modem/")
	cmdFleetPage      = goBench("fleet-FleetPage1000", "FleetPage1000 -benchtime 5x ./cloud/fleet/")
	cmdAnalyze        = goBench("picture-Analyze18MP", "Analyze18MP -benchtime 5x ./cloud/picture/")
	cmdIngest         = goBench("ingest-IngestTwoStores", "IngestTwoStores -benchtime 20x -count 3 ./cloud/ingest/")
	cmdDerive         = goBench("gallery-Derive18MP", "Derive18MP -benchtime 5x ./cloud/gallery/")
	cmdTimelapse      = goBench("gallery-Timelapse288", "Timelapse288 -benchtime 1x ./cloud/gallery/")
)

// metric is a Metric of bench's unit, formatted with format and suffix.
func metric(label, bench, unit, format, suffix string) Metric {
	return Metric{Label: label, Bench: bench, Unit: unit, Format: format, Suffix: suffix}
}

// seconds, millis and micros are bench's ns/op in s, ms and µs.
func seconds(label, bench string) Metric {
	return Metric{Label: label, Bench: bench, Unit: "ns/op", Scale: 1e-9, Format: "%.2f", Suffix: " s"}
}

func millis(label, bench string) Metric {
	return Metric{Label: label, Bench: bench, Unit: "ns/op", Scale: 1e-6, Format: "%.1f", Suffix: " ms"}
}

func micros(label, bench string) Metric {
	return Metric{Label: label, Bench: bench, Unit: "ns/op", Scale: 1e-3, Format: "%.0f", Suffix: " µs"}
}

// allocMB is bench's B/op in MB.
func allocMB(label, bench string) Metric {
	return Metric{Label: label, Bench: bench, Unit: "B/op", Scale: 1e-6, Format: "%.1f", Suffix: " MB allocated"}
}

// ratioOf is the ratio of two metrics; reported is a ratio the benchmark
// reports itself.
func ratioOf(label string, of, over Metric) Ratio { return Ratio{Label: label, Of: of, Over: &over} }

func reported(label, bench, unit, format string) Ratio {
	return Ratio{Label: label, Of: metric("", bench, unit, format, "×")}
}

// idleRow is the row of a service's Idle benchmark (internal/proctest.Idle).
func idleRow(what string, c Command, note string) Row {
	return Row{
		What:    what,
		Command: c,
		Figure: []Metric{
			metric("", "BenchmarkIdle", "wakeups/min", "%.0f", " wake-ups a minute"),
			metric("", "BenchmarkIdle", "own-wakeups/min", "%.0f", " of them not the Go runtime's monitor thread's"),
			metric("", "BenchmarkIdle", "RSS-MiB", "%.1f", " MiB RSS"),
		},
		Note: note,
		Reference: []Metric{
			metric("an idle Go program:", "BenchmarkIdle", "ref-wakeups/min", "%.0f", " wake-ups a minute"),
			metric("", "BenchmarkIdle", "ref-RSS-MiB", "%.1f", " MiB"),
		},
		Ratio: []Ratio{
			ratioOf("wake-ups", metric("", "BenchmarkIdle", "wakeups/min", "", ""), metric("", "BenchmarkIdle", "ref-wakeups/min", "", "")),
			ratioOf("RSS", metric("", "BenchmarkIdle", "RSS-MiB", "", ""), metric("", "BenchmarkIdle", "ref-RSS-MiB", "", "")),
		},
		Better: "lower",
	}
}

// rows are the table's rows, in order: what make bench measures.
var rows = []Row{
	{
		What:    "pc image build, warm Go cache",
		Command: cmdBuildPC,
		Figure: []Metric{
			seconds("", "BenchmarkBuildPC"),
			metric("modules", "BenchmarkBuildPC", "s-modules", "%.2f", " s"),
			metric("boot", "BenchmarkBuildPC", "s-boot", "%.2f", " s"),
			metric("compile", "BenchmarkBuildPC", "s-compile", "%.2f", " s"),
			metric("root", "BenchmarkBuildPC", "s-root", "%.2f", " s"),
			metric("assemble", "BenchmarkBuildPC", "s-assemble", "%.2f", " s"),
		},
	},
	{
		What:    "pc image sizes",
		Command: cmdBuildPC,
		Figure: []Metric{
			metric("boot FAT", "BenchmarkBuildPC", "MiB-boot", "%.1f", " MiB"),
			metric("root", "BenchmarkBuildPC", "MiB-root", "%.1f", " MiB"),
			metric("", "BenchmarkBuildPC", "MiB-on-disk", "%.1f", " MiB allocated of the sparse image"),
		},
	},
	{
		What:    "rpi image sizes",
		Command: cmdBuildRPi,
		Figure: []Metric{
			metric("boot FAT (firmware, device trees and overlays)", "BenchmarkBuildRPi", "MiB-boot", "%.1f", " MiB"),
			metric("root", "BenchmarkBuildRPi", "MiB-root", "%.1f", " MiB"),
		},
	},
	{
		What:    "pc boot to gokrazy's status page (`rootwait`), the page polled on the VM's address",
		Command: cmdBootPC,
		Figure: []Metric{
			metric("", "BenchmarkBootPC", "s/boot", "%.1f", " s"),
			metric("before the kernel runs (SeaBIOS, the MBR loader reading the kernel, its decompression)", "BenchmarkBootPC", "s-before-kernel", "%.1f", " s"),
			metric("kernel until the init starts", "BenchmarkBootPC", "s-kernel", "%.1f", " s"),
			metric("init to the page answering", "BenchmarkBootPC", "s-init-to-page", "%.1f", " s"),
		},
		Note: "issue 13's bar is 6 s",
	},
	{
		What:    "OTA update end to end (upload, switch, kexec reboot, new build reported)",
		Command: cmdUpdatePC,
		Figure:  []Metric{metric("", "BenchmarkUpdatePC", "s/update", "%.1f", " s")},
	},
	{
		What:      "root file system upload during the update",
		Command:   cmdUpdatePC,
		Figure:    []Metric{metric("", "BenchmarkUpdatePC", "s-root-upload", "%.2f", " s")},
		Reference: []Metric{metric("curl PUT of the same bytes to the same endpoint:", "BenchmarkUpdatePC", "s-root-curl", "%.2f", " s")},
		Ratio:     []Ratio{reported("", "BenchmarkUpdatePC", "upload/curl", "%.2f")},
		Better:    "lower",
	},
	{
		What:    "bytes a device fetches for a pulled release, in % of the root gzipped",
		Command: cmdDelta,
		Figure: []Metric{
			metric("one-service code change: patch", "BenchmarkDelta", "service-patch-%", "%.2f", " %"),
			metric("its blocks", "BenchmarkDelta", "service-blocks-%", "%.1f", " %"),
			metric("gzipped on the way", "BenchmarkDelta", "service-blocks-gzip-%", "%.1f", " %"),
			metric("configuration-only change: patch", "BenchmarkDelta", "config-patch-%", "%.3f", " %"),
			metric("its blocks", "BenchmarkDelta", "config-blocks-%", "%.2f", " %"),
			metric("gzipped on the way", "BenchmarkDelta", "config-blocks-gzip-%", "%.2f", " %"),
		},
		Note: "for comparison, not measured here: RAUC's adaptive update fetches about 10 % for a one-package change",
	},
	{
		What:    "a release reaching a fleet of 3 appliance VMs on this machine, each with its simulated camera, from `lapsebox release` until all run it committed (devices asked to look at once; a real fleet adds up to 1.25 × `poll_every`)",
		Command: cmdFleetPull,
		Figure: []Metric{
			metric("", "BenchmarkFleetPull", "s-to-fleet", "%.0f", " s"),
			metric("each device fetched", "BenchmarkFleetPull", "bytes-fetched/device", "%.0f", " bytes"),
			metric("", "BenchmarkFleetPull", "%-root-compressed/device", "%.3f", " % of the root gzipped"),
		},
		Note: "the trial takes `stale_after` at least; a push would send the whole root",
	},
	{
		What:    "camera download over USB (QEMU usb-mtp, 100 MB file) on EHCI and xHCI; CPU per MB of the whole guest, and camerad's own",
		Command: cmdCameraDownload,
		Figure: []Metric{
			metric("EHCI", "BenchmarkCameraDownload/ehci", "MB/s-usb", "%.1f", " MB/s"),
			metric("", "BenchmarkCameraDownload/ehci", "guest-ms/MB-usb", "%.1f", " ms CPU per MB"),
			metric("camerad's", "BenchmarkCameraDownload/ehci", "cpu-ms/MB-usb", "%.1f", " ms"),
			metric("xHCI", "BenchmarkCameraDownload/xhci", "MB/s-usb", "%.1f", " MB/s"),
			metric("", "BenchmarkCameraDownload/xhci", "guest-ms/MB-usb", "%.1f", " ms CPU per MB"),
			metric("camerad's", "BenchmarkCameraDownload/xhci", "cpu-ms/MB-usb", "%.1f", " ms"),
		},
		Reference: []Metric{
			metric("the same file over the VM's network, EHCI run:", "BenchmarkCameraDownload/ehci", "MB/s-net", "%.1f", " MB/s"),
			metric("", "BenchmarkCameraDownload/ehci", "guest-ms/MB-net", "%.1f", " ms CPU per MB"),
			metric("the file server's", "BenchmarkCameraDownload/ehci", "cpu-ms/MB-net", "%.1f", " ms"),
			metric("xHCI run:", "BenchmarkCameraDownload/xhci", "MB/s-net", "%.1f", " MB/s"),
			metric("", "BenchmarkCameraDownload/xhci", "guest-ms/MB-net", "%.1f", " ms CPU per MB"),
			metric("the file server's", "BenchmarkCameraDownload/xhci", "cpu-ms/MB-net", "%.1f", " ms"),
		},
		Ratio: []Ratio{
			reported("EHCI throughput", "BenchmarkCameraDownload/ehci", "usb/net-throughput", "%.2f"),
			reported("guest CPU", "BenchmarkCameraDownload/ehci", "usb/net-guest-cpu", "%.2f"),
			reported("xHCI throughput", "BenchmarkCameraDownload/xhci", "usb/net-throughput", "%.2f"),
			reported("guest CPU", "BenchmarkCameraDownload/xhci", "usb/net-guest-cpu", "%.2f"),
		},
		Better: "higher throughput, lower CPU",
	},
	{
		What:    "capture + download of a RAW+JPG pair from the simulator (card; host)",
		Command: cmdCamera,
		Figure: []Metric{
			millis("card", "BenchmarkCaptureRAWJPG/card"),
			allocMB("", "BenchmarkCaptureRAWJPG/card"),
			millis("host", "BenchmarkCaptureRAWJPG/host"),
			allocMB("", "BenchmarkCaptureRAWJPG/host"),
		},
	},
	{
		What:      "FAT16 boot partition of the Pi (75 MiB, 400 files) to a file",
		Command:   cmdFAT,
		Figure:    []Metric{millis("", "BenchmarkWriteTo/fat-file"), millis("layout and encoding alone", "BenchmarkWriteTo/fat-discard")},
		Reference: []Metric{millis("mkfs.vfat + mcopy of the same tree:", "BenchmarkWriteTo/mtools")},
		Ratio:     []Ratio{ratioOf("", millis("", "BenchmarkWriteTo/fat-file"), millis("", "BenchmarkWriteTo/mtools"))},
		Better:    "lower",
	},
	{
		What:    "processing an 18 MP JPEG into 3 sizes with watermark and caption (decoded at 1/2 in the DCT domain), wall time and peak RSS of a process each; its 1920 output against libvips'",
		Command: cmdProcessScript,
		Figure: []Metric{
			metric("", "BenchmarkProcessScript/lapsebox", "s/job", "%.2f", " s"),
			metric("peak", "BenchmarkProcessScript/lapsebox", "MB-peak", "%.0f", " MB"),
			metric("PSNR", "BenchmarkProcessScript/quality-vs-libvips", "PSNR-dB", "%.1f", " dB"),
			metric("SSIM", "BenchmarkProcessScript/quality-vs-libvips", "SSIM", "%.3f", ""),
		},
		Reference: []Metric{
			metric("libvips (`vipsthumbnail` + `vips composite` per output, overlays made beforehand):", "BenchmarkProcessScript/libvips", "s/job", "%.2f", " s"),
			metric("peak", "BenchmarkProcessScript/libvips", "MB-peak", "%.0f", " MB"),
			metric("ImageMagick `convert`:", "BenchmarkProcessScript/imagemagick", "s/job", "%.2f", " s"),
			metric("peak", "BenchmarkProcessScript/imagemagick", "MB-peak", "%.0f", " MB"),
		},
		Ratio: []Ratio{
			ratioOf("against libvips", metric("", "BenchmarkProcessScript/lapsebox", "s/job", "", ""), metric("", "BenchmarkProcessScript/libvips", "s/job", "", "")),
			ratioOf("against ImageMagick", metric("", "BenchmarkProcessScript/lapsebox", "s/job", "", ""), metric("", "BenchmarkProcessScript/imagemagick", "s/job", "", "")),
		},
		Better: "lower",
	},
	{
		What:    "the processing and PTP benchmarks built for arm64 (`CGO_ENABLED=0`), run under QEMU user emulation beside the amd64 build, after the arm64 build's unit tests pass under emulation and its processing outputs are byte-identical to amd64's",
		Command: cmdArm64,
		Figure:  []Metric{metric("", "BenchmarkArm64/*", "arm64-ms/op", "%.1f", " ms")},
		Note:    "the emulation's cost on this host, not a Pi's figure; the arm64 test binaries run on a Pi as they are",
		Reference: []Metric{
			metric("the same benchmarks built for amd64, same runs:", "BenchmarkArm64/*", "amd64-ms/op", "%.1f", " ms"),
		},
		Ratio:  []Ratio{reported("", "BenchmarkArm64/*", "arm64/amd64", "%.2f")},
		Better: "lower",
	},
	{
		What:    "two targets' pictures of an 18 MP JPEG (the 3 sizes above, and a live-cam picture 1280 wide) from one decode at 1/2 (`ProcessAll`)",
		Command: cmdProcessAll,
		Figure:  []Metric{seconds("", "BenchmarkProcessAll18MP/ProcessAll"), allocMB("", "BenchmarkProcessAll18MP/ProcessAll")},
		Reference: []Metric{
			seconds("a `Process` call each (decoded at 1/2 and at 1/4):", "BenchmarkProcessAll18MP/Process-each"),
			allocMB("", "BenchmarkProcessAll18MP/Process-each"),
		},
		Ratio: []Ratio{
			ratioOf("time", seconds("", "BenchmarkProcessAll18MP/ProcessAll"), seconds("", "BenchmarkProcessAll18MP/Process-each")),
			ratioOf("bytes", allocMB("", "BenchmarkProcessAll18MP/ProcessAll"), allocMB("", "BenchmarkProcessAll18MP/Process-each")),
		},
		Better: "lower",
	},
	{
		What:    "draining a backlog of realistic photos (JPGs of 300 KB–8 MB; or RAWs of 25 MB with their JPGs) to cloudd and to nginx's WebDAV, at 1, 10 and 100 Mbit/s, about 60 s of payload per cell (target/rate/mix)",
		Command: cmdBacklog,
		Figure: []Metric{
			metric("", "BenchmarkBacklogDrain/*", "wall-s", "%.1f", " s"),
			metric("bytes on the wire per photo byte:", "BenchmarkBacklogDrain/*", "wire/payload", "%.3f", ""),
		},
		Reference: []Metric{metric("the arithmetic limit, payload ÷ link rate:", "BenchmarkBacklogDrain/*", "limit-s", "%.1f", " s")},
		Ratio:     []Ratio{reported("", "BenchmarkBacklogDrain/*", "wall/limit", "%.3f")},
		Better:    "lower",
	},
	idleRow("modemd idle with a registered modem (simulated EC25 on a pty, the real binary; status files on a tmpfs, as the appliance's /run), over a minute",
		cmdModemdIdle, "wake-ups are voluntary context switches of all threads"),
	idleRow("watchdogd idle, healthy, no GPIO (the real binary judging fresh status files every 15 s; status files on a tmpfs; this machine has no GPIO chip, so the feeder is not counted), over a minute",
		cmdWatchdogdIdle, ""),
	idleRow("statusd idle, no clients (the real binary, after serving the page once and giving its memory back 30 s later, fed by recorded status files), over a minute",
		cmdStatusdIdle, ""),
	{
		What:    "statusd's page in headless Chromium at a phone's width (recorded status files; password sent), load to the load event, picture included",
		Command: cmdChromium,
		Figure: []Metric{
			metric("", "BenchmarkPageInChromium", "ms/load", "%.0f", " ms"),
			metric("HTML", "BenchmarkPageInChromium", "html-bytes", "%.0f", " bytes"),
			metric("picture (the test's flat synthetic one)", "BenchmarkPageInChromium", "picture-bytes", "%.0f", " bytes"),
		},
		Reference: []Metric{metric("the same bytes as static files:", "BenchmarkPageInChromium", "ref-static-ms/load", "%.0f", " ms")},
		Ratio: []Ratio{ratioOf("", metric("", "BenchmarkPageInChromium", "ms/load", "", ""),
			metric("", "BenchmarkPageInChromium", "ref-static-ms/load", "", ""))},
		Better: "lower",
	},
	{
		What:      "AT round trip through the engine (simulator on a pty)",
		Command:   cmdRoundTrip,
		Figure:    []Metric{micros("", "BenchmarkRoundTrip/engine")},
		Reference: []Metric{micros("the same round trip through tarm/serial alone:", "BenchmarkRoundTrip/by-hand")},
		Ratio:     []Ratio{ratioOf("", micros("", "BenchmarkRoundTrip/engine"), micros("", "BenchmarkRoundTrip/by-hand"))},
		Better:    "lower",
	},
	{
		What:    "cloudd's fleet page of 1,000 devices, state to HTML, each with an update section",
		Command: cmdFleetPage,
		Figure: []Metric{
			millis("SQLite", "BenchmarkFleetPage1000/sqlite/page"),
			millis("PostgreSQL", "BenchmarkFleetPage1000/postgres/page"),
			metric("", "BenchmarkFleetPage1000/sqlite/page", "bytes/page", "%.0f", " bytes"),
		},
		Reference: []Metric{
			millis("the JSON API for the same devices: SQLite", "BenchmarkFleetPage1000/sqlite/json-reference"),
			millis("PostgreSQL", "BenchmarkFleetPage1000/postgres/json-reference"),
		},
		Ratio: []Ratio{
			ratioOf("SQLite", millis("", "BenchmarkFleetPage1000/sqlite/page"), millis("", "BenchmarkFleetPage1000/sqlite/json-reference")),
			ratioOf("PostgreSQL", millis("", "BenchmarkFleetPage1000/postgres/page"), millis("", "BenchmarkFleetPage1000/postgres/json-reference")),
		},
		Better: "lower",
	},
	{
		What:      "analysing a received 18 MP JPEG (brightness, thumbnail)",
		Command:   cmdAnalyze,
		Figure:    []Metric{seconds("", "BenchmarkAnalyze18MP/analyze")},
		Reference: []Metric{seconds("decoding it alone:", "BenchmarkAnalyze18MP/decode")},
		Ratio:     []Ratio{ratioOf("", seconds("", "BenchmarkAnalyze18MP/analyze"), seconds("", "BenchmarkAnalyze18MP/decode"))},
		Better:    "lower",
	},
	{
		What:    "cloudd ingest of 6 MiB photos kept in two stores (tus uploader on loopback, until acknowledged): local + versitygw (s3), local + a second directory (dir)",
		Command: cmdIngest,
		Figure: []Metric{
			metric("s3", "BenchmarkIngestTwoStores", "s3-MB/s", "%.0f", " MB/s"),
			metric("", "BenchmarkIngestTwoStores", "s3-cpu-ms/photo", "%.0f", " ms of CPU per photo"),
			metric("plus versitygw's", "BenchmarkIngestTwoStores", "versitygw-cpu-ms/photo", "%.0f", " ms"),
			metric("dir", "BenchmarkIngestTwoStores", "dir-MB/s", "%.0f", " MB/s"),
			metric("", "BenchmarkIngestTwoStores", "dir-cpu-ms/photo", "%.0f", " ms of CPU per photo"),
		},
		Reference: []Metric{
			metric("one store, same runs:", "BenchmarkIngestTwoStores", "one-MB/s", "%.0f", " MB/s"),
			metric("", "BenchmarkIngestTwoStores", "one-cpu-ms/photo", "%.0f", " ms of CPU per photo"),
		},
		Ratio: []Ratio{
			reported("s3 throughput", "BenchmarkIngestTwoStores", "s3/one-throughput", "%.2f"),
			reported("s3 CPU", "BenchmarkIngestTwoStores", "s3/one-cpu", "%.2f"),
			reported("dir throughput", "BenchmarkIngestTwoStores", "dir/one-throughput", "%.2f"),
			reported("dir CPU", "BenchmarkIngestTwoStores", "dir/one-cpu", "%.2f"),
		},
		Better: "higher throughput, lower CPU",
	},
	{
		What:    "the derived copies of a received 18 MP JPEG (web-size 1920 and thumbnail 320, written crash-safely, indexed)",
		Command: cmdDerive,
		Figure:  []Metric{seconds("", "BenchmarkDerive18MP/gallery")},
		Reference: []Metric{
			seconds("decoding it alone:", "BenchmarkDerive18MP/decode-only"),
			seconds("ImageMagick 6 `convert -resize` making the same two:", "BenchmarkDerive18MP/imagemagick"),
		},
		Ratio: []Ratio{
			ratioOf("against ImageMagick", seconds("", "BenchmarkDerive18MP/gallery"), seconds("", "BenchmarkDerive18MP/imagemagick")),
		},
		Better: "lower",
	},
	{
		What:    "a day's time-lapse, 288 frames of 1920×1280 to H.264 at 25 frames a second (11.5 s of video)",
		Command: cmdTimelapse,
		Figure: []Metric{
			seconds("", "BenchmarkTimelapse288/encode/deflicker=false"),
			seconds("with deflicker", "BenchmarkTimelapse288/encode/deflicker=true"),
		},
		Reference: []Metric{seconds("ffmpeg decoding the same frames alone:", "BenchmarkTimelapse288/decode-only")},
		Ratio: []Ratio{
			ratioOf("", seconds("", "BenchmarkTimelapse288/encode/deflicker=false"), seconds("", "BenchmarkTimelapse288/decode-only")),
			ratioOf("with deflicker", seconds("", "BenchmarkTimelapse288/encode/deflicker=true"), seconds("", "BenchmarkTimelapse288/decode-only")),
		},
		Better: "lower",
	},
}
