package modem

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// fakeSysfs builds the part of /sys that Find reads: USB devices with
// interfaces, the ttys and network interfaces bound to them.
type fakeSysfs struct {
	t    *testing.T
	root string
}

func newFakeSysfs(t *testing.T) *fakeSysfs {
	return &fakeSysfs{t: t, root: t.TempDir()}
}

func (f *fakeSysfs) write(path, content string) {
	f.t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		f.t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content+"\n"), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fakeSysfs) link(from, to string) {
	f.t.Helper()
	os.MkdirAll(filepath.Dir(from), 0o755)
	if err := os.Symlink(to, from); err != nil {
		f.t.Fatal(err)
	}
}

// usb adds a device at USB port name with interfaces: number → kind
// ("ttyUSB3", "ttyACM0", "usb0", or "" for none) and description.
func (f *fakeSysfs) usb(name, vid, pid, product string, ifaces map[int][2]string) string {
	dev := filepath.Join(f.root, "devices", "pci0000:00", "0000:00:14.0", "usb1", name)
	f.write(filepath.Join(dev, "idVendor"), vid)
	f.write(filepath.Join(dev, "idProduct"), pid)
	f.write(filepath.Join(dev, "product"), product)
	f.link(filepath.Join(f.root, "bus", "usb", "devices", name), dev)
	for n, v := range ifaces {
		iface := filepath.Join(dev, fmt.Sprintf("%s:1.%d", name, n))
		f.write(filepath.Join(iface, "bInterfaceNumber"), fmt.Sprintf("%02x", n))
		if v[1] != "" {
			f.write(filepath.Join(iface, "interface"), v[1])
		}
		f.link(filepath.Join(f.root, "bus", "usb", "devices", filepath.Base(iface)), iface)
		switch kind := v[0]; {
		case kind == "":
		case kind[:3] == "tty" && kind[:6] == "ttyUSB":
			port := filepath.Join(iface, kind)
			os.MkdirAll(port, 0o755)
			f.link(filepath.Join(f.root, "class", "tty", kind, "device"), port)
		case kind[:3] == "tty":
			f.link(filepath.Join(f.root, "class", "tty", kind, "device"), iface)
		default:
			f.link(filepath.Join(f.root, "class", "net", kind, "device"), iface)
		}
	}
	return dev
}

func devices(cs []Candidate) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Device+" "+c.Role.String())
	}
	return out
}

func TestFind(t *testing.T) {
	sys := newFakeSysfs(t)
	// A console that is not USB at all.
	sys.link(filepath.Join(sys.root, "class", "tty", "ttyS0", "device"), sys.root)
	if cs, err := Find(sys.root); err != nil || len(cs) != 0 {
		t.Fatalf("no modem: %v, %v", devices(cs), err)
	}
	ec25 := sys.usb("1-1.3", "2c7c", "0125", "EG25-G", map[int][2]string{
		0: {"ttyUSB0", ""}, 1: {"ttyUSB1", ""}, 2: {"ttyUSB2", ""}, 3: {"ttyUSB3", ""}, 4: {"usb0", ""}})
	sys.usb("1-1.2", "0403", "6001", "FT232R USB UART", map[int][2]string{0: {"ttyUSB4", ""}})
	sys.usb("1-1.4", "1546", "1102", "u-blox modem", map[int][2]string{
		0: {"ttyACM0", "CDC ACM"}, 2: {"ttyACM1", "GNSS"}})
	cs, err := Find(sys.root)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/dev/ttyUSB2 primary AT", "/dev/ttyUSB3 secondary AT", "/dev/ttyACM0 to probe", "/dev/ttyUSB4 to probe"}
	if got := devices(cs); !reflect.DeepEqual(got, want) {
		t.Errorf("Find = %q, want %q", got, want)
	}
	if cs[0].USB.Path != ec25 || cs[0].USB.Product != "EG25-G" || cs[0].Interface != 2 {
		t.Errorf("EC25 primary port: %+v", cs[0])
	}
	if got := NetInterfaces(sys.root, cs[0].USB); !reflect.DeepEqual(got, []string{"usb0"}) {
		t.Errorf("NetInterfaces = %q", got)
	}
	if c, ok := Describe(sys.root, "/dev/ttyUSB4"); !ok || c.USB.VendorID != "0403" || c.Role != Probe {
		t.Errorf("Describe(ttyUSB4) = %+v, %v", c, ok)
	}
	if _, ok := Describe(sys.root, "/dev/ttyAMA0"); ok {
		t.Error("Describe of a port sysfs does not know")
	}
}

func TestFindSIMCom(t *testing.T) {
	sys := newFakeSysfs(t)
	sys.usb("1-1", "1e0e", "9001", "SimTech, Incorporated", map[int][2]string{
		0: {"ttyUSB0", ""}, 1: {"ttyUSB1", ""}, 2: {"ttyUSB2", ""}, 3: {"ttyUSB3", ""}, 4: {"ttyUSB4", ""}, 5: {"wwan0", ""}})
	cs, _ := Find(sys.root)
	if got, want := devices(cs), []string{"/dev/ttyUSB2 primary AT", "/dev/ttyUSB3 secondary AT"}; !reflect.DeepEqual(got, want) {
		t.Errorf("SIM7600: %q, want %q", got, want)
	}
}

// A SIMCom modem switched to ECM (1e0e:9018) has no serial ports until
// the option driver learns its ID.
func TestBindOption(t *testing.T) {
	sys := newFakeSysfs(t)
	sys.usb("1-1", "1e0e", "9018", "SimTech", map[int][2]string{0: {"usb0", ""}, 1: {"", ""}, 4: {"", ""}})
	newID := filepath.Join(sys.root, "bus", "usb-serial", "drivers", "option1", "new_id")
	sys.write(newID, "")
	if cs, _ := Find(sys.root); len(cs) != 0 {
		t.Fatalf("ports before binding: %v", devices(cs))
	}
	ds := USBDevices(sys.root, "1e0e")
	if len(ds) != 1 || ds[0].ProductID != "9018" {
		t.Fatalf("USBDevices = %+v", ds)
	}
	if err := BindOption(sys.root, ds[0]); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(newID); string(b) != "1e0e 9018\n" {
		t.Errorf("new_id = %q", b)
	}
}
