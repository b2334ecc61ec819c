package status

import (
	"testing"
	"time"
)

func TestParseUptime(t *testing.T) {
	for _, tt := range []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{in: "350735.47 234388.90\n", want: 350735*time.Second + 470*time.Millisecond},
		{in: "0.00 0.00", want: 0},
		{in: "12", want: 12 * time.Second},
		{in: "", wantErr: true},
		{in: "\n", wantErr: true},
		{in: "abc 1.0", wantErr: true},
		{in: "-1.0 0", wantErr: true},
		{in: "NaN 0", wantErr: true},
		{in: "1e300 0", wantErr: true},
	} {
		got, err := parseUptime([]byte(tt.in))
		if (err != nil) != tt.wantErr {
			t.Errorf("parseUptime(%q) error = %v, want error: %v", tt.in, err, tt.wantErr)
			continue
		}
		if diff := got - tt.want; diff < -time.Millisecond || diff > time.Millisecond {
			t.Errorf("parseUptime(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestParseStatState(t *testing.T) {
	for _, tt := range []struct {
		in      string
		want    byte
		wantErr bool
	}{
		{in: "310 (statusd) S 1 310 310 0 -1", want: 'S'},
		{in: "42 (my prog) R 1", want: 'R'},
		{in: "43 (a) b) (c) Z 1", want: 'Z'},
		{in: "44 (x)", wantErr: true},
		{in: "45 x S", wantErr: true},
		{in: "", wantErr: true},
	} {
		got, err := parseStatState([]byte(tt.in))
		if (err != nil) != tt.wantErr {
			t.Errorf("parseStatState(%q) error = %v, want error: %v", tt.in, err, tt.wantErr)
			continue
		}
		if got != tt.want {
			t.Errorf("parseStatState(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestProcessAlive(t *testing.T) {
	tr := newTree(t)
	tr.process(t, 10, "sleeper", 'S')
	tr.process(t, 11, "zombie", 'Z')
	tr.write(t, "proc/12/stat", "garbage")
	for _, tt := range []struct {
		pid     int
		want    bool
		wantErr bool
	}{
		{pid: 10, want: true},
		{pid: 11, want: false},
		{pid: 99, want: false},
		{pid: 12, wantErr: true},
	} {
		got, err := processAlive(tr.proc, tt.pid)
		if (err != nil) != tt.wantErr {
			t.Errorf("processAlive(%d) error = %v, want error: %v", tt.pid, err, tt.wantErr)
			continue
		}
		if got != tt.want {
			t.Errorf("processAlive(%d) = %v, want %v", tt.pid, got, tt.want)
		}
	}
}

func TestReadHostnameAndUptime(t *testing.T) {
	tr := newTree(t)
	if got, err := readHostname(tr.proc); err != nil || got != "lapsebox-glacier" {
		t.Errorf("readHostname = %q, %v; want lapsebox-glacier", got, err)
	}
	if got, err := readUptime(tr.proc); err != nil || got.Round(time.Second) != 93785*time.Second {
		t.Errorf("readUptime = %v, %v; want 26h3m5s", got, err)
	}
	empty := t.TempDir()
	if _, err := readUptime(empty); err == nil {
		t.Errorf("readUptime(%s) succeeded without an uptime file", empty)
	}
}

func FuzzParseUptime(f *testing.F) {
	f.Add([]byte("350735.47 234388.90\n"))
	f.Add([]byte("0 0"))
	f.Add([]byte("1e309"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if d, err := parseUptime(b); err == nil && d < 0 {
			t.Errorf("parseUptime(%q) = %v, negative", b, d)
		}
	})
}

func TestReadUsage(t *testing.T) {
	tr := newTree(t)
	tr.process(t, 20, "camerad", 'S')
	u, err := readUsage(tr.proc, 20)
	if err != nil || u.rss != 200<<10 || u.switches != 20+2+3+4 || u.monitorSwitches != 3+4 {
		t.Errorf("readUsage = %+v, %v; want 200 KiB and 29 switches, 7 of them the second thread's", u, err)
	}
	// The monitor is the second thread started, not the second listed
	// nor the busiest.
	tr.write(t, "proc/20/task/2000/status", "voluntary_ctxt_switches:\t900\nnonvoluntary_ctxt_switches:\t0\n")
	tr.write(t, "proc/20/task/25/status", "voluntary_ctxt_switches:\t50\nnonvoluntary_ctxt_switches:\t1\n")
	if u, err := readUsage(tr.proc, 20); err != nil || u.switches != 29+900+51 || u.monitorSwitches != 51 {
		t.Errorf("four threads: readUsage = %+v, %v; want 980 switches, 51 of them thread 25's", u, err)
	}
	// A kernel thread has no VmRSS: no memory, not an error.
	tr.write(t, "proc/21/status", "Name:\tkworker\nvoluntary_ctxt_switches:\t5\n")
	tr.write(t, "proc/21/task/21/status", "voluntary_ctxt_switches:\t5\nnonvoluntary_ctxt_switches:\t0\n")
	if u, err := readUsage(tr.proc, 21); err != nil || u.rss != 0 || u.switches != 5 || u.monitorSwitches != 0 {
		t.Errorf("kernel thread: %+v, %v", u, err)
	}
	for name, status := range map[string]string{
		"negative":   "VmRSS:\t-5 kB\n",
		"not number": "VmRSS:\tlots kB\n",
		"empty":      "VmRSS:\n",
	} {
		tr.write(t, "proc/22/status", status)
		if _, err := readUsage(tr.proc, 22); err == nil {
			t.Errorf("%s VmRSS: no error", name)
		}
	}
	if _, err := readUsage(tr.proc, 99); err == nil {
		t.Error("a process that does not exist: no error")
	}
}
