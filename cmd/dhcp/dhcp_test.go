package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/internal/proctest"
	"github.com/lapsebox/lapsebox/internal/testtool"
)

// link is a pair of network namespaces joined by a veth: the client's
// side (named as the test asks, eth0 or usb0) and the server's.
type link struct {
	t              *testing.T
	client, server string // namespace names
	serverIf       string
	clientIf       string
}

func newLink(t *testing.T, tag, clientIf string) *link {
	t.Helper()
	if os.Geteuid() != 0 {
		testtool.Missing(t, "root, for network namespaces", "run the tests as root (CI does)")
	}
	testtool.Programs(t, "ip", "dnsmasq")
	l := &link{t: t, client: fmt.Sprintf("lbc%s%d", tag, os.Getpid()), server: fmt.Sprintf("lbs%s%d", tag, os.Getpid()), serverIf: "srv0"}
	for _, ns := range []string{l.client, l.server} {
		exec.Command("ip", "netns", "del", ns).Run()
		l.ip("netns", "add", ns)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	}
	l.ip("-n", l.server, "link", "set", "lo", "up")
	l.ip("-n", l.client, "link", "set", "lo", "up")
	l.ip("-n", l.server, "link", "add", l.serverIf, "type", "veth", "peer", "name", "cl0")
	l.ip("-n", l.server, "addr", "add", "10.99.0.1/24", "dev", l.serverIf)
	l.ip("-n", l.server, "link", "set", l.serverIf, "up")
	l.clientIf = clientIf
	return l
}

