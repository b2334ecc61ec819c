package camera

import (
	"context"
	"io"
	"testing"

	"github.com/lapsebox/lapsebox/ptp/sim"
)

// BenchmarkCaptureRAWJPG captures and downloads a RAW+JPG pair of a
// 600D's sizes (22 MB CR2, 300 KB JPG) from the simulator into io.Discard:
// the MB/s and allocations of the driver and ptp.Conn (and the simulator,
// which makes the JPEG).
func BenchmarkCaptureRAWJPG(b *testing.B) {
	for _, target := range []Target{Card, Host} {
		b.Run(target.String(), func(b *testing.B) {
			cfg := sim.Config{Model: sim.CanonEOS600D, Quality: sim.RAWAndJPEG, Seed: 1}
			opts := testOptions()
			opts.Target = target
			opts.OpTimeout = 0
			_, c := open(b, cfg, opts)
			sink := func(File) (io.Writer, error) { return io.Discard, nil }
			b.ReportAllocs()
			b.ResetTimer()
			var bytes int64
			for i := 0; i < b.N; i++ {
				files, err := c.Capture(context.Background(), sink)
				if err != nil || len(files) != 2 {
					b.Fatalf("%d files, %v", len(files), err)
				}
				for _, f := range files {
					bytes += f.Size
				}
			}
			b.SetBytes(bytes / int64(b.N))
		})
	}
}
