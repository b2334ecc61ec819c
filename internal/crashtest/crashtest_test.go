package crashtest

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	Main(map[string]func(string) error{
		// marks n times, then waits to be killed
		"marker": func(arg string) error {
			n, _ := strconv.Atoi(arg)
			for i := 0; i < n; i++ {
				Mark()
			}
			time.Sleep(time.Hour)
			return nil
		},
		"logger": func(arg string) error {
			fmt.Fprintf(MarkWriter("stored "), "stored a\nskipped b\nstored c\n")
			time.Sleep(time.Hour)
			return nil
		},
		"done": func(string) error { Mark(); return nil },
		"fail": func(arg string) error { return errors.New(arg) },
	})
	os.Exit(m.Run())
}

func TestKillAfterMarks(t *testing.T) {
	c := Start(t, "marker", "5")
	if !c.KillAfter(5, 0) {
		t.Fatal("the child exited by itself")
	}
	if c.Marks() != 5 {
		t.Errorf("%d marks, want 5", c.Marks())
	}
	c = Start(t, "logger", "")
	if !c.KillAfter(2, 0) || c.Marks() != 2 {
		t.Errorf("%d marks from the log, want 2 (its lines that start with the prefix)", c.Marks())
	}
}

func TestChildExitsByItself(t *testing.T) {
	c := Start(t, "done", "")
	if c.KillWhen(func() bool { return false }) {
		t.Fatal("KillWhen killed a child whose condition never held")
	}
	if c.Marks() != 1 || c.Stderr() != "" {
		t.Errorf("%d marks, stderr %q; want 1 mark and nothing on stderr", c.Marks(), c.Stderr())
	}
}

// recorder is a testing.TB that records a Fatalf.
type recorder struct {
	testing.TB
	failed string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestFailures(t *testing.T) {
	for _, tc := range []struct {
		name, child, arg, want string
		stuck                  time.Duration
	}{
		{"failing child", "fail", "disk on fire", "failed by itself after 0 marks: exit status 1\ncrashtest: child fail: disk on fire", 0},
		{"stuck child", "marker", "1", "neither finished nor got where it was to be killed in 200ms (1 marks)", 200 * time.Millisecond},
	} {
		defer func(s time.Duration) { Stuck = s }(Stuck)
		if tc.stuck > 0 {
			Stuck = tc.stuck
		}
		r := &recorder{TB: t}
		done := make(chan struct{})
		go func() {
			defer close(done)
			Start(r, tc.child, tc.arg).KillAfter(2, 0)
		}()
		<-done
		if !strings.Contains(r.failed, tc.want) {
			t.Errorf("%s: failed with %q, want it to say %q", tc.name, r.failed, tc.want)
		}
	}
}
