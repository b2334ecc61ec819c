package cellular

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/appliance/config"
	"github.com/lapsebox/lapsebox/appliance/request"
	"github.com/lapsebox/lapsebox/appliance/statusfile"
	"github.com/lapsebox/lapsebox/hw"
	"github.com/lapsebox/lapsebox/modem"
	"github.com/lapsebox/lapsebox/modem/manager"
	"github.com/lapsebox/lapsebox/modem/sim"
)

const (
	owner    = "+33687650921"
	stranger = "+33611110000"
	alertee  = "+33699990000"
)

const siteJSON = `{
  "site": {"name": "crane7", "time_zone": "Europe/Paris"},
  "schedule": {"interval": "1m"},
  "modem": {"pin_secret": "pin", "alert_numbers": ["` + alertee + `"], "command_numbers": ["` + owner + `"],
            "camera_alert_after": "1m", "monthly_cap_mb": 1},
  "secrets": {"pin": "2468"}
}`

type serviceRig struct {
	t        *testing.T
	sim      *sim.Sim
	svc      *Service
	run, dir string
	reboots  atomic.Int32
	cancel   context.CancelFunc
	done     chan struct{}
}

func newServiceRig(t *testing.T) *serviceRig {
	t.Helper()
	cfg, err := config.Parse("site.json", []byte(siteJSON))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s, p := sim.StartPTY(t, sim.Config{PIN: "2468", RegisterAfter: 50 * time.Millisecond})
	dir := t.TempDir()
	r := &serviceRig{t: t, sim: s, run: filepath.Join(dir, "run"), dir: dir, cancel: cancel, done: make(chan struct{})}
	r.svc = &Service{Config: cfg, Perm: filepath.Join(dir, "perm"), RunDir: r.run, Requests: filepath.Join(dir, "requests"),
		Sysfs: filepath.Join(dir, "sys"), Proc: filepath.Join(dir, "proc"), Logf: t.Logf, Tick: 200 * time.Millisecond,
		RebootGuard: time.Hour,
		Reboot:      func(context.Context) error { r.reboots.Add(1); return nil },
		Tune: func(c *manager.Config) {
			c.PollEvery, c.RescanEvery, c.ReadTimeout = 100*time.Millisecond, 100*time.Millisecond, 500*time.Millisecond
			c.Find = func() ([]modem.Candidate, error) {
				if p.Path() == "" {
					return nil, nil
				}
				return []modem.Candidate{{Device: p.Path(), Role: modem.Primary, USB: modem.USBDevice{VendorID: "2c7c"}}}, nil
			}
		}}
	go func() {
		defer close(r.done)
		r.svc.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-r.done
	})
	return r
}

func (r *serviceRig) status() statusfile.Modem {
	var st statusfile.Modem
	statusfile.Read(filepath.Join(r.run, "modemd.json"), &st)
	return st
}

func (r *serviceRig) waitStatus(what string, cond func(statusfile.Modem) bool) statusfile.Modem {
	r.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st := r.status()
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("%s: modemd.json %+v", what, st)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// sentTo waits for a message to number containing want.
func (r *serviceRig) sentTo(number, want string) {
	r.t.Helper()
	var got []sim.SMS
	ok := r.sim.Wait(20*time.Second, func() bool {
		got = r.sim.Sent()
		for _, m := range got {
			if m.Number == number && strings.Contains(m.Text, want) {
				return true
			}
		}
		return false
	})
	if !ok {
		r.t.Fatalf("no message to %s with %q; sent %+v", number, want, got)
	}
}

func TestServiceStatusAlertsAndCommands(t *testing.T) {
	r := newServiceRig(t)
	st := r.waitStatus("connected", func(st statusfile.Modem) bool { return st.Link.Connected && st.Net != nil })
	if st.Net.Operator != "Orange F" || st.Net.Technology != "LTE" || *st.Net.SignalDBM != -95 || st.Device.IMEI != "867698041234567" ||
		st.SIM.State != "READY" || st.Data.CapBytes != 1_000_000 || st.Data.Period == "" {
		t.Errorf("modemd.json %+v", st)
	}
	b, _ := os.ReadFile(filepath.Join(r.run, "modemd.json"))
	if strings.Contains(string(b), "2468") || strings.Contains(string(b), "208011234567890") {
		t.Errorf("modemd.json shows the PIN or the IMSI:\n%s", b)
	}

	// The camera stopped: slots missed for more than camera_alert_after.
	now := time.Now()
	cam := statusfile.Camera{State: "waiting for camera", MissedSlots: 3, Store: &statusfile.Store{UsedBytes: 50, TotalBytes: 100},
		RecentMissed: []statusfile.MissedSlot{{Slot: now.Add(-3 * time.Minute), Reason: "opening the camera: no camera"},
			{Slot: now.Add(-2 * time.Minute), Reason: "opening the camera: no camera"}}}
	if err := statusfile.Write(filepath.Join(r.run, "camerad.json"), cam); err != nil {
		t.Fatal(err)
	}
	r.sentTo(alertee, "crane7: camera stopped: no picture yet, 2 slots missed")

	r.sim.Receive(owner, "Status")
	r.sentTo(owner, "crane7: cam waiting for camera; 3 missed; disk 50%; LTE Orange F -95dBm 4/5")

	r.sim.Receive(owner, "capture")
	r.sentTo(owner, "picture requested")
	if _, ok, err := request.Take(r.svc.Requests, request.Capture); !ok || err != nil {
		t.Errorf("no capture request: %v", err)
	}

	r.sim.Receive(stranger, "reboot")
	r.sim.Receive(owner, "reboot")
	r.sentTo(owner, "rebooting now")
	r.sim.Receive(owner, "reboot")
	r.sentTo(owner, "rebooted by SMS")
	r.sim.Receive(owner, "frobnicate")
	r.sentTo(owner, "unknown command")
	if n := r.reboots.Load(); n != 1 {
		t.Errorf("%d reboots, want 1 (the stranger's is ignored, the second is too soon)", n)
	}
	for _, m := range r.sim.Sent() {
		if m.Number == stranger {
			t.Errorf("a reply to a stranger: %+v", m)
		}
	}
	st = r.waitStatus("counters", func(st statusfile.Modem) bool { return st.SMS.Commands == 4 && st.SMS.Ignored == 2 })
	if r.sim.Stored() != 0 {
		t.Errorf("%d messages left on the SIM", r.sim.Stored())
	}
}

func TestModemRelayOnlyWhenWired(t *testing.T) {
	remote := &hw.Remote{Device: "modem", From: "modemd"}
	for _, tc := range []struct {
		name   string
		relays []config.RelayPin
		want   bool
	}{
		{"no hardware section", nil, false},
		{"the camera's relay only", []config.RelayPin{{Device: "camera"}}, false},
		{"the modem's relay", []config.RelayPin{{Device: "camera"}, {Device: "modem"}}, true},
	} {
		cfg := &config.Config{Hardware: config.Hardware{Wired: tc.relays != nil, Relays: tc.relays}}
		// An interface holding a nil pointer would pass for a relay.
		if got := modemRelay(cfg, remote); (got != nil) != tc.want {
			t.Errorf("%s: relay %v, want one: %v", tc.name, got, tc.want)
		}
	}
}
