// Package testtool lets a test say what it needs from the machine: a
// program (nginx, sgdisk, QEMU), a file (OVMF's firmware), a capability
// (mounting a tmpfs). When it is missing, the test is skipped with the
// reason and the command that installs it; under CI (the environment
// variable CI set, as .ci/run and make test do) it fails instead, since a
// skip is not a pass.
//
// The one accepted skip under CI is Optional: a test that needs something
// no CI machine has by design (a real SD card), run by a person who opts
// in. Its message carries OptionalMarker, which make test's summary
// (internal/cmd/testsummary) recognises and lists.
package testtool

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// OptionalMarker starts the message of every Optional skip.
const OptionalMarker = "[optional] "

// CI reports whether the tests run in CI: the environment variable CI is
// set to anything but "", "0" or "false".
func CI() bool {
	switch os.Getenv("CI") {
	case "", "0", "false":
		return false
	}
	return true
}

// Missing stops t because what it needs is missing: it fails under CI
// and skips otherwise. what names the missing thing, install says how to
// get it.
func Missing(t testing.TB, what, install string) {
	t.Helper()
	msg := fmt.Sprintf("%s is missing: %s", what, install)
	if CI() {
		t.Fatalf("%s (CI is set: a test that lacks what it needs fails)", msg)
	}
	t.Skip(msg)
}

// Optional skips t, even under CI: it needs what no CI machine has by
// design and runs only when a person opts in. reason says how to opt in.
func Optional(t testing.TB, reason string) {
	t.Helper()
	t.Skip(OptionalMarker + reason)
}

// sbin are where Debian puts system programs (nginx, apache2, sgdisk,
// mkfs.*), outside an ordinary user's PATH.
var sbin = []string{"/usr/sbin", "/sbin"}

// LookPath finds program in PATH, then in the directories given, then
// in /usr/sbin and /sbin. A directory may be a glob pattern (Debian keeps
// PostgreSQL's programs under /usr/lib/postgresql/VERSION/bin); of
// several matches the one sorting last, the newest version, wins.
func LookPath(program string, dirs ...string) (string, error) {
	p, err := exec.LookPath(program)
	if err == nil {
		return p, nil
	}
	for _, pattern := range append(dirs, sbin...) {
		matches, _ := filepath.Glob(filepath.Join(pattern, program))
		for i := len(matches) - 1; i >= 0; i-- {
			if fi, serr := os.Stat(matches[i]); serr == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
				return matches[i], nil
			}
		}
	}
	return "", fmt.Errorf("%s not found in PATH nor in %v", program, append(dirs, sbin...))
}

// Program returns the path of program, looked up in PATH, dirs and the
// sbin directories (see LookPath). If it is missing,
// t fails under CI and is skipped otherwise, naming the Debian package
// that has it.
func Program(t testing.TB, program string, dirs ...string) string {
	t.Helper()
	p, err := LookPath(program, dirs...)
	if err != nil {
		Missing(t, fmt.Sprintf("program %s", program), Install(program))
	}
	return p
}

// Programs is Program for each of programs.
func Programs(t testing.TB, programs ...string) {
	t.Helper()
	for _, p := range programs {
		Program(t, p)
	}
}

// File needs the file at path (firmware, a server module). If it is
// missing, t fails under CI and is skipped otherwise, naming the Debian
// package that has it.
func File(t testing.TB, path string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		Missing(t, "file "+path, Install(path))
	}
}

// Install says how to install a program or file the tests use.
func Install(name string) string {
	if how, ok := scripted[name]; ok {
		return how
	}
	if pkg, ok := packages[name]; ok {
		return fmt.Sprintf("apt-get install %s (scripts/install-deps installs every test dependency)", pkg)
	}
	return "install it (scripts/install-deps installs the known test dependencies)"
}

// scripted are what a script of ours builds rather than Debian packages.
var scripted = map[string]string{
	"versitygw": "scripts/install-test-servers builds it into build/tools/bin",
}

// packages maps the programs and files that tests need to the Debian
// package that has them. scripts/install-deps installs the same
// (TestInstallDepsCoversPackages checks it).
var packages = map[string]string{
	"apache2":             "apache2",
	"chromium":            "chromium",
	"initdb":              "postgresql",
	"nagios4":             "nagios4-core",
	"postgres":            "postgresql",
	"promtool":            "prometheus",
	"curl":                "curl",
	"socat":               "socat",
	"dnsmasq":             "dnsmasq-base",
	"ip":                  "iproute2",
	"debugfs":             "e2fsprogs",
	"e2fsck":              "e2fsprogs",
	"ffmpeg":              "ffmpeg",
	"ffprobe":             "ffmpeg",
	"fsck.vfat":           "dosfstools",
	"gcc":                 "gcc",
	"make":                "make",
	"mcopy":               "mtools",
	"mdir":                "mtools",
	"mkfs.ext4":           "e2fsprogs",
	"mkfs.vfat":           "dosfstools",
	"mksquashfs":          "squashfs-tools",
	"mmd":                 "mtools",
	"mtype":               "mtools",
	"nginx":               "nginx",
	"pkg-config":          "pkg-config",
	"qemu-io":             "qemu-utils",
	"qemu-system-aarch64": "qemu-system-arm",
	"qemu-system-x86_64":  "qemu-system-x86",
	"sgdisk":              "gdisk",
	"unsquashfs":          "squashfs-tools",

	NginxDAV:                          "libnginx-mod-http-dav-ext",
	"/usr/bin/convert":                "imagemagick",
	"/usr/share/OVMF/OVMF_CODE_4M.fd": "ovmf",
	"/usr/lib/systemd/boot/efi/systemd-bootx64.efi": "systemd-boot-efi",
}

// NginxDAV is nginx's PROPFIND module (its built-in dav has PUT, MKCOL
// and MOVE only), which the WebDAV tests load.
const NginxDAV = "/usr/lib/nginx/modules/ngx_http_dav_ext_module.so"
