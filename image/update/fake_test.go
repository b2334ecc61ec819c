package update

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

// rebootMode says how the fake device answers POST /reboot.
type rebootMode int

const (
	rebootAnswer rebootMode = iota // answers like gokrazy, then goes down
	rebootReset                    // reads the request, then resets the connection
	rebootEOF                      // reads the request, then closes the connection
	rebootIgnore                   // answers, but never goes down
)

// fakeDevice behaves like gokrazy's update, reboot and status handlers,
// quirks included: Basic auth (401 with gokrazy's body), sha256 or crc32
// hashes as hex, features as JSON or text, a reboot that may drop the
// connection, and a down period after which it comes back with the build
// that the switch selected.
type fakeDevice struct {
	t        *testing.T
	password string
	features string

	reboot     rebootMode
	downFor    time.Duration // after the reboot; < 0: never comes back
	wrongHash  string        // step whose hash is falsified
	switchFail string        // if set, /update/switch answers 500 with this body
	switchLost bool          // the switch "succeeds" but the old root boots (cf. systemd-boot entry not found)

	mu          sync.Mutex
	build       string
	pendingRoot []byte
	root, boot  []byte
	mbr         []byte
	switched    bool
	upAt        time.Time // zero: up
	calls       []string
}

func newFakeDevice(t *testing.T, build string) *fakeDevice {
	return &fakeDevice{t: t, password: "secretpw", features: "partuuid,updatehash,gpt,", build: build}
}

// start serves the fake on 127.0.0.1 and returns the Device that reaches it.
func (f *fakeDevice) start() Device {
	srv := httptest.NewUnstartedServer(f)
	srv.Listener.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.t.Fatal(err)
	}
	srv.Listener = ln
	srv.Start()
	f.t.Cleanup(srv.Close)
	return Device{BaseURL: srv.URL, Password: f.password}
}

func (f *fakeDevice) log(s string) {
	f.mu.Lock()
	f.calls = append(f.calls, s)
	f.mu.Unlock()
}

func (f *fakeDevice) callList() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.calls, " ")
}

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

func (f *fakeDevice) ServeHTTP(w http.ResponseWriter, r *http.Request) {
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
	if kind != "Basic" || user != "gokrazy" || subtle.ConstantTimeCompare([]byte(pw), []byte(f.password)) != 1 {
		w.Header().Set("WWW-Authenticate", `Basic realm="gokrazy"`)
		http.Error(w, "invalid username/password", http.StatusUnauthorized)
		return
	}
	f.log(r.Method + " " + r.URL.Path)

	switch r.URL.Path {
	case "/update/features":
		if !strings.Contains(r.Header.Get("Accept"), "application/json") {
			io.WriteString(w, f.features)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"features":%q,"EEPROM":null}`, f.features)
	case "/update/root", "/update/boot", "/update/mbr":
		f.update(w, r)
	case "/update/switch":
		if r.Method != http.MethodPost {
			http.Error(w, "expected a POST request", http.StatusBadRequest)
			return
		}
		if f.switchFail != "" {
			http.Error(w, f.switchFail, http.StatusInternalServerError)
			return
		}
		f.mu.Lock()
		f.switched = true
		f.mu.Unlock()
	case "/reboot":
		if r.Method != http.MethodPost {
			http.Error(w, "expected a POST request", http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		if f.reboot != rebootIgnore {
			if f.downFor < 0 {
				f.upAt = time.Unix(-1, 0) // never
			} else {
				f.upAt = time.Now().Add(f.downFor)
			}
			if f.switched && !f.switchLost {
				f.build = string(f.pendingRoot)
			}
		}
		f.mu.Unlock()
		switch f.reboot {
		case rebootReset:
			drop(w, true)
		case rebootEOF:
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
func (f *fakeDevice) update(w http.ResponseWriter, r *http.Request) {
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
	if step == "mbr" && len(b) != MBRSize {
		http.Error(w, fmt.Sprintf("mbr: got %d bytes, want %d", len(b), MBRSize), http.StatusBadRequest)
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
	if step == f.wrongHash {
		sum[0] ^= 0xff
	}
	fmt.Fprintf(w, "%x", sum)
}
