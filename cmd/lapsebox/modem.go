package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/lapsebox/lapsebox/modem"
)

const modemUsage = `usage: lapsebox modem
       lapsebox modem PORT
       lapsebox modem PORT at 'AT+…'

(none)   the USB modems plugged in and their AT ports
PORT     the modem on PORT (/dev/ttyUSB2, ttyUSB2, or a USB port such as
         1-1.3): identity, SIM, registration, operator and signal. It only
         reads: the SIM's PIN is never entered.
at       send one AT command and print the answer, for field work
         (unlock a SIM: at 'AT+CPIN="1234"'; never guess a PUK)

On a desktop, ModemManager may hold the port: stop it first.
`

func runModem(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("modem", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(os.Stderr, modemUsage) }
	sysfs := fs.String("sysfs", "/sys", "where sysfs is mounted")
	timeout := fs.Duration("timeout", 0, "time allowed the AT command (default: the command's own)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	args = fs.Args()
	switch {
	case len(args) == 0:
		return modemList(os.Stdout, *sysfs)
	case len(args) == 1:
		port, err := modemPort(*sysfs, args[0])
		if err != nil {
			return err
		}
		return modemInfo(ctx, os.Stdout, *sysfs, port)
	case len(args) == 3 && args[1] == "at":
		port, err := modemPort(*sysfs, args[0])
		if err != nil {
			return err
		}
		return modemAT(ctx, os.Stdout, port, args[2], *timeout)
	}
	fmt.Fprint(os.Stderr, modemUsage)
	return errors.New("want PORT, or PORT at 'AT…'")
}

// modemPort resolves a port argument: a device node, a tty name, or a USB
// port whose modem's primary AT port is wanted.
func modemPort(sysfs, arg string) (string, error) {
	switch {
	case strings.HasPrefix(arg, "/"):
		return arg, nil
	case strings.HasPrefix(arg, "tty"):
		return "/dev/" + arg, nil
	}
	cands, err := modem.Find(sysfs)
	if err != nil {
		return "", err
	}
	for _, c := range cands {
		if c.USB.Name == arg && c.Role != modem.Probe {
			return c.Device, nil
		}
	}
	return "", fmt.Errorf("no modem's AT port on USB port %s (run lapsebox modem to list them)", arg)
}

func modemList(w io.Writer, sysfs string) error {
	cands, err := modem.Find(sysfs)
	if err != nil {
		return err
	}
	if len(cands) == 0 {
		fmt.Fprintln(w, "no USB serial ports")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PORT\tUSB\tINTERFACE\tROLE")
	for _, c := range cands {
		fmt.Fprintf(tw, "%s\t%s\t%d %s\t%s\n", c.Device, c.USB, c.Interface, c.InterfaceName, c.Role)
	}
	return tw.Flush()
}

// openModem opens the port and waits for the modem to answer.
func openModem(ctx context.Context, path string) (*modem.Conn, error) {
	p, err := modem.OpenSerial(path, time.Second)
	if err != nil {
		return nil, err
	}
	c := modem.New(p, modem.Options{})
	if err := modem.WaitReady(ctx, c, 20*time.Second); err != nil {
		c.Close()
		return nil, fmt.Errorf("%s does not answer AT: %w", path, err)
	}
	return c, nil
}

// modemInfo prints what the modem and its SIM say, reading only.
func modemInfo(ctx context.Context, w io.Writer, sysfs, path string) error {
	c, err := openModem(ctx, path)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := modem.Init(ctx, c); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	cand, _ := modem.Describe(sysfs, path)
	id, err := modem.ReadIdentity(ctx, c, modem.VendorOf(cand.USB.VendorID, ""))
	if err != nil {
		return err
	}
	v := modem.VendorOf(cand.USB.VendorID, id.Manufacturer)
	if id.ICCID == "" {
		id.ICCID, _ = modem.ReadICCID(ctx, c, v)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	defer tw.Flush()
	usb := ""
	if cand.USB.VendorID != "" {
		usb = fmt.Sprintf(" (%s, interface %d)", cand.USB, cand.Interface)
	}
	fmt.Fprintf(tw, "port\t%s%s\n", path, usb)
	fmt.Fprintf(tw, "modem\t%s %s, firmware %s, IMEI %s\n", id.Manufacturer, id.Model, id.Revision, id.IMEI)
	sim, err := modem.ReadSIM(ctx, c)
	if err != nil {
		return err
	}
	line := string(sim)
	if id.ICCID != "" {
		line += ", ICCID " + id.ICCID
	}
	if pin, puk, ok := modem.PINRetries(ctx, c, v); ok {
		line += fmt.Sprintf(", %d PIN and %d PUK attempts left", pin, puk)
	}
	fmt.Fprintf(tw, "SIM\t%s\n", line)
	if sim == modem.SIMReady {
		if imsi, err := modem.ReadIMSI(ctx, c); err == nil {
			fmt.Fprintf(tw, "IMSI\t%s\n", imsi)
		}
	}
	reg, err := modem.ReadRegistration(ctx, c)
	if err != nil {
		return err
	}
	modem.SetOperatorFormat(ctx, c)
	op, act, _ := modem.ReadOperator(ctx, c)
	if act < 0 {
		act = reg.Tech
	}
	fmt.Fprintf(tw, "network\t%s\n", strings.Join(nonEmpty(reg.State.String(), op, modem.TechName(act)), ", "))
	sig, err := modem.ReadSignal(ctx, c, v)
	switch {
	case err != nil:
		fmt.Fprintf(tw, "signal\t%v\n", err)
	case sig.DBM == 0:
		fmt.Fprintf(tw, "signal\tnone (%s)\n", sig.Source)
	default:
		extra := fmt.Sprintf("%d/5 bars", sig.Bars)
		if sig.RSRQ != nil {
			extra += fmt.Sprintf(", RSRQ %.1f dB", *sig.RSRQ)
		}
		if sig.SINR != nil {
			extra += fmt.Sprintf(", SINR %.1f dB", *sig.SINR)
		}
		fmt.Fprintf(tw, "signal\t%d dBm (%s, from %s)\n", sig.DBM, extra, sig.Source)
	}
	if on, err := modem.ECMEnabled(ctx, c, v); err == nil {
		mode := "not in ECM mode (modemd switches it when the board's kernel drives ECM)"
		if on {
			mode = "ECM"
		}
		fmt.Fprintf(tw, "USB mode\t%s\n", mode)
	}
	return nil
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// modemAT sends one command and prints the information lines and the
// final result; a result other than OK is an error.
func modemAT(ctx context.Context, w io.Writer, path, cmd string, timeout time.Duration) error {
	if !strings.HasPrefix(strings.ToUpper(cmd), "AT") {
		return fmt.Errorf("%q is not an AT command", cmd)
	}
	if strings.ContainsAny(cmd, "\r\n\x1a\x1b") {
		return errors.New("one command at a time, without control characters")
	}
	c, err := openModem(ctx, path)
	if err != nil {
		return err
	}
	defer c.Close()
	// Echo may be on: the engine drops it.
	r, err := c.Do(ctx, modem.Request{Command: cmd, Timeout: timeout})
	if r != nil {
		for _, l := range r.Lines {
			fmt.Fprintln(w, l)
		}
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "OK")
	return nil
}
