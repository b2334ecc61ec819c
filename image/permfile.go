package image

import (
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"

	"github.com/lapsebox/lapsebox/image/disk"
)

// WritePermFile puts a file on the /perm partition of a disk image built
// from m (say a site configuration, before the first boot), creating its
// directories. It uses e2fsprogs' debugfs, which reads the partition in
// place; the image must not be running.
func WritePermFile(diskPath string, m *Manifest, name string, data []byte) error {
	if _, err := exec.LookPath("debugfs"); err != nil {
		return fmt.Errorf("debugfs not found: apt-get install e2fsprogs")
	}
	parts, err := disk.Layout{SizeBytes: m.DiskSizeBytes, Hostname: m.Hostname, GOARCH: m.GOARCH}.Partitions()
	if err != nil {
		return err
	}
	target := diskPath + "?offset=" + strconv.FormatInt(parts[3].Offset(), 10)
	tmp, err := os.CreateTemp("", "permfile-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	tmp.Close()
	name = path.Clean("/" + name)
	var dirs []string
	for d := path.Dir(name); d != "/"; d = path.Dir(d) {
		dirs = append([]string{d}, dirs...)
	}
	run := func(req string) error {
		out, err := exec.Command("debugfs", "-w", "-R", req, target).CombinedOutput()
		if err != nil {
			return fmt.Errorf("debugfs %s on %s: %v\n%s", req, filepath.Base(diskPath), err, out)
		}
		return nil
	}
	for _, d := range dirs {
		run("mkdir " + d) // exists already: fine
	}
	run("rm " + name) // replace
	return run("write " + tmp.Name() + " " + name)
}
