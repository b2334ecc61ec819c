package rest

import (
	"runtime"
	"testing"
)

func TestNarrowAndWiden(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
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
	Widen()
	if got := runtime.GOMAXPROCS(0); got != 3 {
		t.Fatalf("after two Narrows and a Widen: GOMAXPROCS %d, want 3", got)
	}
	Widen()
	if got := runtime.GOMAXPROCS(0); got != 3 {
		t.Fatalf("after a second Widen: GOMAXPROCS %d, want 3", got)
	}
}
