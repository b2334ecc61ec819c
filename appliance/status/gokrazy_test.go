package status

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestFetchGokrazy(t *testing.T) {
	for _, tt := range []struct {
		name     string
		password string                       // gokrazy's; "" for none
		files    map[string]string            // password files by tree-relative name
		setup    func(t *testing.T, tr *tree) // instead of serving gokrazy
		wantErr  []string                     // substrings of the error
	}{
		{
			name:     "perm password",
			password: testPassword,
			files:    map[string]string{"perm/gokr-pw.txt": testPassword + "\n", "etc/gokr-pw.txt": "stale-image-pw"},
		},
		{
			name:     "etc password",
			password: testPassword,
			files:    map[string]string{"etc/gokr-pw.txt": testPassword},
		},
		{
			name: "no password",
		},
		{
			name:     "wrong password",
			password: testPassword,
			files:    map[string]string{"perm/gokr-pw.txt": "wrong-pw"},
			wantErr:  []string{"g.sock", "401 Unauthorized", "invalid username/password", "password from", "perm/gokr-pw.txt"},
		},
		{
			name:     "no password file",
			password: testPassword,
			wantErr:  []string{"401 Unauthorized", "no password file found", "etc/gokr-pw.txt"},
		},
		{
			name:    "gokrazy not listening",
			setup:   func(t *testing.T, tr *tree) {},
			wantErr: []string{"gokrazy: GET / over", "g.sock", "no such file or directory"},
		},
		{
			name: "unreadable password file",
			setup: func(t *testing.T, tr *tree) {
				// A directory where the password file should be.
				if err := os.Mkdir(filepath.Join(tr.perm, "gokr-pw.txt"), 0o755); err != nil {
					t.Fatal(err)
				}
			},
			wantErr: []string{"reading password", "perm/gokr-pw.txt"},
		},
		{
			name: "not JSON",
			setup: func(t *testing.T, tr *tree) {
				tr.serveHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					fmt.Fprint(w, "<!DOCTYPE html><html><body>gokrazy</body></html>")
				}))
			},
			wantErr: []string{"g.sock", "decoding status JSON"},
		},
		{
			name: "server error",
			setup: func(t *testing.T, tr *tree) {
				tr.serveHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					http.Error(w, strings.Repeat("x", 1000), http.StatusInternalServerError)
				}))
			},
			wantErr: []string{"500 Internal Server Error", strings.Repeat("x", 200) + "…"},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tr := newTree(t)
			for rel, content := range tt.files {
				tr.write(t, rel, content)
			}
			if tt.setup != nil {
				tt.setup(t, tr)
			} else {
				tr.serveGokrazy(t, tt.password, tr.status(t))
			}
			c := NewCollector(tr.config())
			gs, err := c.fetchGokrazy(context.Background())
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("fetchGokrazy: %v", err)
				}
				if gs.BuildTimestamp != "2026-07-01T09:30:00+02:00" || gs.Model != "Raspberry Pi 4 Model B Rev 1.5" || len(gs.Services) != 8 {
					t.Errorf("fetchGokrazy = BuildTimestamp %q, Model %q, %d services; want the fake's", gs.BuildTimestamp, gs.Model, len(gs.Services))
				}
				return
			}
			if err == nil {
				t.Fatalf("fetchGokrazy succeeded, want error")
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
			for _, secret := range []string{testPassword, "wrong-pw"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q reveals the password", err)
				}
			}
		})
	}
}

