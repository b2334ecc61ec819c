// Package qemu boots lapsebox disk images under QEMU's software emulation,
// with gokrazy's ports forwarded to the host's loopback only, a serial log
// and a monitor socket for plugging devices in and out.
package qemu

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/lapsebox/lapsebox/image"
	"github.com/lapsebox/lapsebox/image/disk"
	"github.com/lapsebox/lapsebox/image/fat"
)

// Forward maps a guest TCP port to a port on the host's 127.0.0.1.
type Forward struct {
	Name      string // "gokrazy", "statusd"
	GuestPort int
	HostPort  int // 0 picks a free port
}

// GuestForward lets the guest reach a server on the host's loopback at an
// address of QEMU's user network ("10.0.2.100:80"); nothing else is
// reachable from the guest.
//
// Each guest connection gets its own connection to HostAddr, through a
// socat QEMU starts for it. QEMU's plain guestfwd to a TCP address opens
// one host connection when it starts and hands whatever the server sends
// to the newest guest connection to that address (libslirp looks the
// socket up by address and port): with two connections open at once, an
// answer lands on the wrong one, and a server that closes the shared
// connection cuts the guest off for good.
type GuestForward struct {
	GuestAddr string // 10.0.2.x:port
	HostAddr  string // 127.0.0.1:port
}

// guestfwd is the -netdev option of g, HostAddr checked: it becomes part
// of a command line.
func (g GuestForward) guestfwd() (string, error) {
	if gh, gp, err := net.SplitHostPort(g.GuestAddr); err != nil || net.ParseIP(gh).To4() == nil || strings.ContainsAny(gp, ",-: ") {
		return "", fmt.Errorf("qemu: guest forward at %q: want 10.0.2.x:port", g.GuestAddr)
	}
	host, port, err := net.SplitHostPort(g.HostAddr)
	ip := net.ParseIP(host)
	n, perr := strconv.Atoi(port)
	switch {
	case err != nil || ip == nil || perr != nil || n < 1 || n > 65535:
		return "", fmt.Errorf("qemu: guest forward to %q: want 127.x.x.x:port", g.HostAddr)
	case !ip.IsLoopback() || ip.To4() == nil:
		return "", fmt.Errorf("qemu: guest forward to %s: only the host's loopback may be reached", g.HostAddr)
	}
	relay, err := exec.LookPath("socat")
	if err != nil {
		return "", fmt.Errorf("qemu: guest forward to %s: %w (apt-get install socat)", g.HostAddr, err)
	}
	return fmt.Sprintf(",guestfwd=tcp:%s-cmd:%s - TCP:%s:%d", g.GuestAddr, relay, ip, n), nil
}

// Config describes a VM.
type Config struct {
	Image    string       // disk image, used in place: the guest writes to it
	Board    *image.Board // how to boot it
	Forwards []Forward
	// ToHost are the host services the guest may reach.
	ToHost []GuestForward
	// StateDir holds the serial log, the monitor socket and firmware
	// variables ("" = a new temporary directory, removed by Stop).
	StateDir string
	MemoryMB int  // 0 = 1024
	UEFI     bool // boot a PC image through OVMF and systemd-boot
	// ExtraArgs are appended to QEMU's command line (devices, say).
	ExtraArgs []string
	// Stderr receives QEMU's own messages (nil = the serial log only).
	Stderr io.Writer
	// WriteCache, if set, serves Image to the guest through a volatile
	// write cache (see WriteCache), so that PowerCut loses what the guest
	// did not flush, as a real disk does.
	WriteCache *WriteCacheConfig
}

