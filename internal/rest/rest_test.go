package rest

import (
	"sync/atomic"
	"testing"
	"time"
)

// TestTimer checks that the release comes once, after the last piece of
// work, and not while work goes on.
func TestTimer(t *testing.T) {
	var released atomic.Int32
	tm := &Timer{After: 200 * time.Millisecond, MinAlloc: 1, Release: func() { released.Add(1) }}
	for end := time.Now().Add(500 * time.Millisecond); time.Now().Before(end); {
		tm.Busy()
		sink = make([]byte, 64<<10) // a large object: counted at once
		time.Sleep(10 * time.Millisecond)
	}
	if n := released.Load(); n != 0 {
		t.Fatalf("released %d times while busy", n)
	}
	for deadline := time.Now().Add(10 * time.Second); released.Load() == 0; {
		if time.Now().After(deadline) {
			t.Fatal("not released 10 s after the last work")
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(400 * time.Millisecond)
	if n := released.Load(); n != 1 {
		t.Fatalf("released %d times for one rest", n)
	}
	// Work again, rest again: released again.
	tm.Busy()
	sink = make([]byte, 64<<10) // a large object: counted at once
	for deadline := time.Now().Add(10 * time.Second); released.Load() == 1; {
		if time.Now().After(deadline) {
			t.Fatal("not released after the second rest")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

var sink []byte

// TestLittleWorkNoRelease checks that a rest after work that allocated
// less than MinAlloc releases nothing, and that enough allocation does.
func TestLittleWorkNoRelease(t *testing.T) {
	var released atomic.Int32
	tm := &Timer{After: time.Millisecond, MinAlloc: 64 << 20, Release: func() { released.Add(1) }}
	tm.Busy()
	sink = make([]byte, 1<<10)
	time.Sleep(200 * time.Millisecond)
	if n := released.Load(); n != 0 {
		t.Fatalf("released %d times after 1 KiB of work, want none below 64 MiB", n)
	}
	for range 80 {
		sink = make([]byte, 1<<20)
	}
	tm.Busy()
	for deadline := time.Now().Add(10 * time.Second); released.Load() == 0; {
		if time.Now().After(deadline) {
			t.Fatal("not released after 80 MiB of work")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestTimerRest checks that Rest comes at every rest, even one after work
// that allocated too little to release, and not while work goes on.
func TestTimerRest(t *testing.T) {
	var rests, released atomic.Int32
	tm := &Timer{After: 50 * time.Millisecond, MinAlloc: 1 << 40,
		Release: func() { released.Add(1) }, Rest: func() { rests.Add(1) }}
	for end := time.Now().Add(300 * time.Millisecond); time.Now().Before(end); {
		tm.Busy()
		time.Sleep(5 * time.Millisecond)
	}
	if n := rests.Load(); n != 0 {
		t.Fatalf("rested %d times while busy", n)
	}
	for i := int32(1); i <= 2; i++ {
		for deadline := time.Now().Add(10 * time.Second); rests.Load() < i; {
			if time.Now().After(deadline) {
				t.Fatalf("rest %d did not come 10 s after the last work", i)
			}
			time.Sleep(5 * time.Millisecond)
		}
		tm.Busy() // work again: rest again
	}
	if n := released.Load(); n != 0 {
		t.Errorf("released %d times, with less than MinAlloc allocated", n)
	}
}
