package rusage

import "testing"

func TestMonitorThread(t *testing.T) {
	for _, tc := range []struct {
		pid  int
		tids []string
		want string
	}{
		{20, []string{"20", "1020"}, "1020"},
		// The second thread started, not the second listed.
		{20, []string{"20", "2000", "25", "1020"}, "25"},
		{20, []string{"20"}, ""},
		{20, []string{"20", "status", "7"}, ""}, // not a thread ID; an ID the kernel gave out before pid
	} {
		if got := MonitorThread(tc.pid, tc.tids); got != tc.want {
			t.Errorf("MonitorThread(%d, %q) = %q, want %q", tc.pid, tc.tids, got, tc.want)
		}
	}
}
