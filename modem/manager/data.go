package manager

import (
	"context"
	"net"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/lapsebox/lapsebox/modem"
)

// DataLink brings up the IP side of a modem's network interface.
type DataLink interface {
	// Up makes sure iface gets an address (starting a DHCP client).
	Up(iface string)
	// Restart starts its DHCP client anew (after a re-attach).
	Restart(iface string)
	// Down stops it (the interface went away).
	Down(iface string)
}

// dataMode settles how data flows: ECM if wanted and possible (switching
// the modem, which resets it), else registration only.
func (s *session) dataMode(ctx context.Context) error {
	m := s.m
	mode := m.cfg.Data
	if mode == DataAuto {
		switch {
		case !m.hasUSBNet():
			m.update(func(st *State) {
				st.Data = "none: this kernel has no USB network driver (cdc_ether); data takes the appliance's other interfaces"
			})
			return nil
		case s.vendor == modem.Generic:
			m.update(func(st *State) { st.Data = "none: no known way to switch this modem to ECM" })
			return nil
		}
		mode = DataECM
	}
	if mode == DataNone {
		m.update(func(st *State) { st.Data = "none (site configuration)" })
		return nil
	}
	on, err := modem.ECMEnabled(ctx, s.c, s.vendor)
	if err != nil {
		m.update(func(st *State) { st.Data = "ECM unavailable: " + err.Error() })
		return nil
	}
	if !on {
		m.cfg.Logf("modem: switching to ECM mode (the modem resets)")
		m.update(func(st *State) {
			st.Data = "switching to ECM"
			st.Escalations = append(st.Escalations, Escalation{Time: time.Now(), Step: "switch to ECM", Reason: "data over usb0 needs the modem's ECM mode"})
		})
		if err := modem.EnableECM(ctx, s.c, s.vendor); err != nil {
			m.update(func(st *State) { st.Data = "switching to ECM failed: " + err.Error() })
			return nil
		}
		return errReset
	}
	if ok, err := modem.StartECMCall(ctx, s.c, s.vendor); ok && err != nil {
		m.cfg.Logf("modem: connecting the ECM data call: %v", err)
	}
	m.update(func(st *State) { st.Data = "ECM" })
	return nil
}

// dataUp finds the modem's network interface and keeps its address up.
func (s *session) dataUp(ctx context.Context, registered bool) {
	ifaces := modem.NetInterfaces(s.m.cfg.Sysfs, s.cand.USB)
	iface, ip := "", ""
	if len(ifaces) > 0 {
		iface = ifaces[0]
		if registered && s.m.cfg.Link != nil {
			s.m.cfg.Link.Up(iface)
		}
		ip = ipv4(iface)
	}
	s.m.update(func(st *State) {
		if st.Interface != "" && st.Interface != iface && s.m.cfg.Link != nil {
			s.m.cfg.Link.Down(st.Interface)
		}
		st.Interface, st.IP = iface, ip
	})
}

// ipv4 returns the first IPv4 address of iface, "" if none.
func ipv4(iface string) string {
	i, err := net.InterfaceByName(iface)
	if err != nil {
		return ""
	}
	addrs, _ := i.Addrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil {
			return n.IP.String()
		}
	}
	return ""
}

// DHCP is a DataLink that runs a DHCP client per interface as a child
// process (the image's /gokrazy/dhcp -interface=usb0), restarting it when it
// exits: an ECM modem serves DHCP on its USB side.
type DHCP struct {
	// Command is the client and its arguments before the interface flag
	// (default /gokrazy/dhcp).
	Command []string
	Logf    func(format string, args ...any)

	mu      sync.Mutex
	running map[string]context.CancelFunc
}

// Up implements DataLink.
func (d *DHCP) Up(iface string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.running == nil {
		d.running = map[string]context.CancelFunc{}
	}
	if _, ok := d.running[iface]; ok {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	d.running[iface] = cancel
	go d.run(ctx, iface)
}

// Restart implements DataLink.
func (d *DHCP) Restart(iface string) {
	d.Down(iface)
	d.Up(iface)
}

// Down implements DataLink.
func (d *DHCP) Down(iface string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if cancel, ok := d.running[iface]; ok {
		cancel()
		delete(d.running, iface)
	}
}

func (d *DHCP) run(ctx context.Context, iface string) {
	args := d.Command
	if len(args) == 0 {
		args = []string{"/gokrazy/dhcp"}
	}
	for ctx.Err() == nil {
		cmd := exec.CommandContext(ctx, args[0], append(args[1:], "-interface="+iface)...)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		// The client must not outlive modemd.
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
		err := cmd.Run()
		if ctx.Err() != nil {
			return
		}
		if d.Logf != nil {
			d.Logf("dhcp on %s exited: %v; restarting", iface, err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(5 * time.Second):
		}
	}
}
