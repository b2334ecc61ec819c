package image

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// caBundles are where Debian-like and other hosts keep the CA certificates
// the appliance needs for HTTPS uploads.
var caBundles = []string{
	"/etc/ssl/certs/ca-certificates.crt",
	"/etc/pki/tls/certs/ca-bundle.crt",
	"/etc/ssl/cert.pem",
}

// rootTree is the staged content of the root file system.
type rootTree struct {
	dir string
}

// stageRoot lays out the root file system in dir: the binaries already built
// into dir/gokrazy and dir/user, plus the directories, configuration files,
// kernel modules and extra files gokrazy's init and the services expect.
func stageRoot(dir string, d *Description, password, modulesDir string) error {
	for _, sub := range []string{"bin", "dev", "etc/ssl", "etc/gokrazy", "proc", "sys", "tmp", "perm", "lib", "run", "mnt"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return err
		}
	}
	links := map[string]string{
		"var":             "/perm/var",
		"etc/resolv.conf": "/tmp/resolv.conf",
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			return err
		}
	}
	ca, err := readFirst(caBundles)
	if err != nil {
		return fmt.Errorf("no CA certificate bundle on this machine (%v): apt-get install ca-certificates", err)
	}
	files := []struct {
		name string
		data string
		mode os.FileMode
	}{
		{"etc/hostname", d.Hostname, 0o644},
		{"etc/hosts", "127.0.0.1 localhost\n::1 localhost\n", 0o644},
		{"etc/gokr-pw.txt", password, 0o400},
		{"etc/http-port.txt", strconv.Itoa(d.HTTPPort), 0o644},
		{"etc/gokrazy/mountdevices.json", "null", 0o644},
		{"etc/ssl/ca-bundle.pem", string(ca), 0o644},
	}
	for _, svc := range d.Services {
		for p, content := range svc.ExtraFiles {
			files = append(files, struct {
				name string
				data string
				mode os.FileMode
			}{strings.TrimPrefix(p, "/"), content, 0o644})
		}
	}
	for _, f := range files {
		p := filepath.Join(dir, f.name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("root file system: /%s is written twice (an extra file clashes with another)", f.name)
		}
		if err := os.WriteFile(p, []byte(f.data), f.mode); err != nil {
			return err
		}
	}
	if modulesDir != "" {
		if err := copyTree(modulesDir, filepath.Join(dir, "lib", "modules")); err != nil {
			return fmt.Errorf("copying kernel modules: %w", err)
		}
	}
	return nil
}

func readFirst(paths []string) ([]byte, error) {
	var firstErr error
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err == nil {
			return b, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return nil, firstErr
}

// copyTree copies regular files and directories (module caches hold no
// links) with writable permissions, since the module cache is read-only.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if e.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !e.Type().IsRegular() {
			return fmt.Errorf("%s: not a regular file", p)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
}

// makeSquashfs packs dir into an uncompressed squashfs, owned by root,
// with every timestamp set to mtime so identical inputs give identical
// images.
//
// Uncompressed, because a compressed root cannot be patched: a program
// rebuilt after a small change differs from the old one in small, regular
// ways all through its bytes, which a patch (image/delta) sends in a few
// hundred KiB, but its compressed blocks differ entirely. The root takes
// about 2.7 times the space in its 500 MiB partition; releases travel
// compressed (patches, and blocks gzipped on the way), and the boot takes
// as long (BenchmarkBootPC).
func makeSquashfs(ctx context.Context, dir, out string, mtime time.Time) error {
	ts := strconv.FormatInt(mtime.Unix(), 10)
	cmd := exec.CommandContext(ctx, "mksquashfs", dir, out,
		"-noappend", "-all-root", "-noI", "-noD", "-noF", "-noX", "-quiet", "-no-progress",
		"-mkfs-time", ts, "-all-time", ts, "-processors", "2")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("mksquashfs: %v\n%s", err, b)
	}
	return nil
}
