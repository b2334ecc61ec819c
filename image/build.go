package image

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/lapsebox/lapsebox/image/disk"
	"github.com/lapsebox/lapsebox/image/release"
)

// BootloaderModule holds the Minimal Linux Bootloader that gokrazy's PCs
// boot from the MBR. This version has the fix for kernels over 16 MiB
// (gokrazy issue 248); the module's packages are internal to gokrazy, so the
// build reads the file from the module rather than importing it.
const BootloaderModule = "github.com/gokrazy/internal@v0.0.0-20260625065634-6994f9152c44"

// Options configure a build.
type Options struct {
	Board       *Board
	Description *Description
	// Output is the disk image to write; its manifest goes beside it as
	// Output+".json". Nothing is left at either path when the build fails.
	Output string
	// ModuleRoot is the lapsebox checkout to build from ("" = the module
	// of the working directory).
	ModuleRoot string
	// ConfigDir holds device passwords ("" = DefaultConfigDir).
	ConfigDir string
	// Timestamp is the build timestamp ("" = now); updaters wait for the
	// device to report it.
	Timestamp time.Time
	// PermFiles are written onto /perm at build time, by path relative to
	// it (a site configuration: "lapsebox/config.json"), root's with mode
	// 0600; the caller validates them.
	PermFiles map[string][]byte
	// ReleaseKey, if set, is baked into the root (release.KeyPath): the
	// device then installs pulled releases signed with its private half.
	ReleaseKey ed25519.PublicKey
	// Logf reports progress (nil = quiet).
	Logf func(format string, args ...any)
}

// Region is a file system within the disk image.
type Region struct {
	Offset int64  // bytes from the start of the disk image
	Size   int64  // bytes of file system, not the partition
	SHA256 string // of those bytes
}

// Manifest describes a built image: what an update sends and how the
// device built from it is reached.
type Manifest struct {
	Board          string
	GOARCH         string
	Hostname       string
	BuildTimestamp string
	// Version is the source's commit (sourceVersion), "" if unknown.
	Version       string
	DiskSizeBytes int64
	HTTPPort      int
	PasswordFile  string
	Boot, Root    Region
	// BootCode is the MBR's first 446 bytes, which an update rewrites.
	BootCode Region
	Services []string
	Cmdline  string
	// ReleaseKeyID names the release key baked into the root
	// (release.KeyID), empty if none.
	ReleaseKeyID string `json:",omitempty"`
	// Steps records how long each build step took.
	Steps []Step
}

// Step is one timed build step.
type Step struct {
	Name     string
	Duration time.Duration
}

// ReadManifest reads the manifest written beside a disk image.
func ReadManifest(imagePath string) (*Manifest, error) {
	b, err := os.ReadFile(imagePath + ".json")
	if err != nil {
		return nil, fmt.Errorf("reading image manifest: %w (was %s built by lapsebox?)", err, imagePath)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("image manifest %s.json: %w", imagePath, err)
	}
	return &m, nil
}

// requiredTools are the Debian programs a build runs, with their packages.
var requiredTools = []struct{ program, pkg string }{
	{"mksquashfs", "squashfs-tools"},
	{"mkfs.ext4", "e2fsprogs"},
}

// CheckTools reports every missing host program with the package to install.
func CheckTools() error {
	var errs []error
	for _, t := range requiredTools {
		if _, err := exec.LookPath(t.program); err != nil {
			errs = append(errs, fmt.Errorf("%s not found in PATH: apt-get install %s", t.program, t.pkg))
		}
	}
	return errors.Join(errs...)
}

