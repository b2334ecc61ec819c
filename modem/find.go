package modem

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Role is what an interface of a modem is for.
type Role int

const (
	// Primary is a vendor's main AT port.
	Primary Role = iota
	// Secondary is another AT port of a known modem.
	Secondary
	// Probe is a serial port of an unknown device: it is an AT port if
	// it answers AT.
	Probe
	// Skip is a port that must not be written to (diagnostics, GPS,
	// audio): AT commands can confuse them.
	Skip
)

func (r Role) String() string {
	return [...]string{"primary AT", "secondary AT", "to probe", "not AT"}[r]
}

// Candidate is a serial port of a USB device, found in sysfs.
type Candidate struct {
	// Device is the device node ("/dev/ttyUSB2").
	Device string
	// USB describes the device the port belongs to.
	USB USBDevice
	// Interface is the port's USB interface number, InterfaceName its
	// description string if the device gives one.
	Interface     int
	InterfaceName string
	// Role says whether and how to use the port.
	Role Role
}

// USBDevice is a USB device as sysfs describes it.
type USBDevice struct {
	// Path is the device's sysfs directory (…/usb1/1-1), which stays the
	// same when the device re-enumerates on the same USB port.
	Path                  string
	Name                  string // "1-1.3": bus and port path
	VendorID, ProductID   string // lower-case hex
	Manufacturer, Product string
	Serial                string
}

func (d USBDevice) String() string {
	s := d.VendorID + ":" + d.ProductID
	if d.Product != "" {
		s += " " + strings.TrimSpace(d.Manufacturer+" "+d.Product)
	}
	return s + " at USB " + d.Name
}

// vendorPorts are the interface layouts of the modems lapsebox supports,
// as their vendors and ModemManager's port rules give them.
var vendorPorts = []struct {
	vid, pid    string // pid "" matches any product of the vendor
	primary     int
	secondary   []int
	skip        []int
	description string
}{
	// Quectel EC25/EG25, EC21, EG91, EG95, BG96, EP06: 0 DIAG, 1 NMEA,
	// 2 AT, 3 AT (modem), 4 network.
	{"2c7c", "", 2, []int{3}, []int{0, 1}, "Quectel"},
	// SIMCom SIM7100/7500/7600 default composition: 0 DIAG, 1 NMEA,
	// 2 AT, 3 AT (modem), 4 audio, 5 network.
	{"1e0e", "9001", 2, []int{3}, []int{0, 1, 4, 5}, "SIMCom"},
	// SIMCom RNDIS (9011) and ECM (9018) compositions: the network
	// function takes interfaces 0 and 1 and the others shift by two.
	{"1e0e", "9011", 4, []int{5}, []int{0, 1, 2, 3, 6}, "SIMCom (RNDIS)"},
	{"1e0e", "9018", 4, []int{5}, []int{0, 1, 2, 3, 6}, "SIMCom (ECM)"},
}

// skipNames are interface descriptions of ports that are not AT ports.
var skipNames = regexp.MustCompile(`(?i)diag|qcdm|gps|gnss|nmea|adb|audio|debug|trace|dm port`)

