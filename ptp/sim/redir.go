package sim

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"

	"github.com/lapsebox/lapsebox/internal/usbredir"
)

// RedirConfig describes a simulated camera served to a QEMU guest's USB
// bus over the usbredir protocol.
type RedirConfig struct {
	// Sim configures the simulator (model, serial number, files…).
	Sim Config
	// Addr is the TCP address the camera listens on for QEMU
	// ("" = 127.0.0.1 and a free port). Keep it on the loopback: whoever
	// connects drives the camera.
	Addr string
	// PhotoDir receives a copy of every picture the camera takes.
	PhotoDir string
	// ID is QEMU's id of the usb-redir device (default "cam"); the
	// chardev is ID+"-usbredir".
	ID string
	// Bus is the USB bus to plug into (default "ehci.0", from
	// "-device usb-ehci,id=ehci": high speed, with interrupt events).
	Bus string
	// Logf receives the usbredir connection's events (nil: none).
	Logf func(format string, args ...any)
}

// RedirCamera is a simulated camera served over the usbredir protocol:
// with Args on QEMU's command line, the guest sees it as a USB camera. It
// runs in the calling process, so that a test can look at the simulator.
type RedirCamera struct {
	// Sim is the simulated camera: its Ops, Shots, faults.
	Sim *Device
	// Addr is the address QEMU connects to.
	Addr string

	srv     *usbredir.Server
	id, bus string
	cancel  context.CancelFunc
	done    chan error
}

// ServeRedir starts serving a simulated camera; QEMU connects to it (as a
// client, reconnecting every second when the connection drops).
func ServeRedir(ctx context.Context, cfg RedirConfig) (*RedirCamera, error) {
	addr := cfg.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("sim: serving usbredir: %w", err)
	}
	dev := New(cfg.Sim)
	c := &RedirCamera{
		Sim:  dev,
		Addr: ln.Addr().String(),
		srv:  &usbredir.Server{Device: dev.USB(USBOptions{PhotoDir: cfg.PhotoDir, Logf: cfg.Logf}), Logf: cfg.Logf},
		id:   cfg.ID, bus: cfg.Bus,
		done: make(chan error, 1),
	}
	if c.id == "" {
		c.id = "cam"
	}
	if c.bus == "" {
		c.bus = "ehci.0"
	}
	ctx, c.cancel = context.WithCancel(ctx)
	go func() { c.done <- c.srv.Serve(ctx, ln) }()
	return c, nil
}

// Args returns QEMU's arguments for the camera: a chardev that connects
// to it and a usb-redir device on the configured bus. The bus must exist:
// add "-device", "usb-ehci,id=ehci" for the default.
func (c *RedirCamera) Args() []string {
	host, port, _ := net.SplitHostPort(c.Addr)
	chr := c.id + "-usbredir"
	return []string{
		"-chardev", "socket,id=" + chr + ",host=" + host + ",port=" + port + ",reconnect=1",
		"-device", "usb-redir,id=" + c.id + ",chardev=" + chr + ",bus=" + c.bus,
	}
}

// Port returns the TCP port the camera listens on.
func (c *RedirCamera) Port() int {
	_, port, _ := net.SplitHostPort(c.Addr)
	n, _ := strconv.Atoi(port)
	return n
}

// WaitConnected waits until QEMU has connected and the camera is plugged
// in (or unplugged on purpose).
func (c *RedirCamera) WaitConnected(ctx context.Context) error {
	return c.srv.WaitConnected(ctx)
}

// Unplug pulls the camera's cable: the guest sees the device go, and the
// simulator answers nothing until Replug.
func (c *RedirCamera) Unplug() {
	c.Sim.Unplug()
	c.srv.Unplug()
}

// Replug plugs the camera in again: a new USB device for the guest, with
// its session closed (sim.Device.Replug).
func (c *RedirCamera) Replug(ctx context.Context) error {
	c.Sim.Replug()
	return c.srv.Plug(ctx)
}

// Stats returns what the current usbredir connection has done (zero
// without a connection), and how many connections QEMU has made.
func (c *RedirCamera) Stats() (usbredir.Stats, int) {
	var st usbredir.Stats
	if conn := c.srv.Conn(); conn != nil {
		st = conn.Stats()
	}
	return st, c.srv.Accepted()
}

// Close stops serving the camera; QEMU sees the device unplugged.
func (c *RedirCamera) Close() error {
	c.cancel()
	err := <-c.done
	c.done <- err // Close may be called again
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}
