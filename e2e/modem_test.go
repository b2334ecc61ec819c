package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/appliance/statusfile"
	"github.com/lapsebox/lapsebox/image/qemu"
	"github.com/lapsebox/lapsebox/image/update"
	"github.com/lapsebox/lapsebox/modem/sim"
)

const (
	modemOwner   = "+33687650921"
	modemAlertee = "+33699990000"
	probeGuest   = "10.0.2.100:8082"
)

// modemSiteConfig takes a picture every 20 s (there is no camera: slots
// are missed, and modemd alerts after a minute) and configures the modem
// on the VM's usb-serial port, probing a server on the host. QEMU's
// guestfwd carries one connection, which the probe keeps alive: the
// cloud target (never reached: nothing to send) has an address of its
// own.
func modemSiteConfig() string {
	return fmt.Sprintf(`{
  "site": {"name": "e2e", "time_zone": "UTC"},
  "schedule": {"interval": "20s", "min_gap": "3s"},
  "targets": [{"name": "cloud", "kind": "cloud", "url": "http://10.0.2.101:8083/", "secret": "token"}],
  "modem": {"port": "/dev/ttyUSB0", "apn": "internet.e2e", "pin_secret": "pin", "data": "none",
            "probe_url": "http://%s/", "probe_every": "1m",
            "alert_numbers": [%q], "command_numbers": [%q], "camera_alert_after": "1m"},
  "secrets": {"token": "e2e-token-0123456789", "pin": "2580"}
}`, probeGuest, modemAlertee, modemOwner)
}

func waitModemd(t *testing.T, vm *qemu.VM, what string, timeout time.Duration, cond func(*statusfile.Modem) bool) *statusfile.Modem {
	t.Helper()
	return waitStatus(t, vm, "modemd", what, timeout, cond)
}

func waitSent(t *testing.T, s *sim.Sim, to, want string, timeout time.Duration) sim.SMS {
	t.Helper()
	var found sim.SMS
	ok := s.Wait(timeout, func() bool {
		for _, m := range s.Sent() {
			if m.Number == to && strings.Contains(m.Text, want) {
				found = m
				return true
			}
		}
		return false
	})
	if !ok {
		t.Fatalf("no SMS to %s with %q within %v; sent %+v", to, want, timeout, s.Sent())
	}
	return found
}

