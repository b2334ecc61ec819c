package rest

import (
	"fmt"
	"log"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/lapsebox/lapsebox/internal/rusage"
)

// MonitorSlack is the timer slack QuietMonitor gives the Go runtime's
// monitor thread: its own longest sleep, so that from its first sleep
// after a wake-up it polls as seldom as it would after a millisecond of
// polling without finding work.
const MonitorSlack = 10 * time.Millisecond

// RestSlack is the monitor's timer slack while a daemon rests on one
// processor (Narrow). Its work then is a short exchange every few seconds
// (a keep-alive to the camera, a heartbeat), and 10 ms sleeps still woke
// the monitor three or four times in each: with RestSlack, once or twice.
// In the appliance VM an idle camerad's wake-ups went from 0.90–1.15 a
// second over six runs (0.35–0.57 of them the monitor's) to 0.78 in two
// (0.21–0.26). What that costs the rest: a processor taken back from a
// blocked system call, or a goroutine preempted, up to a tenth of a
// second later. Widen gives the default back before work.
const RestSlack = 100 * time.Millisecond

// SetMonitorSlack sets the timer slack of the Go runtime's monitor thread
// (sysmon): how much later than asked the kernel may end its sleeps. 0
// gives it back the slack it started with (the kernel's 50 µs).
//
// Once any goroutine runs or any thread enters a system call, the monitor
// sleeps 20 µs at a time, then longer up to 10 ms, until every goroutine
// sleeps again: tens of wake-ups for each of a daemon's own (a modem's
// line read, a keep-alive to the camera), more under emulation, where
// each burst of work lasts longer. With a slack of MonitorSlack, each of
// its sleeps lasts about 10 ms and a burst of work costs it one or two.
// It then takes back a processor from a thread blocked in a system call,
// and preempts a goroutine that will not yield, some milliseconds later:
// a cost for a daemon's work, nothing for its rest.
//
// The monitor is found as rusage.MonitorThread finds it. Setting the
// slack of another thread, even one of the process's own, needs
// CAP_SYS_NICE (gokrazy starts services as root).
func SetMonitorSlack(d time.Duration) error {
	tid, err := monitorThread()
	if err != nil {
		return fmt.Errorf("setting the Go runtime monitor's timer slack: %w", err)
	}
	// /proc/<tid>, not /proc/self/task/<tid>: only the former has it.
	path := "/proc/" + tid + "/timerslack_ns"
	if err := os.WriteFile(path, []byte(strconv.FormatInt(d.Nanoseconds(), 10)), 0); err != nil {
		return fmt.Errorf("setting the Go runtime monitor's timer slack to %v: %w", d, err)
	}
	return nil
}

// monitorThread returns the ID of the process's monitor thread, looked up
// once: it lives as long as the process, and camerad and uploadd set its
// slack at every rest and every return to work.
var monitorThread = sync.OnceValues(func() (string, error) {
	d, err := os.Open("/proc/self/task")
	if err != nil {
		return "", err
	}
	defer d.Close()
	tids, err := d.Readdirnames(-1)
	if err != nil {
		return "", err
	}
	tid := rusage.MonitorThread(os.Getpid(), tids)
	if tid == "" {
		return "", fmt.Errorf("no thread but the first in /proc/self/task")
	}
	return tid, nil
})

var slackFailure sync.Once

// QuietMonitor sets the monitor's slack to MonitorSlack (SetMonitorSlack)
// and logs its first failure: the daemon works as well without it.
func QuietMonitor() {
	setMonitorSlack(MonitorSlack)
}

// setMonitorSlack calls SetMonitorSlack and logs its first failure.
func setMonitorSlack(d time.Duration) {
	if err := SetMonitorSlack(d); err != nil {
		slackFailure.Do(func() { log.Print(err) })
	}
}
