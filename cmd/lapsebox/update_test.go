package main

import "testing"

// The device answers a reboot with several lines; lapsebox update prints
// one line a step.
func TestOneLine(t *testing.T) {
	for in, want := range map[string]string{
		"All services killed in 537ms\nRebooting...\n": "All services killed in 537ms; Rebooting...",
		"up, build 2026-12-03T16:27:48Z":               "up, build 2026-12-03T16:27:48Z",
		"\n  \n":                                       "",
	} {
		if got := oneLine(in); got != want {
			t.Errorf("oneLine(%q) = %q, want %q", in, got, want)
		}
	}
}
