package rusage

import "strconv"

// MonitorThread returns, of the thread IDs of process pid as named in
// /proc/<pid>/task, the process's second thread: the lowest ID above pid,
// as the kernel hands IDs out in increasing order. It is "" for a process
// of one thread.
//
// In a Go program that thread is the runtime's monitor (sysmon), which
// runtime.main starts before any other thread. It sleeps for good only
// while every goroutine sleeps; once one runs or enters a system call, it
// wakes every 20 µs, then less often up to every 10 ms, until all sleep
// again. Each of the program's wake-ups therefore costs it tens of
// context switches (one or two once its timer slack is raised, as
// rest.QuietMonitor does), and counting them apart tells the program's
// wake-ups from the runtime's watching of them.
func MonitorThread(pid int, tids []string) string {
	best, bestID := "", 0
	for _, name := range tids {
		id, err := strconv.Atoi(name)
		if err != nil || id <= pid {
			continue
		}
		if best == "" || id < bestID {
			best, bestID = name, id
		}
	}
	return best
}