// Find lists the USB serial ports under sys (/sys on a device), best
// first: known modems' primary AT ports, their secondary ones, then other
// ports to probe; ports that must not be written to are left out. An
// empty list means no modem is plugged in.
func Find(sys string) ([]Candidate, error) {
	ttys, err := os.ReadDir(filepath.Join(sys, "class", "tty"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("modem: listing serial ports: %w", err)
	}
	var out []Candidate
	for _, e := range ttys {
		name := e.Name()
		if !strings.HasPrefix(name, "ttyUSB") && !strings.HasPrefix(name, "ttyACM") {
			continue
		}
		c, err := candidate(sys, name)
		if err != nil || c.Role == Skip {
			continue // a port vanishing while we look, or not a USB one
		}
		out = append(out, c)
	}
	slices.SortStableFunc(out, func(a, b Candidate) int {
		if a.Role != b.Role {
			return int(a.Role) - int(b.Role)
		}
		return strings.Compare(a.Device, b.Device)
	})
	return out, nil
}

func candidate(sys, name string) (Candidate, error) {
	dev, err := filepath.EvalSymlinks(filepath.Join(sys, "class", "tty", name, "device"))
	if err != nil {
		return Candidate{}, err
	}
	iface := dev
	if strings.HasPrefix(filepath.Base(dev), "ttyUSB") {
		iface = filepath.Dir(dev) // usb-serial: the port sits under its interface
	}
	n, err := strconv.ParseInt(readAttr(iface, "bInterfaceNumber"), 16, 32)
	if err != nil {
		return Candidate{}, fmt.Errorf("modem: %s is not on a USB interface", name)
	}
	c := Candidate{
		Device:        "/dev/" + name,
		USB:           usbDevice(filepath.Dir(iface)),
		Interface:     int(n),
		InterfaceName: readAttr(iface, "interface"),
		Role:          Probe,
	}
	for _, v := range vendorPorts {
		if v.vid != c.USB.VendorID || (v.pid != "" && v.pid != c.USB.ProductID) {
			continue
		}
		switch {
		case c.Interface == v.primary:
			c.Role = Primary
		case slices.Contains(v.secondary, c.Interface):
			c.Role = Secondary
		case slices.Contains(v.skip, c.Interface):
			c.Role = Skip
		}
		return c, nil
	}
	if skipNames.MatchString(c.InterfaceName) {
		c.Role = Skip
	}
	return c, nil
}

func usbDevice(dir string) USBDevice {
	return USBDevice{
		Path:         dir,
		Name:         filepath.Base(dir),
		VendorID:     strings.ToLower(readAttr(dir, "idVendor")),
		ProductID:    strings.ToLower(readAttr(dir, "idProduct")),
		Manufacturer: readAttr(dir, "manufacturer"),
		Product:      readAttr(dir, "product"),
		Serial:       readAttr(dir, "serial"),
	}
}

func readAttr(dir, name string) string {
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// Describe returns the candidate for the tty at device ("/dev/ttyUSB0")
// as sysfs sees it, for a port named in the configuration; ok is false if
// sysfs does not know it (it may still be a serial port, a UART say).
func Describe(sys, device string) (Candidate, bool) {
	c, err := candidate(sys, filepath.Base(device))
	if err != nil {
		return Candidate{Device: device, Role: Probe}, false
	}
	return c, true
}

// NetInterfaces returns the network interfaces (usb0, eth1, wwan0) that
// belong to the USB device d: a modem in ECM, NCM or MBIM mode.
func NetInterfaces(sys string, d USBDevice) []string {
	entries, err := os.ReadDir(filepath.Join(sys, "class", "net"))
	if err != nil || d.Path == "" {
		return nil
	}
	var out []string
	for _, e := range entries {
		dev, err := filepath.EvalSymlinks(filepath.Join(sys, "class", "net", e.Name(), "device"))
		if err != nil {
			continue
		}
		if strings.HasPrefix(dev, d.Path+string(filepath.Separator)) {
			out = append(out, e.Name())
		}
	}
	return out
}

// USBDevices returns the USB devices of vendor (lower-case hex) under
// sys, whatever drivers bound them: a SIMCom modem switched to ECM mode
// has no serial ports until the option driver learns its product ID.
func USBDevices(sys, vendor string) []USBDevice {
	entries, err := os.ReadDir(filepath.Join(sys, "bus", "usb", "devices"))
	if err != nil {
		return nil
	}
	var out []USBDevice
	for _, e := range entries {
		dir, err := filepath.EvalSymlinks(filepath.Join(sys, "bus", "usb", "devices", e.Name()))
		if err != nil || strings.Contains(e.Name(), ":") {
			continue // interfaces are listed beside devices
		}
		if d := usbDevice(dir); d.VendorID == vendor {
			out = append(out, d)
		}
	}
	return out
}

// BindOption teaches the kernel's option serial driver a product ID
// (/sys/bus/usb-serial/drivers/option1/new_id), so that a modem whose
// composition the driver does not list gets its ttyUSB ports. gokrazy has
// no udev to do it.
func BindOption(sys string, d USBDevice) error {
	path := filepath.Join(sys, "bus", "usb-serial", "drivers", "option1", "new_id")
	if err := os.WriteFile(path, []byte(d.VendorID+" "+d.ProductID+"\n"), 0o200); err != nil {
		return fmt.Errorf("modem: binding %s to the option driver: %w", d, err)
	}
	return nil
}

// ProbeAT reports whether the tty at device answers AT within a few
// tries. It is for ports of unknown devices only: it writes to the port.
func ProbeAT(ctx context.Context, device string) error {
	p, err := OpenSerial(device, time.Second)
	if err != nil {
		return err
	}
	c := New(p, Options{})
	defer c.Close()
	for i := 0; i < 3; i++ {
		if _, err = c.Do(ctx, Request{Command: "AT", Timeout: time.Second}); err == nil {
			return nil
		}
		if errors.Is(err, ErrGone) || ctx.Err() != nil {
			break
		}
	}
	return fmt.Errorf("modem: %s does not answer AT: %w", device, err)
}
