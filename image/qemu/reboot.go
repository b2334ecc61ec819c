package qemu

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"time"
)

// rebootLine is what Linux prints on its console as it restarts.
const rebootLine = "reboot: Restarting system"

// supervise waits for QEMU to exit and then closes vm.done. Under a direct
// kernel boot, a guest reboot starts QEMU again with the kernel, command
// line and device tree the boot FAT holds now, as the board's boot loader
// would read them: QEMU's own reset would boot the ones it started with
// (the old root after an update), and the Pi kernel under QEMU cannot
// reset the machine at all (its reset is the watchdog, kept out under
// QEMU). The reboot shows as the kernel's last line on the console, or,
// where the machine can reset, as QEMU exiting (-no-reboot) after it.
func (vm *VM) supervise(cmd *exec.Cmd) {
	for {
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		var err error
		if vm.boot == nil {
			err = <-exited
		} else {
			var rebooted bool
			if rebooted, err = vm.waitReboot(exited); rebooted {
				if cmd, err = vm.launch(); err == nil {
					continue
				}
			}
		}
		vm.waitErr = err
		close(vm.done)
		return
	}
}

// waitReboot waits until QEMU exits or the guest reboots; on a reboot it
// makes QEMU quit.
func (vm *VM) waitReboot(exited <-chan error) (rebooted bool, err error) {
	w := &lineWatch{path: vm.SerialLog, line: []byte(rebootLine)}
	w.pos, _ = fileSize(vm.SerialLog)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-exited:
			return w.seen() && !vm.isStopping(), err
		case <-tick.C:
			if !w.seen() {
				continue
			}
			// Let a machine that resets by itself do so, then pull the plug.
			select {
			case err = <-exited:
			case <-time.After(3 * time.Second):
				vm.Monitor("quit")
				select {
				case err = <-exited:
				case <-time.After(5 * time.Second):
					vm.mu.Lock()
					vm.cmd.Process.Kill()
					vm.mu.Unlock()
					err = <-exited
				}
			}
			return !vm.isStopping(), err
		}
	}
}

func (vm *VM) isStopping() bool {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	return vm.stopping
}

// Boots returns how many times the VM has booted: a guest reboot under a
// direct kernel boot starts QEMU again.
func (vm *VM) Boots() int {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	return vm.boots
}

// lineWatch finds a line appended to a file after pos.
type lineWatch struct {
	path  string
	line  []byte
	pos   int64
	tail  []byte // the last bytes read, for a line split across reads
	found bool
}

func (w *lineWatch) seen() bool {
	if w.found {
		return true
	}
	f, err := os.Open(w.path)
	if err != nil {
		return false
	}
	defer f.Close()
	buf, err := io.ReadAll(io.NewSectionReader(f, w.pos, 1<<40))
	if err != nil {
		return false
	}
	w.pos += int64(len(buf))
	buf = append(w.tail, buf...)
	if bytes.Contains(buf, w.line) {
		w.found = true
		return true
	}
	if keep := len(w.line) - 1; len(buf) > keep {
		buf = buf[len(buf)-keep:]
	}
	w.tail = append([]byte{}, buf...)
	return false
}

func fileSize(path string) (int64, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// ReadAt reads the disk as the guest sees it, cached writes included.
func (c *WriteCache) ReadAt(p []byte, off int64) (int, error) {
	data, err := c.read(off, len(p))
	if err != nil {
		return 0, err
	}
	return copy(p, data), nil
}
