// Package image builds lapsebox appliance images in gokrazy's layout: a boot
// FAT, two squashfs roots and an ext4 /perm behind a hybrid MBR and a GPT,
// for the boards in Boards. The description of what goes into an image
// (services, flags, identity) is kept in the repository as JSON.
package image

import (
	_ "embed"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/lapsebox/lapsebox/image/disk"
	"github.com/lapsebox/lapsebox/internal/strictjson"
)

// DefaultDescriptionJSON is the description `make image` uses when given
// none: the appliance with its default services.
//
//go:embed lapsebox.json
var DefaultDescriptionJSON []byte

// Description says what goes into an image.
type Description struct {
	// Hostname names the device and seeds its partition UUIDs: an update
	// must keep it.
	Hostname string

	// DiskSizeBytes is the size of the disk image; /perm takes what the
	// boot and root partitions leave. Flashing does not grow it.
	DiskSizeBytes int64 `json:",omitempty"`

	// SerialConsole is the kernel's serial console ("ttyS0,115200"); empty
	// means the board's default and "off" disables it.
	SerialConsole string `json:",omitempty"`

	// HTTPPort is the port of gokrazy's web interface (status, updates).
	HTTPPort int `json:",omitempty"`

	// PasswordFile holds gokrazy's HTTP password, outside the repository.
	// Relative paths are relative to the user's configuration directory.
	// A missing file is created with a random password at the first build.
	PasswordFile string `json:",omitempty"`

	// KernelArgs are appended to the board's kernel command line.
	KernelArgs []string `json:",omitempty"`

	// KernelDir, an absolute path, takes the place of the board's kernel
	// module: a directory laid out as gokrazy's kernel modules are
	// (vmlinuz, cmdline.txt, the device trees, lib/modules), such as a
	// kernel built with a driver the board's lacks. The boot files are
	// stamped with the newest time of its files, so that two builds from
	// the same directory write the same boot file system.
	KernelDir string `json:",omitempty"`

	// GokrazyPackages are gokrazy's own programs installed under /gokrazy.
	GokrazyPackages []string `json:",omitempty"`

	// Services are the appliance's programs, installed under /user and
	// supervised by gokrazy's init.
	Services []Service
}

// Service is one supervised program.
type Service struct {
	// Package is the Go package to build, e.g.
	// "github.com/lapsebox/lapsebox/cmd/statusd".
	Package string

	// Name overrides the binary's name (default: the package's last element).
	Name string `json:",omitempty"`

	// Flags are the program's command-line arguments.
	Flags []string `json:",omitempty"`

	// Env holds KEY=VALUE pairs added to the program's environment.
	Env []string `json:",omitempty"`

	// ExtraFiles are written into the root file system: absolute path to
	// content. Nothing may go under /perm, which the device owns.
	ExtraFiles map[string]string `json:",omitempty"`

	// DontStart leaves the program stopped until started from gokrazy's
	// web interface.
	DontStart bool `json:",omitempty"`

	// WaitForClock delays the first start until the clock is set by NTP.
	WaitForClock bool `json:",omitempty"`

	// CGO builds the program with cgo (for libusb); the build then needs a C
	// compiler for the board's architecture.
	CGO bool `json:",omitempty"`
}

// Binary returns the name of the service's binary under /user.
func (s Service) Binary() string {
	if s.Name != "" {
		return s.Name
	}
	return path.Base(s.Package)
}

// DefaultGokrazyPackages are the programs under /gokrazy every image gets
// unless the description names its own list. gokrazy's heartbeat is left
// out: it reports to gokrazy's own update service, which lapsebox does not
// use. The DHCP client is lapsebox's (cmd/dhcp, installed as
// /gokrazy/dhcp with gokrazy's flags): it follows the link by netlink
// events where gokrazy's polls it every second.
var DefaultGokrazyPackages = []string{
	"github.com/lapsebox/lapsebox/cmd/dhcp",
	"github.com/gokrazy/gokrazy/cmd/ntp",
	"github.com/gokrazy/gokrazy/cmd/randomd",
}

