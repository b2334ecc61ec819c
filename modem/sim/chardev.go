package sim

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"
)

// Chardev serves a simulated modem to QEMU's usb-serial device (QEMU's
// FTDI FT232 emulation): QEMU connects to a unix socket as the device's
// chardev, and the guest's ftdi_sio driver makes it /dev/ttyUSB0.
//
//	-chardev socket,id=modem,path=SOCKET -device usb-serial,chardev=modem
//
// A reset of the modem calls Replug, which the test sets to unplug and
// plug the VM's usb-serial device (device_del, device_add), and powers the
// modem on again on the same connection.
type Chardev struct {
	sim  *Sim
	path string
	ln   net.Listener
	// Replug, if set, runs at every reset between the modem going and
	// coming back.
	Replug func()

	mu   sync.Mutex
	conn net.Conn
	wg   sync.WaitGroup
}

// ListenChardev listens on the unix socket path for QEMU's connection and
// serves s on it.
func ListenChardev(ctx context.Context, s *Sim, path string) (*Chardev, error) {
	os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("sim: %w", err)
	}
	c := &Chardev{sim: s, path: path, ln: ln}
	s.mu.Lock()
	s.onReset = c.reset
	s.mu.Unlock()
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			c.mu.Lock()
			c.conn = conn
			c.mu.Unlock()
			c.serve(ctx, conn)
		}
	}()
	return c, nil
}

// Args returns QEMU's arguments for the chardev and a usb-serial device
// with id on the USB bus bus ("xhci.0").
func (c *Chardev) Args(id, bus string) []string {
	return []string{"-chardev", "socket,id=" + id + "chr,path=" + c.path,
		"-device", "usb-serial,id=" + id + ",bus=" + bus + ",chardev=" + id + "chr"}
}

func (c *Chardev) serve(ctx context.Context, conn net.Conn) {
	c.sim.Serve(ctx, conn)
	conn.Close()
}

// reset takes the modem away for ResetTime (and replugs the VM's device).
func (c *Chardev) reset() {
	c.sim.powerOff()
	if c.Replug != nil {
		c.Replug()
	} else {
		time.Sleep(c.sim.cfg.ResetTime)
	}
	c.sim.repower()
}

// PowerOff cuts the modem's power: it stops answering and sending (take
// the VM's device away meanwhile, for a pull-out).
func (c *Chardev) PowerOff() { c.sim.powerOff() }

// PowerOn powers the modem on again: it boots as when plugged in.
func (c *Chardev) PowerOn() { c.sim.repower() }

// Close stops serving.
func (c *Chardev) Close() error {
	err := c.ln.Close()
	c.mu.Lock()
	if c.conn != nil {
		c.conn.Close()
	}
	c.mu.Unlock()
	c.wg.Wait()
	os.Remove(c.path)
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}