// VM is a running virtual machine.
type VM struct {
	// Ports maps each Forward's name to its host port on 127.0.0.1.
	Ports map[string]int
	// SerialLog is the file the guest's serial console is written to.
	SerialLog string
	// Cache is the disk's write cache (nil without Config.WriteCache).
	Cache *WriteCache

	monitor    string
	stateDir   string
	removeDir  bool
	done       chan struct{}
	waitErr    error
	stopOnce   sync.Once
	monitorMux sync.Mutex

	binary string
	args   []string // QEMU's arguments but the kernel's
	stderr io.Writer
	// boot, for a direct kernel boot, reads the kernel's arguments from
	// the disk's boot FAT anew.
	boot func() ([]string, error)

	mu       sync.Mutex // guards what follows
	cmd      *exec.Cmd  // the running QEMU
	boots    int
	stopping bool
	// serial is the serial log as Stop found it, when Stop removed the
	// state directory: a failed test shows the console after stopping.
	serial []byte
}

// OVMF firmware, from Debian's ovmf package.
var (
	OVMFCode = "/usr/share/OVMF/OVMF_CODE_4M.fd"
	OVMFVars = "/usr/share/OVMF/OVMF_VARS_4M.fd"
)

// Start boots cfg.Image. The VM runs until Stop, or until ctx is done.
func Start(ctx context.Context, cfg Config) (*VM, error) {
	b := cfg.Board
	if b == nil || b.QEMU.Binary == "" {
		name := "<nil>"
		if b != nil {
			name = b.Name
		}
		return nil, fmt.Errorf("qemu: board %s cannot be emulated: build BOARD=pc, BOARD=virt or BOARD=rpi", name)
	}
	if _, err := exec.LookPath(b.QEMU.Binary); err != nil {
		return nil, fmt.Errorf("qemu: %s not found: apt-get install %s", b.QEMU.Binary, debianPackage(b.QEMU.Binary))
	}
	if _, err := os.Stat(cfg.Image); err != nil {
		return nil, fmt.Errorf("qemu: %w", err)
	}
	vm := &VM{Ports: map[string]int{}, stateDir: cfg.StateDir, done: make(chan struct{})}
	if vm.stateDir == "" {
		dir, err := os.MkdirTemp("", "lapsebox-vm-")
		if err != nil {
			return nil, err
		}
		vm.stateDir, vm.removeDir = dir, true
	} else if err := os.MkdirAll(vm.stateDir, 0o755); err != nil {
		return nil, err
	}
	vm.SerialLog = filepath.Join(vm.stateDir, "serial.log")
	// QEMU appends, so that the log of a VM that reboots holds every boot.
	if err := os.Remove(vm.SerialLog); err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	// Unix socket paths are limited to 108 bytes; state dirs can be deep.
	vm.monitor = socketPath(vm.stateDir, "monitor")
	os.Remove(vm.monitor)

	mem := cfg.MemoryMB
	if mem == 0 {
		mem = 1024
	}
	cpus := b.QEMU.CPUs
	if cpus == 0 {
		cpus = 2
	}
	args := append([]string{}, b.QEMU.Args...)
	args = append(args,
		"-m", strconv.Itoa(mem), "-smp", strconv.Itoa(cpus),
		// -nodefaults: no CD-ROM drive, whose empty /dev/sr0 gokrazy's
		// root device lookup reports on the console at every status
		// request, burying what the console is kept for.
		"-nodefaults", "-display", "none", "-no-user-config",
		"-chardev", "file,id=console,append=on,path="+vm.SerialLog,
	)
	for i := 0; i < b.QEMU.SerialPort; i++ {
		args = append(args, "-serial", "null")
	}
	args = append(args,
		"-serial", "chardev:console",
		"-monitor", "unix:"+vm.monitor+",server,nowait",
	)
	if cfg.WriteCache != nil {
		c, err := NewWriteCache(cfg.Image, socketPath(vm.stateDir, "disk"), *cfg.WriteCache)
		if err != nil {
			return nil, err
		}
		vm.Cache = c
		args = append(args, c.DriveArgs(b.QEMU.Disk)...)
	} else {
		args = append(args, "-drive", "file="+cfg.Image+",format=raw,if="+b.QEMU.Disk)
	}
	// Every error return from here on must close the cache.
	ok := false
	defer func() {
		if !ok && vm.Cache != nil {
			vm.Cache.Close()
		}
	}()
	netdev := "user,id=net0,restrict=on" // the guest reaches nothing but its forwards
	for _, f := range cfg.Forwards {
		port := f.HostPort
		if port == 0 {
			var err error
			if port, err = freePort(); err != nil {
				return nil, err
			}
		}
		vm.Ports[f.Name] = port
		netdev += fmt.Sprintf(",hostfwd=tcp:127.0.0.1:%d-:%d", port, f.GuestPort)
	}
	for _, g := range cfg.ToHost {
		opt, err := g.guestfwd()
		if err != nil {
			return nil, err
		}
		netdev += opt
	}
	nic := b.QEMU.NIC
	if nic == "" {
		nic = "virtio-net-pci"
	}
	args = append(args, "-netdev", netdev, "-device", nic+",netdev=net0")
	if cfg.UEFI {
		if b.GOARCH != "amd64" {
			return nil, fmt.Errorf("qemu: UEFI boot is supported for the pc board only")
		}
		vars := filepath.Join(vm.stateDir, "OVMF_VARS.fd")
		if err := copyFile(OVMFVars, vars); err != nil {
			return nil, fmt.Errorf("qemu: UEFI firmware variables: %w (apt-get install ovmf)", err)
		}
		args = append(args,
			"-drive", "if=pflash,format=raw,unit=0,readonly=on,file="+OVMFCode,
			"-drive", "if=pflash,format=raw,unit=1,file="+vars)
	}
	args = append(args, cfg.ExtraArgs...)
	if b.QEMU.DirectKernel {
		// A guest reboot must read the FAT again (see supervise): QEMU's
		// own reset would boot the kernel and command line it started with.
		args = append(args, "-no-reboot")
		vm.boot = func() ([]string, error) {
			if vm.Cache != nil {
				return extractKernel(vm.Cache, cfg.Image, vm.stateDir, b.QEMU)
			}
			f, err := os.Open(cfg.Image)
			if err != nil {
				return nil, fmt.Errorf("qemu: %w", err)
			}
			defer f.Close()
			return extractKernel(f, cfg.Image, vm.stateDir, b.QEMU)
		}
	}
	vm.binary, vm.args, vm.stderr = b.QEMU.Binary, args, cfg.Stderr
	cmd, err := vm.launch()
	if err != nil {
		return nil, err
	}
	ok = true
	go vm.supervise(cmd)
	go func() {
		select {
		case <-ctx.Done():
			vm.Stop()
		case <-vm.done:
		}
	}()
	return vm, nil
}

