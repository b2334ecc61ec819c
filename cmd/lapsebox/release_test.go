package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/image/release"
)

// TestPrintTransfers checks the lines an operator reads after a
// publication: each earlier build's cost, as a patch or as blocks,
// against the root compressed, with the devices on it.
func TestPrintTransfers(t *testing.T) {
	m := &release.Manifest{Root: release.Part{Size: 64 << 20}}
	build := time.Date(2026, 6, 2, 8, 0, 0, 0, time.UTC)
	var out bytes.Buffer
	printTransfers(&out, m, 26<<20, []release.Transfer{
		{Build: build.Add(-48 * time.Hour), Bytes: 26 << 20, Devices: []string{"a", "b", "c", "d", "e"}},
		{Version: "2026.06.01", Build: build.Add(-24 * time.Hour), Bytes: 3900 << 10},
		{Version: "2026.06.02", Build: build, Bytes: 413 << 10, Patch: 413 << 10, Devices: []string{"site7", "site9"}},
		{Version: "2026.06.02b", Build: build.Add(time.Hour), Bytes: 312, Patch: 312},
	})
	want := []string{
		"what the release costs a device, at most (the root: 65536 KiB, 26624 KiB compressed):",
		"  from an unpublished build (build 2026-05-31T08:00:00Z): 26624 KiB as blocks, gzipped (100.00 % of the root compressed), a, b, c and 2 more",
		"  from 2026.06.01 (build 2026-06-01T08:00:00Z): 3900 KiB as blocks, gzipped (14.65 % of the root compressed), no device reported",
		"  from 2026.06.02 (build 2026-06-02T08:00:00Z): 413 KiB as a patch (1.55 % of the root compressed), site7, site9",
		"  from 2026.06.02b (build 2026-06-02T09:00:00Z): 312 bytes as a patch (0.00 % of the root compressed), no device reported",
	}
	if got := strings.Split(strings.TrimSpace(out.String()), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("printed\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
