package image

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/lapsebox/lapsebox/image/disk"
)

// WritePermFile puts a file on the /perm partition of a disk image built
// from m (a site configuration before the first boot), creating its
// directories: see writePermFile. The image must not be running.
func WritePermFile(ctx context.Context, diskPath string, m *Manifest, name string, data []byte) error {
	parts, err := disk.Layout{SizeBytes: m.DiskSizeBytes, Hostname: m.Hostname, GOARCH: m.GOARCH}.Partitions()
	if err != nil {
		return err
	}
	return writePermFile(ctx, diskPath, parts[3].Offset(), name, data)
}

// writePermFile writes data as name (relative to /perm) into the ext4 file
// system at offset in diskPath, with e2fsprogs' debugfs, which edits the
// file system in place without mounting it (no loop device, no root).
// The file is root's with mode 0600 (the services run as root; a site
// configuration holds secrets), its new directories root's with mode 0755.
// A path component that exists but is not a directory (a symlink) is
// refused rather than followed. debugfs exits 0 even when a request fails,
// so the result is read back and compared: content, type, owner and mode.
func writePermFile(ctx context.Context, diskPath string, offset int64, name string, data []byte) error {
	if _, err := exec.LookPath("debugfs"); err != nil {
		return errors.New("debugfs not found: apt-get install e2fsprogs")
	}
	name = path.Clean("/" + name)
	if name == "/" || strings.ContainsAny(name, "\"\n") {
		return fmt.Errorf("image: %q is not a file name for /perm", name)
	}
	fs := &debugfs{ctx: ctx, target: diskPath + "?offset=" + strconv.FormatInt(offset, 10), disk: filepath.Base(diskPath)}
	var dirs []string
	for d := path.Dir(name); d != "/"; d = path.Dir(d) {
		dirs = append([]string{d}, dirs...)
	}
	var reqs []string
	for _, d := range dirs {
		st, err := fs.stat(d)
		if err != nil {
			return err
		}
		switch st.typ {
		case "":
			reqs = append(reqs, "mkdir "+quote(d), "sif "+quote(d)+" uid 0", "sif "+quote(d)+" gid 0", "sif "+quote(d)+" mode 040755")
		case "directory":
		default:
			return fmt.Errorf("image: /perm%s in %s is a %s, not a directory: not written through", d, fs.disk, st.typ)
		}
	}
	st, err := fs.stat(name)
	if err != nil {
		return err
	}
	switch st.typ {
	case "":
	case "regular":
		reqs = append(reqs, "rm "+quote(name))
	default:
		return fmt.Errorf("image: /perm%s in %s is a %s: not replaced", name, fs.disk, st.typ)
	}

	tmp, err := os.CreateTemp("", "permfile-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if strings.ContainsAny(tmp.Name(), "\"\n") {
		return fmt.Errorf("image: temporary file %q: debugfs cannot name it", tmp.Name())
	}
	reqs = append(reqs, "write "+quote(tmp.Name())+" "+quote(name), "sif "+quote(name)+" uid 0", "sif "+quote(name)+" gid 0", "sif "+quote(name)+" mode 0100600")
	if _, err := fs.run(true, reqs...); err != nil {
		return err
	}

	// Read it all back.
	for _, d := range dirs {
		if st, err := fs.stat(d); err != nil || st.typ != "directory" {
			return fmt.Errorf("image: creating /perm%s in %s failed (%+v, %v)", d, fs.disk, st, err)
		}
	}
	if st, err = fs.stat(name); err != nil {
		return err
	}
	if st != (inode{typ: "regular", mode: 0o600, uid: 0, gid: 0, size: int64(len(data))}) {
		return fmt.Errorf("image: /perm%s in %s is %+v after writing, want a regular file of %d bytes, root's, mode 0600", name, fs.disk, st, len(data))
	}
	got, err := fs.cat(name)
	if err != nil {
		return err
	}
	if !bytes.Equal(got, data) {
		return fmt.Errorf("image: /perm%s in %s does not read back as written", name, fs.disk)
	}
	return nil
}

// quote makes a path one argument of a debugfs request (paths with a
// double quote or a newline are refused before).
func quote(p string) string { return `"` + p + `"` }

// debugfs runs e2fsprogs' debugfs on one file system.
type debugfs struct {
	ctx    context.Context
	target string // path?offset=N
	disk   string // for messages
}

// inode is what debugfs's stat says of a file; typ is "" if there is none.
type inode struct {
	typ      string
	mode     uint32
	uid, gid int
	size     int64
}

var (
	statTypeRE  = regexp.MustCompile(`Type: (\S+)\s+Mode:\s+([0-7]+)`)
	statOwnerRE = regexp.MustCompile(`User:\s+(\d+)\s+Group:\s+(\d+)(?:\s+Project:\s+\d+)?\s+Size:\s+(\d+)`)
)

// stat describes name; a missing file is no error.
func (d *debugfs) stat(name string) (inode, error) {
	out, err := d.run(false, "stat "+quote(name))
	if err != nil {
		return inode{}, err
	}
	if strings.Contains(out, "File not found by ext2_lookup") {
		return inode{}, nil
	}
	t, o := statTypeRE.FindStringSubmatch(out), statOwnerRE.FindStringSubmatch(out)
	if t == nil || o == nil {
		return inode{}, fmt.Errorf("image: debugfs stat %s on /perm of %s: %s", name, d.disk, strings.TrimSpace(out))
	}
	mode, _ := strconv.ParseUint(t[2], 8, 32)
	uid, _ := strconv.Atoi(o[1])
	gid, _ := strconv.Atoi(o[2])
	size, _ := strconv.ParseInt(o[3], 10, 64)
	return inode{typ: t[1], mode: uint32(mode), uid: uid, gid: gid, size: size}, nil
}

// cat returns the content of name.
func (d *debugfs) cat(name string) ([]byte, error) {
	cmd := exec.CommandContext(d.ctx, "debugfs", "-R", "cat "+quote(name), d.target)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("image: debugfs cat %s on /perm of %s: %v\n%s", name, d.disk, err, stderr.Bytes())
	}
	return out, nil
}

// run runs requests in one debugfs session and returns what it printed.
func (d *debugfs) run(write bool, requests ...string) (string, error) {
	f, err := os.CreateTemp("", "debugfs-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(f.Name())
	if _, err := f.WriteString(strings.Join(requests, "\n") + "\n"); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	args := []string{"-f", f.Name(), d.target}
	if write {
		args = append([]string{"-w"}, args...)
	}
	out, err := exec.CommandContext(d.ctx, "debugfs", args...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("image: debugfs on /perm of %s: %v\n%s", d.disk, err, out)
	}
	return string(out), nil
}