func (l *link) ip(args ...string) string {
	l.t.Helper()
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		l.t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// plug moves the client's end into its namespace under its name: the
// interface appears there, down, as a NIC or a modem does.
func (l *link) plug() {
	l.ip("-n", l.server, "link", "set", "cl0", "netns", l.client)
	l.ip("-n", l.client, "link", "set", "cl0", "name", l.clientIf)
}

// serve runs dnsmasq on the server's side handing out first-last, until
// the returned function stops it.
func (l *link) serve(dir, first, last string, extra ...string) (stop func()) {
	l.t.Helper()
	args := append([]string{"netns", "exec", l.server, testtool.Program(l.t, "dnsmasq"),
		"--no-daemon", "--conf-file=/dev/null", "--port=0", "--user=root", "--log-dhcp",
		"--interface=" + l.serverIf, "--bind-interfaces",
		"--dhcp-range=" + first + "," + last + ",2m",
		"--dhcp-leasefile=" + filepath.Join(dir, "leases-"+first),
		"--dhcp-option=option:dns-server,10.99.0.53",
		"--dhcp-option=option:domain-name,site.test",
		"--dhcp-option=option:router,10.99.0.1",
	}, extra...)
	cmd := exec.Command("ip", args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	proctest.Start(l.t, cmd, dir, "dnsmasq-"+first)
	return func() { cmd.Process.Kill(); cmd.Wait() }
}

type addrInfo struct {
	Flags    []string `json:"flags"`
	AddrInfo []struct {
		Family    string `json:"family"`
		Local     string `json:"local"`
		PrefixLen int    `json:"prefixlen"`
		ValidLife uint32 `json:"valid_life_time"`
	} `json:"addr_info"`
}

// addr returns the client interface's IPv4 address ("" if none) and its
// valid lifetime.
func (l *link) addr() (string, uint32) {
	var infos []addrInfo
	if err := json.Unmarshal([]byte(l.ip("-n", l.client, "-j", "addr", "show", "dev", l.clientIf)), &infos); err != nil {
		l.t.Fatal(err)
	}
	for _, i := range infos {
		for _, a := range i.AddrInfo {
			if a.Family == "inet" {
				return fmt.Sprintf("%s/%d", a.Local, a.PrefixLen), a.ValidLife
			}
		}
	}
	return "", 0
}

// routes returns the client's IPv4 routes as "dst via gw metric n".
func (l *link) routes() []string {
	var rs []struct {
		Dst     string `json:"dst"`
		Gateway string `json:"gateway"`
		Metric  int    `json:"metric"`
	}
	if err := json.Unmarshal([]byte(l.ip("-n", l.client, "-j", "route", "show", "dev", l.clientIf)), &rs); err != nil {
		l.t.Fatal(err)
	}
	var out []string
	for _, r := range rs {
		s := r.Dst
		if r.Gateway != "" {
			s += " via " + r.Gateway
		}
		out = append(out, fmt.Sprintf("%s metric %d", s, r.Metric))
	}
	return out
}

func waitFor(t *testing.T, what string, within time.Duration, log func() string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v\nclient log:\n%s", what, within, log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startClient runs the dhcp binary in the client's namespace.
func startClient(t *testing.T, l *link, bin, dir string, args ...string) (*exec.Cmd, func() string) {
	t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", l.client, bin, "-notify_init=false"}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd, proctest.Start(t, cmd, dir, "dhcp-"+l.clientIf)
}

// TestLeaseFromDnsmasq runs the client against dnsmasq across a veth
// between two network namespaces: lease, routes and resolver applied,
// renewal, the carrier going and coming back, a server that now refuses
// the address (NAK at renewal), and a clean exit on SIGTERM.
func TestLeaseFromDnsmasq(t *testing.T) {
	dir := t.TempDir()
	l := newLink(t, "e", "eth0")
	l.plug()
	bin := proctest.Build(t, dir, ".", "dhcp")
	// Renew every 2 s: dnsmasq's shortest lease is 2 minutes.
	stop := l.serve(dir, "10.99.0.10", "10.99.0.20", "--dhcp-option=option:T1,2", "--dhcp-option=option:T2,3")
	resolv := filepath.Join(dir, "resolv.conf")
	cmd, log := startClient(t, l, bin, dir, "-interface=eth0", "-resolv_conf="+resolv)

	var got string
	waitFor(t, "an address from dnsmasq", 10*time.Second, log, func() bool { got, _ = l.addr(); return got != "" })
	if !strings.HasPrefix(got, "10.99.0.") || !strings.HasSuffix(got, "/24") {
		t.Fatalf("address %s, want one of dnsmasq's 10.99.0.10-20/24", got)
	}
	if _, life := l.addr(); life == 0 || life > 120 {
		t.Errorf("address valid for %d s, want the lease's 120 at most (the kernel drops it if the client dies)", life)
	}
	want := []string{"default via 10.99.0.1 metric 1", "10.99.0.0/24 metric 1"}
	waitFor(t, "routes at eth0's metric 1", 5*time.Second, log, func() bool { return fmt.Sprint(l.routes()) == fmt.Sprint(want) })
	b, err := os.ReadFile(resolv)
	if err != nil {
		t.Fatal(err)
	}
	if s := string(b); !strings.Contains(s, "nameserver 10.99.0.53\n") || !strings.Contains(s, "search site.test\n") {
		t.Errorf("resolv.conf:\n%s", s)
	}

	waitFor(t, "a renewal", 10*time.Second, log, func() bool { return strings.Contains(log(), "renewed for 2m0s") })

	// The server's end goes down: the client's link loses its carrier.
	l.ip("-n", l.server, "link", "set", l.serverIf, "down")
	waitFor(t, "routes behind every other interface without carrier", 5*time.Second, log, func() bool {
		return fmt.Sprint(l.routes()) == "[default via 10.99.0.1 metric 1024 10.99.0.0/24 metric 1024]"
	})
	if a, _ := l.addr(); a != got {
		t.Errorf("address %q while the link is down, want %s kept", a, got)
	}
	l.ip("-n", l.server, "link", "set", l.serverIf, "up")
	waitFor(t, "routes back at metric 1", 5*time.Second, log, func() bool { return fmt.Sprint(l.routes()) == fmt.Sprint(want) })

	// Another network behind the same link: the new server refuses the
	// old address at renewal and the client takes a new one.
	stop()
	stop = l.serve(dir, "10.99.0.30", "10.99.0.40", "--dhcp-authoritative", "--dhcp-option=option:T1,2", "--dhcp-option=option:T2,3")
	defer stop()
	waitFor(t, "an address of the new range", 15*time.Second, log, func() bool { a, _ := l.addr(); return strings.HasPrefix(a, "10.99.0.3") || a == "10.99.0.40/24" })
	if !strings.Contains(log(), "refused") {
		t.Errorf("no refusal logged:\n%s", log())
	}

	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("after SIGTERM: %v\n%s", err, log())
	}
	t.Logf("client log:\n%s", log())
}

// TestInterfaceAppearsLater starts the client for a modem's usb0 before
// the modem is there, as modemd may: it waits without polling and takes
// a lease as soon as the interface appears, at the metric of a
// non-Ethernet link (5).
func TestInterfaceAppearsLater(t *testing.T) {
	dir := t.TempDir()
	l := newLink(t, "u", "usb0")
	bin := proctest.Build(t, dir, ".", "dhcp")
	l.serve(dir, "10.99.0.10", "10.99.0.20")
	_, log := startClient(t, l, bin, dir, "-interface=usb0", "-resolv_conf=")
	time.Sleep(500 * time.Millisecond)
	l.plug()
	waitFor(t, "an address once usb0 appeared", 10*time.Second, log, func() bool { a, _ := l.addr(); return a != "" })
	waitFor(t, "routes at usb0's metric 5", 5*time.Second, log, func() bool {
		return fmt.Sprint(l.routes()) == "[default via 10.99.0.1 metric 5 10.99.0.0/24 metric 5]"
	})
}
