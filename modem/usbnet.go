package modem

import (
	"context"
	"errors"
	"strings"
)

// ErrNoECM: the modem has no command lapsebox knows to put it in ECM
// mode.
var ErrNoECM = errors.New("modem: no known way to switch this modem to ECM")

// ECMEnabled reports whether the modem's USB composition includes a CDC
// ECM network function (the kernel's cdc_ether makes it usb0, and the
// modem serves DHCP on it): Quectel AT+QCFG="usbnet" 1, SIMCom product
// 9018.
func ECMEnabled(ctx context.Context, c *Conn, v Vendor) (bool, error) {
	switch v {
	case Quectel:
		r, err := c.Command(ctx, `AT+QCFG="usbnet"`)
		if err != nil {
			return false, err
		}
		val, _ := r.Value("+QCFG")
		f := Fields(val)
		return len(f) == 2 && strings.EqualFold(f[0], "usbnet") && f[1] == "1", nil
	case SIMCom:
		r, err := c.Command(ctx, "AT+CUSBPIDSWITCH?")
		if err != nil {
			return false, err
		}
		val, _ := r.Value("+CUSBPIDSWITCH")
		return strings.TrimSpace(val) == "9018", nil
	}
	return false, ErrNoECM
}

// EnableECM switches the modem to ECM and resets it: its ports vanish and
// come back (SIMCom's come back without ttys until BindOption). The
// setting survives power cycles.
func EnableECM(ctx context.Context, c *Conn, v Vendor) error {
	switch v {
	case Quectel:
		if _, err := c.Command(ctx, `AT+QCFG="usbnet",1`); err != nil {
			return err
		}
		_, err := c.Command(ctx, "AT+CFUN=1,1")
		return err
	case SIMCom:
		_, err := c.Command(ctx, "AT+CUSBPIDSWITCH=9018,1,1")
		return err
	}
	return ErrNoECM
}

// StartECMCall asks a Quectel modem to connect the ECM data call now
// (AT+QNETDEVCTL, on firmware that has it; others dial by themselves in
// ECM mode). It reports whether the command exists.
func StartECMCall(ctx context.Context, c *Conn, v Vendor) (bool, error) {
	if v != Quectel {
		return false, nil
	}
	if _, err := c.Command(ctx, "AT+QNETDEVCTL=?"); err != nil {
		return false, nil
	}
	_, err := c.Command(ctx, "AT+QNETDEVCTL=1,1,1")
	return true, err
}

// Reset restarts the modem (AT+CFUN=1,1): its ports vanish and come back.
func Reset(ctx context.Context, c *Conn) error {
	_, err := c.Command(ctx, "AT+CFUN=1,1")
	return err
}

// RadioOff and RadioOn cycle the radio without re-enumerating. Flight
// mode (AT+CFUN=4) rather than minimum functionality (0): on many modems 0
// also powers the SIM down, which would then want its PIN again.
func RadioOff(ctx context.Context, c *Conn) error {
	_, err := c.Command(ctx, "AT+CFUN=4")
	return err
}

// RadioOn turns the radio back on.
func RadioOn(ctx context.Context, c *Conn) error {
	_, err := c.Command(ctx, "AT+CFUN=1")
	return err
}

// Reattach detaches from the packet network and attaches again.
func Reattach(ctx context.Context, c *Conn) error {
	if _, err := c.Command(ctx, "AT+CGATT=0"); err != nil {
		return err
	}
	_, err := c.Command(ctx, "AT+CGATT=1")
	return err
}
