package status

import (
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/internal/mountinfo"
)

// The fake device's secrets, which must never show up in any output.
const (
	testPassword = "hunter2-s3cret-pw"
	testArgToken = "upload-token-s3cret"
)

// t0 is the fake device's "now".
var t0 = time.Date(2026, 7, 14, 12, 0, 0, 0, time.UTC)

// tree is a fake device: procfs, /perm, /run/lapsebox, password files and
// gokrazy's unix socket, all under one temporary directory.
type tree struct {
	root    string
	proc    string
	perm    string
	run     string
	etc     string
	socket  string
	pwFiles []string
}

// newTree returns an empty fake device. procfs has host name, uptime and a
// mount table in which perm is mounted from /dev/mmcblk0p4.
func newTree(t testing.TB) *tree {
	t.Helper()
	root := t.TempDir()
	if len(root) > 80 { // unix socket paths are limited to 108 bytes
		var err error
		root, err = os.MkdirTemp("", "st")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(root) })
	}
	tr := &tree{
		root:   root,
		proc:   filepath.Join(root, "proc"),
		perm:   filepath.Join(root, "perm"),
		run:    filepath.Join(root, "run", "lapsebox"),
		etc:    filepath.Join(root, "etc"),
		socket: filepath.Join(root, "g.sock"),
	}
	tr.pwFiles = []string{filepath.Join(tr.perm, "gokr-pw.txt"), filepath.Join(tr.etc, "gokr-pw.txt")}
	for _, dir := range []string{tr.proc, tr.perm, tr.run, tr.etc} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	tr.write(t, "proc/sys/kernel/hostname", "lapsebox-glacier\n")
	tr.write(t, "proc/uptime", "93784.52 351234.10\n")
	tr.mountPerm(t, true)
	return tr
}