// Defaults of the optional fields.
const (
	DefaultDiskSizeBytes = 2 << 30
	DefaultHTTPPort      = 80
)

var (
	hostnameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	binaryRE   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
	envRE      = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)
)

// ParseDescription decodes and validates a description. Unknown fields and
// bad values are errors naming the field; name prefixes every error.
func ParseDescription(name string, data []byte) (*Description, error) {
	var d Description
	if err := strictjson.Unmarshal(name, data, &d); err != nil {
		return nil, err
	}
	if err := d.setDefaults(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &d, nil
}

// LoadDescription reads a description file; an empty path means the
// embedded default.
func LoadDescription(file string) (*Description, error) {
	if file == "" {
		return ParseDescription("default description", DefaultDescriptionJSON)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading image description: %w", err)
	}
	return ParseDescription(file, b)
}

func (d *Description) setDefaults() error {
	if !hostnameRE.MatchString(d.Hostname) {
		return fmt.Errorf("Hostname %q: want lower-case letters, digits and dashes (1-63)", d.Hostname)
	}
	if d.DiskSizeBytes == 0 {
		d.DiskSizeBytes = DefaultDiskSizeBytes
	}
	if d.DiskSizeBytes < disk.MinSizeBytes || d.DiskSizeBytes%disk.SectorSize != 0 {
		return fmt.Errorf("DiskSizeBytes %d: want a multiple of %d, at least %d (%d MiB)", d.DiskSizeBytes, disk.SectorSize, disk.MinSizeBytes, disk.MinSizeBytes>>20)
	}
	if d.HTTPPort == 0 {
		d.HTTPPort = DefaultHTTPPort
	}
	if d.HTTPPort < 1 || d.HTTPPort > 65535 {
		return fmt.Errorf("HTTPPort %d: want 1-65535", d.HTTPPort)
	}
	if d.GokrazyPackages == nil {
		d.GokrazyPackages = DefaultGokrazyPackages
	}
	for _, a := range d.KernelArgs {
		if a == "" || strings.ContainsAny(a, " \t\n") {
			return fmt.Errorf("KernelArgs: %q: one argument per entry, without spaces", a)
		}
	}
	if d.KernelDir != "" && !filepath.IsAbs(d.KernelDir) {
		return fmt.Errorf("KernelDir %q: want an absolute path", d.KernelDir)
	}
	seen := map[string]string{"init": "gokrazy's init"}
	for _, p := range d.GokrazyPackages {
		seen[path.Base(p)] = p
	}
	for i, s := range d.Services {
		field := fmt.Sprintf("Services[%d]", i)
		if s.Package == "" {
			return fmt.Errorf("%s.Package: empty", field)
		}
		bin := s.Binary()
		if !binaryRE.MatchString(bin) {
			return fmt.Errorf("%s.Name %q: not a valid binary name", field, bin)
		}
		if other, dup := seen[bin]; dup {
			return fmt.Errorf("%s (%s): binary name %q is already used by %s; set Name", field, s.Package, bin, other)
		}
		seen[bin] = s.Package
		for _, e := range s.Env {
			if !envRE.MatchString(e) {
				return fmt.Errorf("%s.Env %q: want KEY=VALUE", field, e)
			}
		}
		for p := range s.ExtraFiles {
			if err := checkExtraPath(p); err != nil {
				return fmt.Errorf("%s.ExtraFiles %q: %v", field, p, err)
			}
		}
	}
	return nil
}

// reservedPaths are written by the build itself.
var reservedPaths = []string{"/gokrazy", "/user", "/perm", "/etc/hostname", "/etc/gokr-pw.txt", "/etc/http-port.txt", "/lib/modules", "/etc/lapsebox", "/proc", "/sys", "/dev", "/tmp", "/run", "/var"}

func checkExtraPath(p string) error {
	if !path.IsAbs(p) || path.Clean(p) != p || p == "/" {
		return fmt.Errorf("want a clean absolute path")
	}
	for _, r := range reservedPaths {
		if p == r || strings.HasPrefix(p, r+"/") {
			return fmt.Errorf("%s is managed by the image build or the device", r)
		}
	}
	return nil
}
