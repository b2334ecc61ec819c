// Package updatetest is a stand-in for a gokrazy device's update, reboot
// and status handlers (gokrazy's update.go, reboot.go, status.go) on
// 127.0.0.1, for the tests of what pushes or installs an image.
package updatetest

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// RebootMode says how the fake device answers POST /reboot.
type RebootMode int

const (
	RebootAnswer RebootMode = iota // answers like gokrazy, then goes down
	RebootReset                    // reads the request, then resets the connection
	RebootEOF                      // reads the request, then closes the connection
	RebootIgnore                   // answers, but never goes down
)

// Device behaves like gokrazy's update, reboot and status handlers,
// quirks included: Basic auth (401 with gokrazy's body), sha256 or crc32
// hashes as hex, features as JSON or text, a reboot that may drop the
// connection, and a down period after which it comes back with the build
// that the switch selected.
type Device struct {
	t        testing.TB
	Password string
	Features string

	Reboot     RebootMode
	DownFor    time.Duration // after the reboot; < 0: never comes back
	WrongHash  string        // step whose hash is falsified
	SwitchFail string        // if set, /update/switch answers 500 with this body
	SwitchLost bool          // the switch "succeeds" but the old root boots (cf. systemd-boot entry not found)

	mu          sync.Mutex
	build       string
	pendingRoot []byte
	root, boot  []byte
	mbr         []byte
	switched    bool
	trialNext   bool      // /update/testboot: the next boot tries the inactive root once
	onTrial     string    // the build running on trial, "" if none
	home        string    // the build a reboot returns to from a trial
	upAt        time.Time // zero: up
	calls       []string
}

// New returns a device running build, with password "secretpw" and
// the features of a gokrazy on a GPT disk. Set its fields before Start.
func New(t testing.TB, build string) *Device {
	return &Device{t: t, Password: "secretpw", Features: "partuuid,updatehash,gpt,", build: build}
}

// mbrSize is the boot code region /update/mbr may write (update.MBRSize).
const mbrSize = 446

// Root, Boot and MBR return what was written to the inactive root, the
// boot partition and the boot code (nil: nothing).
func (f *Device) Root() []byte { f.mu.Lock(); defer f.mu.Unlock(); return f.root }

// Boot returns what /update/boot wrote.
func (f *Device) Boot() []byte { f.mu.Lock(); defer f.mu.Unlock(); return f.boot }

// MBR returns what /update/mbr wrote.
func (f *Device) MBR() []byte { f.mu.Lock(); defer f.mu.Unlock(); return f.mbr }

// nextBoot moves the device to what its next boot runs: the root on trial
// after a testboot, the committed root after a trial, the switched root.
// f.mu is held.
func (f *Device) nextBoot() {
	switch {
	case f.trialNext:
		f.home, f.build, f.onTrial, f.trialNext = f.build, string(f.pendingRoot), string(f.pendingRoot), false
	case f.onTrial != "":
		f.build, f.onTrial = f.home, ""
	case f.switched && !f.SwitchLost:
		f.build = string(f.pendingRoot)
	}
}

// Switch points the device's next boot at the root written, as a
// lapsebox updated does when it writes pushed boot files naming that root
// into the other boot slot and switches the tables to it.
func (f *Device) Switch() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.switched = true
}

// RebootNow reboots the device by a cause other than /reboot (a power
// cut, a crash, a watchdog reset); it is up again at once.
func (f *Device) RebootNow() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextBoot()
}

// Build returns the build the device runs: the one it started with,
// or after a reboot that followed a switch, the root written; after a
// reboot that followed a testboot, the root written, once (the reboot
// after that returns to the build before, unless a switch during the
// trial committed it).
func (f *Device) Build() string { f.mu.Lock(); defer f.mu.Unlock(); return f.build }

// Start serves the fake on 127.0.0.1 and returns its base URL.
func (f *Device) Start() string {
	srv := httptest.NewUnstartedServer(f)
	srv.Listener.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.t.Fatal(err)
	}
	srv.Listener = ln
	srv.Start()
	f.t.Cleanup(srv.Close)
	return srv.URL
}

func (f *Device) log(s string) {
	f.mu.Lock()
	f.calls = append(f.calls, s)
	f.mu.Unlock()
}

// Calls lists the authenticated requests so far ("PUT /update/root").
func (f *Device) Calls() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.calls, " ")
}

// ResetCalls forgets the requests seen so far.
func (f *Device) ResetCalls() { f.mu.Lock(); defer f.mu.Unlock(); f.calls = nil }

// drop ends the connection without an answer; reset uses an RST.
func drop(w http.ResponseWriter, reset bool) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(err)
	}
	if tc, ok := conn.(*net.TCPConn); ok && reset {
		tc.SetLinger(0)
	}
	conn.Close()
}