// launch starts QEMU, unless the VM is stopping.
func (vm *VM) launch() (*exec.Cmd, error) {
	args := vm.args
	if vm.boot != nil {
		boot, err := vm.boot()
		if err != nil {
			return nil, err
		}
		args = append(append([]string{}, args...), boot...)
	}
	vm.mu.Lock()
	defer vm.mu.Unlock()
	if vm.stopping {
		return nil, errors.New("qemu: stopped")
	}
	os.Remove(vm.monitor)
	cmd := exec.Command(vm.binary, args...)
	cmd.Stdout = vm.stderr
	cmd.Stderr = vm.stderr
	// Its own process group: Ctrl-C reaches lapsebox, which stops QEMU in
	// order, rather than QEMU directly.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("qemu: starting %s: %w", vm.binary, err)
	}
	vm.cmd = cmd
	vm.boots++
	return cmd, nil
}

// Done is closed when QEMU has exited.
func (vm *VM) Done() <-chan struct{} { return vm.done }

// Err returns how QEMU exited, once Done is closed.
func (vm *VM) Err() error { return vm.waitErr }

// Addr returns the host address of the named forward.
func (vm *VM) Addr(name string) string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(vm.Ports[name]))
}

// Monitor runs one command on QEMU's human monitor and returns its output.
func (vm *VM) Monitor(command string) (string, error) {
	vm.monitorMux.Lock()
	defer vm.monitorMux.Unlock()
	var conn net.Conn
	var err error
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if conn, err = net.Dial("unix", vm.monitor); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		return "", fmt.Errorf("qemu monitor: %w", err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(conn)
	// The monitor greets, then prompts "(qemu) " after every command.
	if _, err := readUntilPrompt(r); err != nil {
		return "", fmt.Errorf("qemu monitor: %w", err)
	}
	if _, err := fmt.Fprintf(conn, "%s\n", command); err != nil {
		return "", fmt.Errorf("qemu monitor: %s: %w", command, err)
	}
	out, err := readUntilPrompt(r)
	if err != nil && !(command == "quit" && errors.Is(err, io.EOF)) {
		return out, fmt.Errorf("qemu monitor: %s: %w", command, err)
	}
	// The monitor echoes the command line with terminal escapes first.
	if i := strings.Index(out, "\n"); i >= 0 {
		out = out[i+1:]
	}
	return strings.TrimSpace(strings.ReplaceAll(out, "\r", "")), nil
}

func readUntilPrompt(r *bufio.Reader) (string, error) {
	var sb strings.Builder
	for {
		b, err := r.ReadByte()
		if err != nil {
			return sb.String(), err
		}
		sb.WriteByte(b)
		if strings.HasSuffix(sb.String(), "(qemu) ") {
			return strings.TrimSuffix(sb.String(), "(qemu) "), nil
		}
	}
}

// Stop asks QEMU to quit, kills it if it does not within a few seconds,
// closes the disk's write cache (writing back what it holds) and removes
// a temporary state directory.
func (vm *VM) Stop() error {
	var err error
	vm.stopOnce.Do(func() {
		vm.mu.Lock()
		vm.stopping = true
		vm.mu.Unlock()
		select {
		case <-vm.done:
		default:
			vm.Monitor("quit")
			select {
			case <-vm.done:
			case <-time.After(5 * time.Second):
				vm.mu.Lock()
				vm.cmd.Process.Kill()
				vm.mu.Unlock()
				<-vm.done
			}
		}
		if vm.Cache != nil {
			err = vm.Cache.Close()
		}
		if vm.removeDir {
			b, _ := os.ReadFile(vm.SerialLog)
			vm.mu.Lock()
			vm.serial = b
			vm.mu.Unlock()
			os.RemoveAll(vm.stateDir)
		}
		os.Remove(vm.monitor)
	})
	return err
}

// PowerCut cuts the VM's power: the disk's write cache keeps or loses
// each page the guest did not flush (WriteCacheConfig.Survive) and
// answers nothing more, then QEMU quits. It needs Config.WriteCache: a VM
// on a plain file loses nothing the guest wrote when QEMU quits.
func (vm *VM) PowerCut() (CutReport, error) {
	if vm.Cache == nil {
		return CutReport{}, errors.New("qemu: power cut without a write cache (Config.WriteCache) would lose nothing the guest wrote")
	}
	rep, err := vm.Cache.Cut()
	if serr := vm.Stop(); err == nil {
		err = serr
	}
	return rep, err
}

// socketPath is a Unix socket named name in dir, or in the temporary
// directory when dir is too deep for a socket path (108 bytes).
func socketPath(dir, name string) string {
	p := filepath.Join(dir, name+".sock")
	if len(p) > 100 {
		p = filepath.Join(os.TempDir(), fmt.Sprintf("lapsebox-%s-%d-%d.sock", name, os.Getpid(), time.Now().UnixNano()))
	}
	return p
}

// SerialOutput returns what the guest has written to its serial console,
// also after Stop.
func (vm *VM) SerialOutput() string {
	vm.mu.Lock()
	kept := vm.serial
	vm.mu.Unlock()
	if kept != nil {
		return string(kept)
	}
	b, _ := os.ReadFile(vm.SerialLog)
	return string(b)
}

// extractKernel plays the boot loader for boards whose firmware QEMU does
// not provide: it reads vmlinuz, cmdline.txt and the board's device tree
// from the image's boot FAT, so a root switch made by an update takes
// effect at the next boot, and returns QEMU's arguments to boot them.
func extractKernel(d io.ReaderAt, imagePath, dir string, m image.QEMUMachine) ([]string, error) {
	// The firmware finds the boot partition through MBR entry 1, which
	// an update may have switched to the other boot slot.
	slot, _, err := disk.Slots(d)
	if err != nil {
		return nil, fmt.Errorf("qemu: %s: %w", imagePath, err)
	}
	bootOffset := disk.BootSlotStart(slot) * disk.SectorSize
	boot := io.NewSectionReader(d, bootOffset, disk.BootSectors*disk.SectorSize)
	read := func(name string) ([]byte, error) {
		off, n, err := fat.Find(boot, name)
		if err != nil {
			return nil, fmt.Errorf("qemu: reading %s from the boot partition of %s: %w", name, imagePath, err)
		}
		buf := make([]byte, n)
		if _, err := boot.ReadAt(buf, off); err != nil {
			return nil, fmt.Errorf("qemu: reading %s from the boot partition of %s: %w", name, imagePath, err)
		}
		return buf, nil
	}
	extract := func(name string) (string, error) {
		data, err := read("/" + name)
		if err != nil {
			return "", err
		}
		p := filepath.Join(dir, name)
		return p, os.WriteFile(p, data, 0o644)
	}
	kernel, err := extract("vmlinuz")
	if err != nil {
		return nil, err
	}
	line, err := read("/cmdline.txt")
	if err != nil {
		return nil, err
	}
	args := []string{"-kernel", kernel, "-append", bootCmdline(m, string(line))}
	if m.DTB != "" {
		// The firmware finds the device tree by its long name, which
		// gokrazy's reader (fat.Find) does not: mtools reads it as the
		// firmware would.
		dtb := filepath.Join(dir, m.DTB)
		src := fmt.Sprintf("%s@@%d", imagePath, bootOffset)
		if out, err := exec.Command("mcopy", "-o", "-n", "-i", src, "::/"+m.DTB, dtb).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("qemu: reading %s from the boot partition of %s (mcopy, apt-get install mtools): %v: %s", m.DTB, imagePath, err, bytes.TrimSpace(out))
		}
		args = append(args, "-dtb", dtb)
	}
	return args, nil
}

// bootCmdline is the kernel command line QEMU passes for cmdline.txt's
// line: what the board's firmware would pass (console=serial0 resolved),
// plus the machine's workarounds.
func bootCmdline(m image.QEMUMachine, line string) string {
	args := strings.Fields(line)
	for i, a := range args {
		if m.Serial0 != "" && (a == "console=serial0" || strings.HasPrefix(a, "console=serial0,")) {
			args[i] = "console=" + m.Serial0 + strings.TrimPrefix(a, "console=serial0")
		}
	}
	return strings.Join(append(args, m.KernelArgs...), " ")
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("qemu: finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o644)
}

func debianPackage(binary string) string {
	if strings.HasSuffix(binary, "aarch64") {
		return "qemu-system-arm"
	}
	return "qemu-system-x86"
}

// CopyDisk copies a disk image keeping it sparse (a 2 GiB image holds a few
// dozen MiB of data), replacing dst.
func CopyDisk(src, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	tmp := dst + ".tmp"
	if out, err := exec.Command("cp", "--sparse=always", "--reflink=auto", src, tmp).CombinedOutput(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("copying %s: %v: %s", src, err, out)
	}
	return os.Rename(tmp, dst)
}
