package image

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/lapsebox/lapsebox/image/initconf"
)

func TestDefaultDescriptionParses(t *testing.T) {
	d, err := LoadDescription("")
	if err != nil {
		t.Fatal(err)
	}
	if d.Hostname == "" || len(d.Services) == 0 || d.HTTPPort != DefaultHTTPPort || d.DiskSizeBytes != DefaultDiskSizeBytes {
		t.Errorf("default description %+v lacks hostname, services or defaults", d)
	}
}

func TestParseDescriptionErrors(t *testing.T) {
	for _, tc := range []struct {
		name, json, want string
	}{
		{"unknown field", "{\n\"Hostname\": \"a\",\n\"Servics\": []\n}", `line 3: unknown field "Servics"`},
		{"unknown service field", "{\"Hostname\": \"a\",\n\"Services\": [{\"Package\": \"x/y\",\n \"Flag\": []}]}", `line 3: unknown field "Flag"`},
		{"bad hostname", `{"Hostname": "Not_OK"}`, `Hostname "Not_OK"`},
		{"small disk", `{"Hostname": "a", "DiskSizeBytes": 1048576}`, `DiskSizeBytes 1048576`},
		{"bad port", `{"Hostname": "a", "HTTPPort": 70000}`, `HTTPPort 70000`},
		{"empty package", `{"Hostname": "a", "Services": [{}]}`, `Services[0].Package: empty`},
		{"clashing names", `{"Hostname": "a", "Services": [{"Package": "a/statusd"}, {"Package": "b/statusd"}]}`, `binary name "statusd" is already used by a/statusd`},
		{"clash with gokrazy", `{"Hostname": "a", "Services": [{"Package": "x/dhcp"}]}`, `already used by github.com/lapsebox/lapsebox/cmd/dhcp`},
		{"bad env", `{"Hostname": "a", "Services": [{"Package": "x/y", "Env": ["NOVALUE"]}]}`, `Env "NOVALUE": want KEY=VALUE`},
		{"extra file on perm", `{"Hostname": "a", "Services": [{"Package": "x/y", "ExtraFiles": {"/perm/x": "1"}}]}`, `/perm is managed`},
		{"relative extra file", `{"Hostname": "a", "Services": [{"Package": "x/y", "ExtraFiles": {"etc/x": "1"}}]}`, `want a clean absolute path`},
		{"kernel arg with space", `{"Hostname": "a", "KernelArgs": ["a b"]}`, `one argument per entry`},
		{"relative kernel directory", `{"Hostname": "a", "KernelDir": "kernel"}`, `KernelDir "kernel": want an absolute path`},
		{"wrong type", "{\"Hostname\": \"a\",\n\"HTTPPort\": \"80\"}", `line 2: field "HTTPPort"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseDescription("desc.json", []byte(tc.json))
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "desc.json: ") {
				t.Errorf("ParseDescription = %v, want an error containing %q prefixed by the file name", err, tc.want)
			}
		})
	}
}

func TestLookupBoard(t *testing.T) {
	for _, name := range []string{"pc", "rpi", "virt"} {
		if b, err := LookupBoard(name); err != nil || b.Name != name {
			t.Errorf("LookupBoard(%q) = %v, %v", name, b, err)
		}
	}
	_, err := LookupBoard("pi5")
	if err == nil || !strings.Contains(err.Error(), `unknown board "pi5": want one of pc, rpi, virt`) {
		t.Errorf("LookupBoard(pi5) = %v", err)
	}
}

func TestKernelCmdline(t *testing.T) {
	d := &Description{Hostname: "site7", KernelArgs: []string{"quiet", "rootwait"}}
	for _, tc := range []struct {
		board, kernel string
		serial        string
		want          []string
		absent        []string
	}{
		{"pc", "root=/dev/sda2 ro init=/gokrazy/init panic=10 oops=panic rootdelay=10 pci=nommconf", "",
			[]string{"console=tty1 console=ttyS0,115200 root=PARTUUID=60c24cc1-f3f9-427a-8199-", "0001/PARTNROFF=1 ro", "rootwait", "watchdog.stop_on_reboot=0", "quiet"},
			[]string{"rootdelay", "/dev/sda2"}},
		{"rpi", "root=/dev/mmcblk0p2 init=/gokrazy/init rootwait panic=10 oops=panic", "",
			[]string{"console=serial0,115200", "/PARTNROFF=1 init=/gokrazy/init"}, []string{"mmcblk0p2", "watchdog."}},
		{"virt", "root=/dev/sda2 ro init=/gokrazy/init panic=10 oops=panic", "off",
			[]string{"console=tty1 root=PARTUUID="}, []string{"ttyAMA0"}},
	} {
		d.SerialConsole = tc.serial
		got, err := kernelCmdline(Boards[tc.board], d, tc.kernel+"\n")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(got, "\n"+strings.Repeat(" ", cmdlinePadding)) || strings.Count(got, "\n") != 1 || len(got) > maxCmdline {
			t.Errorf("%s: cmdline %q is not one line, a newline and %d spaces, at most %d bytes", tc.board, got, cmdlinePadding, maxCmdline)
		}
		if strings.Count(got, "rootwait") > 1 {
			t.Errorf("%s: rootwait twice in %q", tc.board, got)
		}
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: cmdline %q lacks %q", tc.board, got, w)
			}
		}
		for _, a := range tc.absent {
			if strings.Contains(got, a) {
				t.Errorf("%s: cmdline %q still has %q", tc.board, got, a)
			}
		}
	}
	if _, err := kernelCmdline(Boards["pc"], d, "init=/gokrazy/init"); err == nil {
		t.Error("a kernel cmdline without root= was accepted")
	}
}

func TestInitConfig(t *testing.T) {
	d := &Description{
		GokrazyPackages: []string{"github.com/gokrazy/gokrazy/cmd/dhcp"},
		Services: []Service{
			{Package: "x/statusd", Flags: []string{"-listen=:8080", `-quote="x"`}, Env: []string{"TZ=UTC"}},
			{Package: "x/camerad", Name: "cam", DontStart: true},
			{Package: "x/uploadd", WaitForClock: true},
		},
	}
	tree := t.TempDir()
	if err := writeInitConfig(tree, "2026-01-02T03:04:05Z", d); err != nil {
		t.Fatal(err)
	}
	c, err := initconf.Read(filepath.Join(tree, filepath.FromSlash(initconf.Path)))
	if err != nil {
		t.Fatal(err)
	}
	want := &initconf.Config{BuildTimestamp: "2026-01-02T03:04:05Z", Services: []initconf.Service{
		{Path: "/gokrazy/dhcp"},
		{Path: "/user/statusd", Args: []string{"-listen=:8080", `-quote="x"`}, Env: []string{"TZ=UTC"}},
		{Path: "/user/cam", DontStart: true},
		{Path: "/user/uploadd", WaitForClock: true},
	}}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("init configuration %+v, want %+v", c, want)
	}
}