func (f *Device) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	down := !f.upAt.IsZero() && (f.upAt.Before(time.Unix(0, 0)) || time.Now().Before(f.upAt))
	if !f.upAt.IsZero() && !down {
		f.upAt = time.Time{}
	}
	f.mu.Unlock()
	if down {
		// A rebooting device: the connection is refused or reset.
		drop(w, true)
		return
	}

	// authenticated.go
	kind, enc, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	b, _ := base64.StdEncoding.DecodeString(enc)
	user, pw, _ := strings.Cut(string(b), ":")
	if kind != "Basic" || user != "gokrazy" || subtle.ConstantTimeCompare([]byte(pw), []byte(f.Password)) != 1 {
		w.Header().Set("WWW-Authenticate", `Basic realm="gokrazy"`)
		http.Error(w, "invalid username/password", http.StatusUnauthorized)
		return
	}
	f.log(r.Method + " " + r.URL.RequestURI())

	switch r.URL.Path {
	case "/update/features":
		if !strings.Contains(r.Header.Get("Accept"), "application/json") {
			io.WriteString(w, f.Features)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"features":%q,"EEPROM":null}`, f.Features)
	case "/update/root", "/update/boot", "/update/mbr":
		f.update(w, r)
	case "/update/switch":
		if r.Method != http.MethodPost {
			http.Error(w, "expected a POST request", http.StatusBadRequest)
			return
		}
		if f.SwitchFail != "" {
			http.Error(w, f.SwitchFail, http.StatusInternalServerError)
			return
		}
		f.mu.Lock()
		if f.onTrial != "" {
			f.home = f.onTrial // from the trial, the inactive root is the one on trial
		} else {
			f.switched = true
		}
		f.mu.Unlock()
	case "/update/testboot":
		if r.Method != http.MethodPost {
			http.Error(w, "expected a POST request", http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		f.trialNext = true
		f.mu.Unlock()
	case "/reboot":
		if r.Method != http.MethodPost {
			http.Error(w, "expected a POST request", http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		if f.Reboot != RebootIgnore {
			if f.DownFor < 0 {
				f.upAt = time.Unix(-1, 0) // never
			} else {
				f.upAt = time.Now().Add(f.DownFor)
			}
			f.nextBoot()
		}
		f.mu.Unlock()
		switch f.Reboot {
		case RebootReset:
			drop(w, true)
		case RebootEOF:
			drop(w, false)
		default:
			fmt.Fprintf(w, "All services killed in 1.2ms\nRebooting...\n")
		}
	case "/":
		if !strings.Contains(r.Header.Get("Accept"), "application/json") {
			io.WriteString(w, "<html>gokrazy</html>")
			return
		}
		f.mu.Lock()
		st := map[string]any{
			"BuildTimestamp": f.build,
			"Hostname":       "lapsebox-test",
			"Model":          "QEMU",
			"Kernel":         "Linux 7.1.2 (x86_64)",
			"PermDev":        "/dev/vda4",
			"PermTotal":      int64(800 << 20),
			"Meminfo":        map[string]int64{"MemTotal": 1 << 30},
			"EEPROM":         nil,
			"Services": []map[string]any{
				{"Stopped": false, "StartTime": "2026-11-02T10:00:00Z", "Pid": 42, "Path": "/user/camerad", "Args": []string{"/user/camerad", "-v"}, "Diverted": ""},
				{"Stopped": true, "StartTime": "0001-01-01T00:00:00Z", "Pid": 0, "Path": "/gokrazy/heartbeat", "Args": []string{"/gokrazy/heartbeat"}, "Diverted": ""},
			},
			"SomethingNew": 1,
		}
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(st)
	default:
		http.Error(w, "not found", http.StatusNotFound)
	}
}

// update is nonConcurrentUpdateHandler: it stores the body and answers the
// hex hash of what it wrote.
func (f *Device) update(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPut {
		http.Error(w, "expected a PUT request", http.StatusBadRequest)
		return
	}
	var h hash.Hash = sha256.New()
	if r.Header.Get("X-Gokrazy-Update-Hash") == "crc32" {
		h = crc32.NewIEEE()
	}
	b, err := io.ReadAll(io.TeeReader(r.Body, h))
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	step := strings.TrimPrefix(r.URL.Path, "/update/")
	// gokrazy itself writes whatever it gets at offset 0 of the disk; the
	// fake refuses anything but the boot code region, to catch a client
	// that would overwrite the partition table.
	if step == "mbr" && len(b) != mbrSize {
		http.Error(w, fmt.Sprintf("mbr: got %d bytes, want %d", len(b), mbrSize), http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	switch step {
	case "root":
		f.pendingRoot = b
		f.root = b
	case "boot":
		f.boot = b
	case "mbr":
		f.mbr = b
	}
	f.mu.Unlock()
	sum := h.Sum(nil)
	if step == f.WrongHash {
		sum[0] ^= 0xff
	}
	fmt.Fprintf(w, "%x", sum)
}
