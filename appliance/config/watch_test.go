package config

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// siteNamed returns a valid configuration file for a site of that name.
func siteNamed(name string) []byte {
	return []byte(`{"site": {"name": "` + name + `", "time_zone": "UTC"}}`)
}

// replace writes a file the way the device's endpoint does: a new file
// renamed over the old one.
func replace(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+".new", data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".new", path); err != nil {
		t.Fatal(err)
	}
}

// watched runs a Watcher in the background and reports each run's
// configuration and each refusal on channels.
type watched struct {
	runs    chan string // site names, one per call of run
	refused chan error
	reload  chan os.Signal
	cancel  context.CancelFunc
	done    chan error
}

func watch(t *testing.T, perm string, runErr func(name string) error) *watched {
	t.Helper()
	return watchEvery(t, perm, time.Millisecond, runErr)
}

// watchEvery is watch with the Watcher's polling interval.
func watchEvery(t *testing.T, perm string, interval time.Duration, runErr func(name string) error) *watched {
	t.Helper()
	w := &watched{runs: make(chan string, 10), refused: make(chan error, 10), reload: make(chan os.Signal, 1), done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	wt := &Watcher{PermDir: perm, Interval: interval, Reload: w.reload, Logf: t.Logf,
		Refused: func(err error) { w.refused <- err }}
	go func() {
		w.done <- wt.Run(ctx, func(ctx context.Context, c *Config) error {
			w.runs <- c.Site.Name
			if runErr != nil {
				if err := runErr(c.Site.Name); err != nil {
					return err
				}
			}
			<-ctx.Done()
			return nil
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-w.done; err != nil {
			t.Errorf("Run after cancel: %v", err)
		}
	})
	return w
}

func (w *watched) next(t *testing.T) string {
	t.Helper()
	select {
	case name := <-w.runs:
		return name
	case err := <-w.refused:
		t.Fatalf("refused: %v", err)
	}
	return ""
}

func TestWatcherFollowsTheFile(t *testing.T) {
	perm := t.TempDir()
	path := filepath.Join(perm, Path)
	replace(t, path, siteNamed("first"))
	w := watch(t, perm, nil)
	if got := w.next(t); got != "first" {
		t.Fatalf("first run with %q", got)
	}

	replace(t, path, siteNamed("second"))
	if got := w.next(t); got != "second" {
		t.Fatalf("after a change, run with %q", got)
	}

	// A file that cannot be used is refused and changes nothing: the next
	// run is with the valid file that follows it.
	replace(t, path, []byte("{\n \"site\": {\"name\": \"broken\", \"time_zone\": \"Mars/Olympus\"}}"))
	err := <-w.refused
	if !strings.Contains(err.Error(), "line 2: site.time_zone") {
		t.Errorf("refused with %v", err)
	}
	replace(t, path, siteNamed("third"))
	if got := w.next(t); got != "third" {
		t.Fatalf("after a refused file and a valid one, run with %q", got)
	}

	// SIGHUP starts the service again even if nothing changed.
	w.reload <- os.Interrupt
	if got := w.next(t); got != "third" {
		t.Fatalf("after SIGHUP, run with %q", got)
	}

	// Without a file: the built-in default.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if got := w.next(t); got != Default().Site.Name {
		t.Fatalf("after removal, run with %q", got)
	}
}

// TestWatcherFallsBackToPrevious checks the start with a broken file: the
// configuration it replaced is used, and the error is reported.
func TestWatcherFallsBackToPrevious(t *testing.T) {
	perm := t.TempDir()
	replace(t, filepath.Join(perm, PrevPath), siteNamed("previous"))
	replace(t, filepath.Join(perm, Path), []byte(`{"site": {}}`))
	w := watch(t, perm, nil)
	if err := <-w.refused; !strings.Contains(err.Error(), "site.name: required") {
		t.Errorf("refused with %v", err)
	}
	if got := w.next(t); got != "previous" {
		t.Errorf("run with %q, want the previous configuration", got)
	}

	c, src, err := Load(perm)
	if err == nil || c.Site.Name != "previous" || src != filepath.Join(perm, PrevPath) {
		t.Errorf("Load = %q, %q, %v; want the previous configuration and the error", c.Site.Name, src, err)
	}
	// Both broken: the default.
	replace(t, filepath.Join(perm, PrevPath), []byte(`[]`))
	if c, src, err := Load(perm); err == nil || src != DefaultSource || c.Site.Name != Default().Site.Name {
		t.Errorf("Load = %q, %q, %v; want the default and the error", c.Site.Name, src, err)
	}
}

func TestWatcherRunErrors(t *testing.T) {
	perm := t.TempDir()
	boom := errors.New("boom")
	ctx := context.Background()
	w := &Watcher{PermDir: perm, Interval: time.Millisecond, Logf: t.Logf}
	if err := w.Run(ctx, func(context.Context, *Config) error { return boom }); err != boom {
		t.Errorf("Run = %v, want run's error", err)
	}
	// A run that returns nil on its own is called again.
	calls := 0
	err := w.Run(ctx, func(context.Context, *Config) error {
		if calls++; calls == 3 {
			return boom
		}
		return nil
	})
	if err != boom || calls != 3 {
		t.Errorf("Run = %v after %d calls", err, calls)
	}
}