// TestModemInVM is modemd in the default image with a simulated Quectel
// EC25 on the VM's USB bus: QEMU's usb-serial device (an FTDI chip) gives
// the guest a real /dev/ttyUSB0 whose other end is the simulator on the
// host. modemd finds it through the configured port, enters the PIN,
// registers, reports signal through statusd, proves the link with a probe
// to the host, sends an alert SMS (no camera: slots are missed), answers
// a "status" SMS, and finds the modem again after it is pulled out and
// plugged back in, and reboots the appliance through gokrazy on a
// "reboot" SMS, once.
func TestModemInVM(t *testing.T) {
	needVM(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var probes atomic.Int32
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// No idle timeout: QEMU connects at its start, and the guest's first
	// request comes later on that connection.
	probe := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		probes.Add(1)
		http.NotFound(w, r)
	})}
	go probe.Serve(ln)
	defer probe.Close()

	s := sim.New(sim.Config{Model: sim.EC25, PIN: "2580", BootDelay: time.Second, SIMBusy: 2 * time.Second, RegisterAfter: 3 * time.Second})
	sockDir, err := os.MkdirTemp("", "lbx-modem-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(sockDir)
	chardev, err := sim.ListenChardev(ctx, s, filepath.Join(sockDir, "modem.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer chardev.Close()

	img := buildImage(t, "pc", t.TempDir(), time.Now())
	b, state, vmDisk := diskWithConfig(t, img, modemSiteConfig())

	start := time.Now()
	vm, err := qemu.Start(ctx, qemu.Config{
		Image: vmDisk, Board: b, StateDir: state,
		Forwards:  []qemu.Forward{{Name: "gokrazy", GuestPort: img.manifest.HTTPPort}, {Name: "statusd", GuestPort: 8080}},
		ToHost:    []qemu.GuestForward{{GuestAddr: probeGuest, HostAddr: ln.Addr().String()}},
		ExtraArgs: append([]string{"-device", "qemu-xhci,id=xhci"}, chardev.Args("modem", "xhci.0")...),
	})
	if err != nil {
		t.Fatal(err)
	}
	statusdPasswords.Store(vm, password(t, img.manifest))
	defer vm.Stop()
	dev := update.Device{BaseURL: "http://" + vm.Addr("gokrazy"), Password: password(t, img.manifest)}
	defer func() {
		if t.Failed() || testing.Verbose() {
			t.Logf("modemd's log:\n%s", serviceLog(dev, "/user/modemd"))
		}
		if t.Failed() {
			t.Logf("serial console:\n%s", tail(vm.SerialOutput(), 6000))
		}
	}()
	waitBuild(t, vm, dev, img.manifest.BuildTimestamp)
	checkGokrazy(t, vm, dev, defaultServices)
	firstPid := modemdPid(t, dev)

	st := waitModemd(t, vm, "registered and probed", 3*time.Minute, func(st *statusfile.Modem) bool {
		return st.Link.Connected && st.Net != nil && st.Net.SignalDBM != nil
	})
	t.Logf("boot to registered and probed: %.1fs; %s %s, %s %s %d dBm %d/5, %d probe requests",
		time.Since(start).Seconds(), st.Device.Manufacturer, st.Device.Model, st.Net.Technology, st.Net.Operator,
		*st.Net.SignalDBM, st.Net.SignalBars, probes.Load())
	if st.Port != "/dev/ttyUSB0" || st.SIM.State != "READY" || st.Net.Operator != "Orange F" || *st.Net.SignalDBM != -95 {
		t.Errorf("modemd.json: %+v", st)
	}
	if s.PINEntries() != 1 {
		t.Errorf("%d PIN entries", s.PINEntries())
	}
	if cmds := strings.Join(s.Commands(), "\n"); !strings.Contains(cmds, `AT+CGDCONT=1,"IP","internet.e2e"`) {
		t.Errorf("the APN was not set; commands:\n%s", cmds)
	}

	// No camera: after a minute of missed slots, the alert.
	m := waitSent(t, s, modemAlertee, "e2e: camera stopped", 4*time.Minute)
	t.Logf("alert: %q", m.Text)

	// A status request from the owner.
	s.Receive(modemOwner, "status")
	m = waitSent(t, s, modemOwner, "e2e: cam", 2*time.Minute)
	t.Logf("status reply: %q", m.Text)
	if !strings.Contains(m.Text, "LTE Orange F -95dBm 4/5") {
		t.Errorf("status reply %q lacks the signal", m.Text)
	}
	// The simulator holds the reply once its text ends; modemd counts it
	// once the modem's +CMGS and OK are back. Pulling the modem out in
	// between would lose that answer, not the message.
	waitModemd(t, vm, "the reply counted", time.Minute, func(st *statusfile.Modem) bool { return st.SMS.Sent >= 2 })

	// Pulled out: the port vanishes from the guest.
	chardev.PowerOff()
	if out, err := vm.Monitor("device_del modem"); err != nil || out != "" {
		t.Fatalf("device_del: %q %v", out, err)
	}
	waitModemd(t, vm, "no modem", time.Minute, func(st *statusfile.Modem) bool { return st.State == "no modem" })
	// Plugged back in: it boots and is found again.
	plug := time.Now()
	chardev.PowerOn()
	if out, err := vm.Monitor("device_add usb-serial,id=modem,bus=xhci.0,chardev=modemchr"); err != nil || out != "" {
		t.Fatalf("device_add: %q %v", out, err)
	}
	st = waitModemd(t, vm, "registered again", 2*time.Minute, func(st *statusfile.Modem) bool {
		return st.Link.Connected && st.Net != nil && st.Net.SignalDBM != nil
	})
	t.Logf("plug to registered and probed: %.1fs (the simulated modem boots in 1 s, its SIM is busy 2 s, registration takes 3 s)",
		time.Since(plug).Seconds())
	if s.PINEntries() != 2 {
		t.Errorf("%d PIN entries, want one per power-on", s.PINEntries())
	}
	t.Logf("modemd peak RSS %.1f MB; SMS sent %d, received %d", float64(st.MaxRSSBytes)/(1<<20), st.SMS.Sent, st.SMS.Received)
	if st.SMS.Sent != 2 || st.SMS.Received != 1 || st.SMS.Commands != 1 {
		t.Errorf("SMS counters %+v: want the alert and the reply sent, the command received and obeyed", st.SMS)
	}
	// modemd ran all along: gokrazy did not have to restart it.
	if pid := modemdPid(t, dev); pid != firstPid {
		t.Errorf("modemd's pid changed from %d to %d: it was restarted", firstPid, pid)
	}

	// "reboot" from the owner: modemd answers, then gokrazy reboots the
	// appliance (its /reboot over the unix socket). The message was
	// deleted first: the appliance reboots once.
	before, err := update.Status(context.Background(), dev)
	if err != nil {
		t.Fatal(err)
	}
	bootedAt := before.Service("/user/statusd").StartTime
	s.Receive(modemOwner, "reboot")
	waitSent(t, s, modemOwner, "e2e: rebooting now", 2*time.Minute)
	var rebootedAt time.Time
	deadline := time.Now().Add(4 * time.Minute)
	for {
		st, err := update.Status(context.Background(), dev)
		if err == nil && st.Service("/user/statusd").StartTime.After(bootedAt.Add(time.Second)) {
			rebootedAt = st.Service("/user/statusd").StartTime
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the appliance did not reboot: %v", err)
		}
		time.Sleep(time.Second)
	}
	waitModemd(t, vm, "registered after the reboot", 3*time.Minute, func(st *statusfile.Modem) bool { return st.Link.Connected })
	// The command was deleted before it was obeyed: no second reboot.
	time.Sleep(30 * time.Second)
	after, err := update.Status(context.Background(), dev)
	if err != nil || !after.Service("/user/statusd").StartTime.Equal(rebootedAt) {
		t.Errorf("a second reboot? gokrazy: %v", err)
	}
	if n := strings.Count(strings.Join(smsTexts(s.Sent()), "\n"), "rebooting now"); n != 1 {
		t.Errorf("%d reboot replies", n)
	}
}

func smsTexts(ms []sim.SMS) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Text)
	}
	return out
}

// modemdPid returns the pid gokrazy reports for modemd.
func modemdPid(t *testing.T, dev update.Device) int {
	t.Helper()
	st, err := update.Status(context.Background(), dev)
	if err != nil {
		t.Fatal(err)
	}
	s := st.Service("/user/modemd")
	if s == nil {
		t.Fatal("gokrazy does not list modemd")
	}
	return s.Pid
}