// write writes content to the file rel under the tree's root.
func (tr *tree) write(t testing.TB, rel, content string) string {
	t.Helper()
	fn := filepath.Join(tr.root, rel)
	if err := os.MkdirAll(filepath.Dir(fn), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(fn, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return fn
}

// mountPerm writes a gokrazy mount table, with or without tr.perm in it.
func (tr *tree) mountPerm(t testing.TB, mounted bool) {
	t.Helper()
	b, err := os.ReadFile("testdata/mountinfo-gokrazy.txt")
	if err != nil {
		t.Fatal(err)
	}
	var perm string
	if mounted {
		perm = mountinfo.Escape(tr.perm)
	} else {
		perm = "/elsewhere"
	}
	tr.write(t, "proc/self/mountinfo", strings.Replace(string(b), " /perm ", " "+perm+" ", 1))
}

// process adds /proc/<pid>/stat in the given state ('S', 'Z', …).
func (tr *tree) process(t testing.TB, pid int, comm string, state byte) {
	t.Helper()
	tr.write(t, fmt.Sprintf("proc/%d/stat", pid),
		fmt.Sprintf("%d (%s) %c 1 %d %d 0 -1 4194560 1297 0 0 0 3 5 0 0 20 0 8 0 1234 1262964736 2890 18446744073709551615\n", pid, comm, state, pid, pid))
	// As the kernel writes them (abridged): VmRSS of pid×10 kB, of which
	// RssAnon pid×3; two threads with pid+2 and 7 context switches.
	tr.write(t, fmt.Sprintf("proc/%d/status", pid), fmt.Sprintf("Name:\t%s\nState:\t%c\nVmPeak:\t 1262964 kB\nVmRSS:\t%8d kB\nRssAnon:\t%8d kB\nRssFile:\t%8d kB\nThreads:\t2\nvoluntary_ctxt_switches:\t%d\nnonvoluntary_ctxt_switches:\t2\n", comm, state, pid*10, pid*3, pid*7, pid))
	tr.write(t, fmt.Sprintf("proc/%d/task/%d/status", pid, pid), fmt.Sprintf("Name:\t%s\nvoluntary_ctxt_switches:\t%d\nnonvoluntary_ctxt_switches:\t2\n", comm, pid))
	tr.write(t, fmt.Sprintf("proc/%d/task/%d/status", pid, pid+1000), fmt.Sprintf("Name:\t%s\nvoluntary_ctxt_switches:\t3\nnonvoluntary_ctxt_switches:\t4\n", comm))
}

// config returns a Config for the tree.
func (tr *tree) config() Config {
	return Config{
		ProcDir:       tr.proc,
		PermDir:       tr.perm,
		RunDir:        tr.run,
		GokrazySocket: tr.socket,
		PasswordFiles: tr.pwFiles,
		Version:       "v0.3.1",
		StaleAfter:    5 * time.Minute,
		Timeout:       2 * time.Second,
		Now:           func() time.Time { return t0 },
	}
}

// fakeService marshals like gokrazy's service.MarshalJSON.
type fakeService struct {
	Stopped   bool
	StartTime time.Time
	Pid       int
	Path      string
	Args      []string
	Diverted  string
}

// fakeStatus is the JSON gokrazy serves at / (gokrazy's status.go).
type fakeStatus struct {
	Services       []fakeService
	PermDev        string
	PermUsed       int64
	PermAvail      int64
	PermTotal      int64
	PrivateAddrs   []string
	PublicAddrs    []string
	BuildTimestamp string
	SBOMHash       string
	Meminfo        map[string]int64
	Hostname       string
	Model          string
	PermUUID       string
	EEPROM         *struct{ PieepromSHA256, VL805SHA256 string }
	Kernel         string
	MountDevices   []struct {
		Dev                string
		Used, Avail, Total int64
	}
}

// gokrazyServices are a device's services, with their processes in the
// tree: dhcp, ntp, heartbeat and statusd run, camerad has crashed and waits
// to be restarted, breakglass was stopped, uploadd is being stopped, and
// modemd waits for the clock.
func (tr *tree) gokrazyServices(t testing.TB) []fakeService {
	t.Helper()
	tr.process(t, 201, "dhcp", 'S')
	tr.process(t, 202, "ntp", 'S')
	tr.process(t, 203, "heartbeat", 'S')
	tr.process(t, 310, "statusd", 'R')
	tr.process(t, 312, "uploadd", 'S')
	tr.process(t, 313, "camerad", 'Z') // exited, not yet reaped
	boot := t0.Add(-26 * time.Hour)
	return []fakeService{
		{StartTime: boot, Pid: 201, Path: "/gokrazy/dhcp", Args: []string{"/gokrazy/dhcp"}},
		{StartTime: boot, Pid: 202, Path: "/gokrazy/ntp", Args: []string{"/gokrazy/ntp"}},
		{StartTime: boot, Pid: 203, Path: "/gokrazy/heartbeat", Args: []string{"/gokrazy/heartbeat"}},
		{StartTime: t0.Add(-3 * time.Hour), Pid: 310, Path: "/user/statusd", Args: []string{"/user/statusd", "-listen=:8080"}},
		{StartTime: t0.Add(-2 * time.Second), Pid: 313, Path: "/user/camerad", Args: []string{"/user/camerad"}},
		{StartTime: t0.Add(-time.Hour), Pid: 312, Path: "/user/uploadd", Args: []string{"/user/uploadd", "-token=" + testArgToken}, Stopped: true},
		{Stopped: true, StartTime: boot, Pid: 250, Path: "/user/breakglass", Args: []string{"/user/breakglass"}},
		{Path: "/user/modemd", Args: []string{"/user/modemd"}},
	}
}

// serveGokrazy runs a fake gokrazy HTTP server on tr.socket that checks
// Basic auth against password (none if "") like gokrazy's authenticated.go
// and serves st at / as JSON when asked with Accept: application/json (and
// HTML otherwise).
func (tr *tree) serveGokrazy(t testing.TB, password string, st fakeStatus) {
	t.Helper()
	tr.serveHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if password != "" {
			kind, encoded, found := strings.Cut(r.Header.Get("Authorization"), " ")
			if !found || kind != "Basic" {
				w.Header().Set("WWW-Authenticate", `Basic realm="gokrazy"`)
				http.Error(w, "no Basic Authorization header set", http.StatusUnauthorized)
				return
			}
			b, err := base64.StdEncoding.DecodeString(encoded)
			if err != nil {
				http.Error(w, "could not decode Authorization header as base64", http.StatusUnauthorized)
				return
			}
			user, pw, found := strings.Cut(string(b), ":")
			if !found || user != "gokrazy" || subtle.ConstantTimeCompare([]byte(pw), []byte(password)) != 1 {
				w.Header().Set("WWW-Authenticate", `Basic realm="gokrazy"`)
				http.Error(w, "invalid username/password", http.StatusUnauthorized)
				return
			}
		}
		if r.URL.Path != "/" {
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		if !strings.Contains(strings.ToLower(r.Header.Get("Accept")), "application/json") {
			fmt.Fprint(w, "<!DOCTYPE html><html><body>gokrazy</body></html>")
			return
		}
		b, err := json.Marshal(st)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(b)
	}))
}

// serveHTTP serves h on tr.socket until the test ends.
func (tr *tree) serveHTTP(t testing.TB, h http.Handler) {
	t.Helper()
	ln, err := net.Listen("unix", tr.socket)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}

// defaultGokrazy serves realistic gokrazy status for tr, protected by
// testPassword, which is written to the /perm password file.
func (tr *tree) defaultGokrazy(t testing.TB) {
	t.Helper()
	tr.write(t, "perm/gokr-pw.txt", testPassword+"\n")
	tr.serveGokrazy(t, testPassword, tr.status(t))
}

func (tr *tree) status(t testing.TB) fakeStatus {
	t.Helper()
	return fakeStatus{
		Services:       tr.gokrazyServices(t),
		PermDev:        "/dev/mmcblk0p4",
		PermUsed:       1 << 30,
		PermAvail:      27 << 30,
		PermTotal:      29 << 30,
		PrivateAddrs:   []string{"127.0.0.1", "::1", "192.168.1.23"},
		PublicAddrs:    []string{"10.64.12.7"},
		BuildTimestamp: "2026-07-01T09:30:00+02:00",
		SBOMHash:       "4f3c2a19d0e1b7c6a5f40987",
		Meminfo:        map[string]int64{"MemTotal": 3978 << 20, "MemAvailable": 3512 << 20},
		Hostname:       "lapsebox-glacier",
		Model:          "Raspberry Pi 4 Model B Rev 1.5",
		PermUUID:       "2e18c40c-04",
		Kernel:         "Linux 6.12.34 (aarch64)",
	}
}