// Build builds a disk image.
func Build(ctx context.Context, opts Options) (*Manifest, error) {
	b, d := opts.Board, opts.Description
	if b == nil || d == nil || opts.Output == "" {
		return nil, errors.New("image: Build needs a board, a description and an output path")
	}
	logf := opts.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if err := CheckTools(); err != nil {
		return nil, err
	}
	root := opts.ModuleRoot
	if root == "" {
		var err error
		if root, err = ModuleRoot("."); err != nil {
			return nil, err
		}
	}
	configDir := opts.ConfigDir
	if configDir == "" {
		var err error
		if configDir, err = DefaultConfigDir(); err != nil {
			return nil, err
		}
	}
	ts := opts.Timestamp
	if ts.IsZero() {
		ts = time.Now()
	}
	ts = ts.UTC()
	m := &Manifest{
		Board:          b.Name,
		GOARCH:         b.GOARCH,
		Hostname:       d.Hostname,
		BuildTimestamp: ts.Format(time.RFC3339Nano),
		Version:        sourceVersion(ctx, root),
		DiskSizeBytes:  d.DiskSizeBytes,
		HTTPPort:       d.HTTPPort,
	}
	step := func(name string, start time.Time) {
		m.Steps = append(m.Steps, Step{name, time.Since(start).Round(time.Millisecond)})
		logf("%-12s %v", name, time.Since(start).Round(time.Millisecond))
	}

	password, pwPath, err := Password(d, configDir)
	if err != nil {
		return nil, err
	}
	m.PasswordFile = pwPath

	// The staged root and its squashfs: beside the module, not in /tmp,
	// which may be a small tmpfs; a leading underscore keeps the
	// directory out of ./... patterns.
	gen := filepath.Join(root, "build", "_gen")
	if err := os.MkdirAll(gen, 0o755); err != nil {
		return nil, err
	}
	work, err := os.MkdirTemp(gen, b.Name+"-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	g := goTool{moduleRoot: root}

	start := time.Now()
	in := bootInputs{kernelDir: d.KernelDir}
	if d.KernelDir != "" {
		logf("kernel from %s, not %s", d.KernelDir, b.Kernel)
	} else if in.kernelDir, err = g.moduleDir(ctx, b.Kernel); err != nil {
		return nil, err
	}
	if b.Firmware != "" {
		if in.firmwareDir, err = g.moduleDir(ctx, b.Firmware); err != nil {
			return nil, err
		}
	}
	if b.EEPROM != "" {
		if in.eepromDir, err = g.moduleDir(ctx, b.EEPROM); err != nil {
			return nil, err
		}
	}
	if b.BIOSLoader {
		dir, err := g.moduleDir(ctx, BootloaderModule)
		if err != nil {
			return nil, err
		}
		if in.bootloader, err = os.ReadFile(filepath.Join(dir, "mbr", "bootloader.img")); err != nil {
			return nil, fmt.Errorf("reading the MBR boot loader: %w", err)
		}
	}
	if b.EFILoader != "" {
		if in.efiLoader, err = os.ReadFile(b.EFILoader); err != nil {
			logf("no %s (apt-get install systemd-boot-efi): this image boots without UEFI", b.EFILoader)
			in.efiLoader = nil
		}
	}
	step("modules", start)

	// The boot file system first: the root records its hash.
	start = time.Now()
	boot, err := makeBootFS(b, d, in, in.modTime(ts))
	if err != nil {
		return nil, err
	}
	m.Cmdline = boot.cmdline
	step("boot", start)

	start = time.Now()
	tree := filepath.Join(work, "root")
	if err := compile(ctx, g, b, d, m, tree); err != nil {
		return nil, err
	}
	step("compile", start)

	start = time.Now()
	modules := filepath.Join(in.kernelDir, "lib", "modules")
	if _, err := os.Stat(modules); err != nil {
		modules = ""
	}
	if err := stageRoot(tree, d, password, modules); err != nil {
		return nil, fmt.Errorf("staging the root file system: %w", err)
	}
	if err := release.StageFiles(tree, release.BuildInfo{Board: b.Name, Hostname: d.Hostname, Build: ts, Version: m.Version,
		BootSHA256: fmt.Sprintf("%x", sha256.Sum256(boot.image))}, opts.ReleaseKey); err != nil {
		return nil, err
	}
	if opts.ReleaseKey != nil {
		m.ReleaseKeyID = release.KeyID(opts.ReleaseKey)
	}
	rootImg := filepath.Join(work, "root.squashfs")
	if err := makeSquashfs(ctx, tree, rootImg, ts); err != nil {
		return nil, err
	}
	step("root", start)

	start = time.Now()
	if err := assemble(ctx, opts.Output, m, boot, rootImg, opts.PermFiles); err != nil {
		return nil, err
	}
	step("assemble", start)
	return m, writeManifest(opts.Output, m)
}

// compile builds init, gokrazy's programs and the services into tree,
// and writes the init's configuration there.
func compile(ctx context.Context, g goTool, b *Board, d *Description, m *Manifest, tree string) error {
	gokrazyDir := filepath.Join(tree, "gokrazy") + string(filepath.Separator)
	userDir := filepath.Join(tree, "user") + string(filepath.Separator)
	for _, dir := range []string{gokrazyDir, userDir} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	if err := writeInitConfig(tree, m.BuildTimestamp, d); err != nil {
		return err
	}
	if err := g.build(ctx, b.GOARCH, false, filepath.Join(gokrazyDir, "init"), initPackage); err != nil {
		return err
	}
	if err := g.build(ctx, b.GOARCH, false, gokrazyDir, d.GokrazyPackages...); err != nil {
		return err
	}
	// Services named after their package build together; renamed or cgo
	// ones one by one.
	var plain []string
	for _, s := range d.Services {
		m.Services = append(m.Services, s.Binary())
		if s.Name == "" && !s.CGO {
			plain = append(plain, s.Package)
			continue
		}
		if err := g.build(ctx, b.GOARCH, s.CGO, filepath.Join(userDir, s.Binary()), s.Package); err != nil {
			return err
		}
	}
	if err := g.build(ctx, b.GOARCH, false, userDir, plain...); err != nil {
		return err
	}
	// A package that is not a main package builds without error and
	// without a binary: catch it here rather than on the device.
	for _, s := range d.Services {
		if _, err := os.Stat(filepath.Join(userDir, s.Binary())); err != nil {
			return &BuildError{Packages: []string{s.Package}, Err: fmt.Errorf("no binary %s: is it a main package?", s.Binary())}
		}
	}
	for _, p := range d.GokrazyPackages {
		if _, err := os.Stat(filepath.Join(gokrazyDir, path.Base(p))); err != nil {
			return &BuildError{Packages: []string{p}, Err: fmt.Errorf("no binary %s: is it a main package?", path.Base(p))}
		}
	}
	return nil
}

// assemble writes the disk image to a temporary file beside out, then
// renames it into place: a failed or interrupted build leaves no half
// image at out.
func assemble(ctx context.Context, out string, m *Manifest, boot *bootFS, rootImg string, permFiles map[string][]byte) (err error) {
	layout := disk.Layout{SizeBytes: m.DiskSizeBytes, Hostname: m.Hostname, GOARCH: m.GOARCH}
	parts, err := layout.Partitions()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		f.Close()
		if err != nil {
			os.Remove(tmp)
		}
	}()
	if err := f.Truncate(m.DiskSizeBytes); err != nil {
		return err
	}
	if err := disk.WriteTable(f, layout, boot.bootCode); err != nil {
		return err
	}
	if _, err := f.WriteAt(boot.image, parts[0].Offset()); err != nil {
		return fmt.Errorf("writing boot file system: %w", err)
	}
	m.Boot = region(parts[0].Offset(), boot.image)
	m.BootCode = region(0, boot.bootCode[:])

	root, err := os.Open(rootImg)
	if err != nil {
		return err
	}
	defer root.Close()
	h := sha256.New()
	n, err := io.Copy(io.NewOffsetWriter(f, parts[1].Offset()), io.TeeReader(root, h))
	if err != nil {
		return fmt.Errorf("writing root file system: %w", err)
	}
	if n > parts[1].Bytes() {
		return fmt.Errorf("root file system is %d bytes, the root partition holds %d: drop services or files", n, parts[1].Bytes())
	}
	m.Root = Region{Offset: parts[1].Offset(), Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}
	if err := f.Sync(); err != nil {
		return err
	}

	perm := parts[3]
	cmd := exec.CommandContext(ctx, "mkfs.ext4", "-q", "-F", "-L", "perm",
		"-U", disk.PartUUID(m.Hostname, 4).String(),
		"-E", "offset="+strconv.FormatInt(perm.Offset(), 10),
		tmp, strconv.FormatInt(perm.Bytes()/1024, 10)+"k")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("formatting /perm: mkfs.ext4: %v\n%s", err, b)
	}
	for _, name := range slices.Sorted(maps.Keys(permFiles)) {
		if err := writePermFile(ctx, tmp, perm.Offset(), name, permFiles[name]); err != nil {
			return err
		}
	}
	if err := f.Close(); err != nil {
		return err
	}
	// Never leave the new image beside the old manifest.
	if err := os.Remove(out + ".json"); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return os.Rename(tmp, out)
}

func region(offset int64, data []byte) Region {
	sum := sha256.Sum256(data)
	return Region{Offset: offset, Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:])}
}

func writeManifest(out string, m *Manifest) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	tmp := out + ".json.tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, out+".json"); err != nil {
		os.Remove(out)
		return err
	}
	return nil
}

// VerifyRegion checks that r's bytes in s hash to what the manifest says:
// an image changed since it was built is not pushed to a device.
func VerifyRegion(s *io.SectionReader, r Region) error {
	h := sha256.New()
	if _, err := io.Copy(h, s); err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != r.SHA256 {
		return fmt.Errorf("sha256 %s, the manifest says %s: the image changed since it was built", got, r.SHA256)
	}
	_, err := s.Seek(0, io.SeekStart)
	return err
}
