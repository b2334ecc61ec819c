package rest

import (
	"os"
	"runtime"
	"testing"
	"time"
)

func TestNarrowAndWiden(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	// Without CAP_SYS_NICE the slack cannot be read nor set: that
	// refusal is SetMonitorSlack's test.
	root := os.Geteuid() == 0
	var tid string
	var slack time.Duration
	if root {
		tid = monitor(t)
		slack = slackOf(t, tid)
	}
	runtime.GOMAXPROCS(3) // whatever the machine has: Widen must restore what was set
	Widen()
	if got := runtime.GOMAXPROCS(0); got != 3 {
		t.Fatalf("Widen without Narrow: GOMAXPROCS %d, want 3", got)
	}
	Narrow()
	Narrow()
	if got := runtime.GOMAXPROCS(0); got != 1 {
		t.Fatalf("after Narrow: GOMAXPROCS %d, want 1", got)
	}
	if root {
		if got := slackOf(t, tid); got != RestSlack {
			t.Errorf("after Narrow: the monitor's timer slack is %v, want %v", got, RestSlack)
		}
	}
	Widen()
	if got := runtime.GOMAXPROCS(0); got != 3 {
		t.Fatalf("after two Narrows and a Widen: GOMAXPROCS %d, want 3", got)
	}
	if root {
		if got := slackOf(t, tid); got != slack {
			t.Errorf("after Widen: the monitor's timer slack is %v, want the %v it had", got, slack)
		}
	}
	Widen()
	if got := runtime.GOMAXPROCS(0); got != 3 {
		t.Fatalf("after a second Widen: GOMAXPROCS %d, want 3", got)
	}
}