func TestFetchGokrazyTimeout(t *testing.T) {
	tr := newTree(t)
	// A gokrazy that never answers.
	tr.serveHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	cfg := tr.config()
	cfg.Timeout = 100 * time.Millisecond
	c := NewCollector(cfg)
	start := time.Now()
	_, err := c.fetchGokrazy(context.Background())
	if err == nil || !strings.Contains(err.Error(), "deadline exceeded") {
		t.Errorf("fetchGokrazy from a silent gokrazy: %v, want deadline exceeded", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("fetchGokrazy took %v despite a timeout of %v", d, cfg.Timeout)
	}
}

func TestParseGokrazyStatus(t *testing.T) {
	for _, tt := range []struct {
		in      string
		want    int // services
		wantErr bool
	}{
		{in: `{"Services":[{"Stopped":false,"StartTime":"2026-07-14T10:00:00Z","Pid":12,"Path":"/user/a","Args":["/user/a"],"Diverted":""}],"BuildTimestamp":"x","Hostname":"h","Model":"m","Kernel":"k","Meminfo":{"MemTotal":1}}`, want: 1},
		{in: `{"Services":null}`, want: 0},
		{in: `{}`, want: 0},
		{in: `<!DOCTYPE html>`, wantErr: true},
		{in: `{"Services":[{"Pid":"12"}]}`, wantErr: true},
		{in: ``, wantErr: true},
	} {
		gs, err := parseGokrazyStatus([]byte(tt.in))
		if (err != nil) != tt.wantErr {
			t.Errorf("parseGokrazyStatus(%q) error = %v, want error: %v", tt.in, err, tt.wantErr)
			continue
		}
		if err == nil && len(gs.Services) != tt.want {
			t.Errorf("parseGokrazyStatus(%q): %d services, want %d", tt.in, len(gs.Services), tt.want)
		}
	}
}

func TestServicesFrom(t *testing.T) {
	tr := newTree(t)
	// Through JSON, as from gokrazy.
	b, err := json.Marshal(fakeStatus{Services: tr.gokrazyServices(t)})
	if err != nil {
		t.Fatal(err)
	}
	gs, err := parseGokrazyStatus(b)
	if err != nil {
		t.Fatal(err)
	}
	services := servicesFrom(gs.Services, tr.proc, t0)
	want := map[string]State{
		"dhcp":       StateRunning,
		"ntp":        StateRunning,
		"heartbeat":  StateRunning,
		"statusd":    StateRunning,
		"camerad":    StateExited, // zombie
		"uploadd":    StateStopping,
		"breakglass": StateStopped, // its PID is gone
		"modemd":     StateNotStarted,
	}
	if len(services) != len(want) {
		t.Fatalf("servicesFrom: %d services, want %d", len(services), len(want))
	}
	for _, s := range services {
		if s.State != want[s.Name] {
			t.Errorf("service %s (%s): state %q, want %q", s.Name, s.Path, s.State, want[s.Name])
		}
		running := s.State == StateRunning || s.State == StateStopping
		if running != (s.UpSeconds > 0) {
			t.Errorf("service %s: state %q but UpSeconds %v", s.Name, s.State, s.UpSeconds)
		}
	}
	if got := services[3]; got.Name != "statusd" || got.UpSeconds != 3*3600 || got.Pid != 310 ||
		got.RSSBytes != 3100<<10 || got.RSSAnonBytes != 930<<10 || got.ContextSwitches != 310+2+3+4 || got.MonitorSwitches != 3+4 {
		t.Errorf("statusd = %+v, want up 3h with PID 310, 3100 KiB resident, 319 context switches (7 the monitor's)", got)
	}
	for _, s := range services {
		if running := s.State == StateRunning || s.State == StateStopping; !running && (s.RSSBytes != 0 || s.ContextSwitches != 0) {
			t.Errorf("service %s (%s) has usage %d bytes, %d switches", s.Name, s.State, s.RSSBytes, s.ContextSwitches)
		}
	}
	if got := services[7]; got.Pid != 0 || !got.Started.IsZero() {
		t.Errorf("modemd = %+v, want no PID and no start time", got)
	}
	// Right after boot the clock may be stepped back past a start time.
	early := servicesFrom(gs.Services, tr.proc, services[3].Started.Add(-2*time.Second))
	if got := early[3]; got.UpSeconds != 0 || got.State != StateRunning {
		t.Errorf("statusd seen before its start time: %+v, want running, up 0", got)
	}
}

func FuzzParseGokrazyStatus(f *testing.F) {
	f.Add([]byte(`{"Services":[{"Stopped":true,"StartTime":"2026-07-14T10:00:00Z","Pid":12,"Path":"/user/a"}],"BuildTimestamp":"x"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		gs, err := parseGokrazyStatus(b)
		if err != nil {
			return
		}
		// A service per entry; none running by gokrazy's word alone (no
		// process is alive under a /proc that does not exist).
		services := servicesFrom(gs.Services, "/nonexistent/proc", t0)
		if len(services) != len(gs.Services) {
			t.Fatalf("%d services from %d entries", len(services), len(gs.Services))
		}
		for i, s := range services {
			if s.Path != gs.Services[i].Path || s.Pid < 0 || s.State == "" ||
				s.State == StateRunning || s.State == StateStopping || s.UpSeconds != 0 {
				t.Fatalf("entry %+v gave %+v", gs.Services[i], s)
			}
		}
	})
}
