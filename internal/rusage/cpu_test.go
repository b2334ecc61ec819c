package rusage

import (
	"os"
	"testing"
	"time"
)

func TestParseStatCPU(t *testing.T) {
	for _, tc := range []struct {
		stat string
		want time.Duration
		ok   bool
	}{
		{"1234 (versitygw) S 1 1234 1234 0 -1 4194560 5000 0 0 0 250 31 0 0 20 0 12 0 100 0 0", 2810 * time.Millisecond, true},
		{"7 (a) b (c) R 1 7 7 0 -1 0 0 0 0 0 3 4 0 0", 70 * time.Millisecond, true}, // a name with ") "
		{"7 (a) S 1 2", 0, false},
		{"garbage", 0, false},
		{"7 (a) S 1 7 7 0 -1 0 0 0 0 0 x 4 0 0", 0, false},
	} {
		got, err := parseStatCPU([]byte(tc.stat))
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseStatCPU(%q) = %v, %v; want %v, ok %v", tc.stat, got, err, tc.want, tc.ok)
		}
	}
}

// The process's own CPU time, read both ways, agrees to the tick.
func TestCPU(t *testing.T) {
	for start := time.Now(); time.Since(start) < 50*time.Millisecond; {
	}
	proc, err := ProcessCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	self := CPU() // read second: at least what /proc said
	if self <= 0 || proc <= 0 || proc > self+clockTick {
		t.Errorf("CPU() = %v, ProcessCPU(self) = %v", self, proc)
	}
}
