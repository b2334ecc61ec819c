package image

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
)

// gokrazyRewrite does to a boot file what gokrazy's modifyCmdlineFile
// does on the device: it reads the file's bytes, replaces, pads a
// shorter result with spaces before each newline, and writes it back in
// place. The file's size in its directory entry does not change: what
// grew past it is no longer part of the file.
func gokrazyRewrite(file []byte, replace func([]byte) []byte) []byte {
	rep := replace(append([]byte(nil), file...))
	if pad := len(file) - len(rep); pad > 0 {
		rep = bytes.ReplaceAll(rep, []byte{'\n'}, append(bytes.Repeat([]byte{' '}, pad), '\n'))
	}
	return rep[:len(file)]
}

// gokrazy's rewrites of cmdline.txt and gokrazy.conf, from its update.go
// and gokrazy.go.
var (
	testboot = func(b []byte) []byte {
		return bytes.ReplaceAll(b, []byte{'\n'}, []byte(" gokrazy.try_boot_inactive=1\n"))
	}
	bootOnTrial = func(b []byte) []byte {
		return bytes.ReplaceAll(b, []byte("gokrazy.try_boot_inactive=1"), []byte("gokrazy.switch_on_boot=1"))
	}
	rootRe   = regexp.MustCompile(`root=[^ ]+`)
	switchTo = func(n string) func([]byte) []byte {
		return func(b []byte) []byte {
			return rootRe.ReplaceAllLiteral(b, []byte("root=PARTUUID=60c24cc1-f3f9-427a-8199-3a9f63470001/PARTNROFF="+n))
		}
	}
)

// The boot files keep working through trial boots and switches as
// gokrazy rewrites them: the trial flag reaches the kernel's command
// line and systemd-boot's options, never the kernel's path, and enough
// trials fit into the padding for years of releases between two updates
// that rewrite the boot files.
func TestBootFilesThroughTrials(t *testing.T) {
	d := &Description{Hostname: "site7"}
	cmdline, err := kernelCmdline(Boards["pc"], d, "root=/dev/sda2 ro init=/gokrazy/init panic=10 oops=panic rootdelay=10 pci=nommconf\n")
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{"cmdline.txt": []byte(cmdline), "gokrazy.conf": []byte(bootEntry(cmdline))}
	// What the kernel is given: the BIOS loader passes cmdline.txt's
	// sector, systemd-boot the options line.
	kernelArgs := func() (bios, uefi []string) {
		bios = strings.Fields(string(files["cmdline.txt"]))
		for _, l := range strings.Split(string(files["gokrazy.conf"]), "\n") {
			if rest, ok := strings.CutPrefix(l, "options "); ok {
				uefi = strings.Fields(rest)
			}
			if rest, ok := strings.CutPrefix(l, "linux "); ok && strings.TrimSpace(rest) != "/vmlinuz" {
				t.Fatalf("systemd-boot's kernel path became %q", rest)
			}
		}
		return bios, uefi
	}
	has := func(args []string, want string) bool {
		for _, a := range args {
			if a == want {
				return true
			}
		}
		return false
	}
	trials := 0
	for ; trials < 100; trials++ {
		for name, f := range files {
			files[name] = gokrazyRewrite(f, testboot)
		}
		bios, uefi := kernelArgs()
		if !has(bios, "gokrazy.try_boot_inactive=1") || !has(uefi, "gokrazy.try_boot_inactive=1") {
			break // no room left for the flag
		}
		for name, f := range files {
			files[name] = gokrazyRewrite(f, bootOnTrial)
			files[name] = gokrazyRewrite(files[name], switchTo([]string{"2", "1"}[trials%2]))
		}
		bios, uefi = kernelArgs()
		for _, args := range [][]string{bios, uefi} {
			if has(args, "gokrazy.try_boot_inactive=1") || !has(args, "rootwait") || !has(args, "root=PARTUUID=60c24cc1-f3f9-427a-8199-3a9f63470001/PARTNROFF="+[]string{"2", "1"}[trials%2]) {
				t.Fatalf("after trial %d the kernel is given %q", trials+1, args)
			}
		}
	}
	t.Logf("%d trial boots fit before the boot files need writing again", trials)
	if trials < 8 {
		t.Errorf("only %d trial boots fit into the padding", trials)
	}
}
