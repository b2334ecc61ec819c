// Package crashtest kills a piece of a test binary with SIGKILL, as a
// power cut or the kernel's OOM killer would, so that the test can check
// what it left behind: a store that is consistent, an upload that resumes,
// nothing lost or stored twice.
//
// The test binary runs itself again as the child. TestMain calls Main
// first, which runs the child the environment names and exits when the
// process is one. The child reports progress with Mark (a photo stored, a
// capture made); the parent kills it at a point of progress it chooses
// (KillAfter, KillWhen), never after a fixed time, so that a loaded
// machine slows the test down but does not change what it tests.
package crashtest

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// childEnv names the child to run and its argument: "name=arg".
const childEnv = "LAPSEBOX_CRASHTEST_CHILD"

// marksEnv, set by Start, says that file descriptor 3 is the pipe on
// which the child's Marks reach the parent. A child run by Command has no
// such pipe, and its descriptor 3 may be any file.
const marksEnv = "LAPSEBOX_CRASHTEST_MARKS"

// Stuck is how long KillWhen waits for its condition or the child's exit
// before failing the test: the child hangs or makes no progress.
var Stuck = 2 * time.Minute

// Main runs the child the environment names, if this process is one, and
// exits: 0 when the child's function returned nil, 1 (with the error on
// standard error) otherwise. In the parent it returns at once.
func Main(children map[string]func(arg string) error) {
	v, ok := os.LookupEnv(childEnv)
	if !ok {
		return
	}
	if os.Getenv(marksEnv) == "3" {
		// The parent counts marks until the pipe closes; a process this
		// child starts must not hold it open.
		syscall.CloseOnExec(3)
	}
	name, arg, _ := strings.Cut(v, "=")
	f := children[name]
	if f == nil {
		fmt.Fprintf(os.Stderr, "crashtest: no child %q\n", name)
		os.Exit(2)
	}
	if err := f(arg); err != nil {
		fmt.Fprintf(os.Stderr, "crashtest: child %s: %v\n", name, err)
		os.Exit(1)
	}
	os.Exit(0)
}

var marks = sync.OnceValue(func() *os.File {
	if os.Getenv(marksEnv) != "3" {
		return nil
	}
	return os.NewFile(3, "crashtest-marks")
})

// Mark tells the parent that the child made progress. Outside a child it
// does nothing.
func Mark() {
	if f := marks(); f != nil {
		f.Write([]byte{'.'})
	}
}

// MarkWriter returns a writer that calls Mark for every line written that
// starts with prefix: a child's log, one line per unit of progress.
func MarkWriter(prefix string) io.Writer { return markWriter(prefix) }

type markWriter string

func (m markWriter) Write(p []byte) (int, error) {
	for _, l := range strings.Split(string(p), "\n") {
		if l != "" && strings.HasPrefix(l, string(m)) {
			Mark()
		}
	}
	return len(p), nil
}

// Command returns the command that runs child name with arg: this test
// binary, running no tests. Start runs it and watches it; Command is for
// children that a test drives another way (a server it stops itself).
func Command(name, arg string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+name+"="+arg)
	return cmd
}

// Child is a running child process.
type Child struct {
	t      testing.TB
	name   string
	cmd    *exec.Cmd
	stderr strings.Builder
	marks  atomic.Int64
	exited chan struct{}
	err    error // cmd.Wait's, once exited is closed
}

// Start starts child name with arg.
func Start(t testing.TB, name, arg string) *Child {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	c := &Child{t: t, name: name, cmd: Command(name, arg), exited: make(chan struct{})}
	c.cmd.Stderr = &c.stderr
	c.cmd.ExtraFiles = []*os.File{w} // descriptor 3
	c.cmd.Env = append(c.cmd.Env, marksEnv+"=3")
	if err := c.cmd.Start(); err != nil {
		r.Close()
		w.Close()
		t.Fatalf("crashtest: starting child %s: %v", name, err)
	}
	w.Close()
	counted := make(chan struct{})
	go func() {
		defer close(counted)
		buf := make([]byte, 512)
		for {
			n, err := r.Read(buf)
			c.marks.Add(int64(n))
			if err != nil {
				r.Close()
				return
			}
		}
	}()
	go func() {
		c.err = c.cmd.Wait()
		// Marks still in the pipe when the child exited count: a child
		// that marked and exited has made its marks.
		<-counted
		close(c.exited)
	}()
	return c
}

// Marks is how many times the child called Mark so far.
func (c *Child) Marks() int64 { return c.marks.Load() }

// Stderr is what the child wrote to standard error.
func (c *Child) Stderr() string {
	select {
	case <-c.exited:
		return c.stderr.String()
	default:
		return "(still running)"
	}
}

// KillWhen SIGKILLs the child as soon as cond holds (polled every
// millisecond) and reports true, or reports false if the child exited by
// itself first. A child that exits with an error fails the test, and so
// does one that neither exits nor brings cond about within Stuck.
func (c *Child) KillWhen(cond func() bool) bool {
	c.t.Helper()
	stuck := time.After(Stuck)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-c.exited:
			if c.err != nil {
				c.t.Fatalf("crashtest: child %s failed by itself after %d marks: %v\n%s", c.name, c.Marks(), c.err, c.stderr.String())
			}
			return false
		case <-stuck:
			c.kill()
			c.t.Fatalf("crashtest: child %s neither finished nor got where it was to be killed in %v (%d marks)\n%s", c.name, Stuck, c.Marks(), c.stderr.String())
		case <-tick.C:
			if cond() {
				c.kill()
				return true
			}
		}
	}
}

// KillAfter SIGKILLs the child once it has made marks Marks and delay has
// passed since, and reports true; it reports false if the child exited
// by itself first. A delay places the kill somewhere inside the work that
// follows the mark; the machine's speed moves that point, not whether
// the child got there.
func (c *Child) KillAfter(marks int64, delay time.Duration) bool {
	c.t.Helper()
	var reached time.Time
	return c.KillWhen(func() bool {
		if reached.IsZero() {
			if c.Marks() < marks {
				return false
			}
			reached = time.Now()
		}
		return time.Since(reached) >= delay
	})
}

// Wait waits until the child exits by itself, failing the test if it
// fails or is stuck for Stuck.
func (c *Child) Wait() {
	c.t.Helper()
	c.KillWhen(func() bool { return false })
}

// kill sends SIGKILL and waits for the child to be gone.
func (c *Child) kill() {
	c.cmd.Process.Signal(syscall.SIGKILL)
	<-c.exited
}
