package fat

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"unicode/utf16"
)

// ErrNotContiguous is returned (wrapped) by Find for a file whose clusters
// do not form one run, which neither gokrazy's reader nor the MBR boot
// loader can handle.
var ErrNotContiguous = errors.New("file is not contiguous")

// Find locates path in a FAT16 image the way gokrazy's device-side reader
// (github.com/gokrazy/internal/fat.Reader.Extents) does, and returns the
// byte offset and length of the file's data within the image.
//
// It follows the device's rules: the root directory is assumed to follow a
// single FAT (NumFATs is ignored); every directory, not just the root, is
// scanned for BPB_RootEntCnt entries read contiguously from its first
// cluster; and a path component matches a short entry if the entry's
// "NAME.EXT" equals, ignoring case, the 8.3 name the device derives from
// the component, or else equals the component byte for byte. The derived
// name of an extension-less component carries a trailing dot ("LOADER."),
// so "loader", "entries" or "vmlinuz" are only found if their short names
// are literally lower case; a name that needs long-name entries is only
// found through its "~1" alias, and never if it has no extension; and a
// name with a one- or two-letter extension is never found.
//
// Find is stricter than the device wherever the device would go wrong, so
// that success means the device finds the same bytes: it fails if the
// image is not FAT16 with one FAT, if a directory it must scan is
// fragmented, if a component is missing (the device would search the next
// component in the same directory), if the entry the device would take is
// not the named file (say, another file's "~1" alias, a deleted entry or a
// long-name entry), if the path ends at a directory or runs through a file,
// if the file is empty, and if the file's clusters are not one contiguous
// run (ErrNotContiguous). A leading slash in path is optional; missing
// files wrap fs.ErrNotExist.
func Find(r io.ReaderAt, path string) (offset, length int64, err error) {
	_, offset, length, err = locate(r, path)
	return offset, length, err
}

// Slack locates the slack after path's data: the rest of its last
// cluster, which belongs to no file and which the Writer fills with
// zeros. gokrazy's in-place rewrite of a boot file that grows writes the
// excess there, past the file's length. n is 0 when the file ends at a
// cluster's end. path is found as Find finds it.
func Slack(r io.ReaderAt, path string) (offset, n int64, err error) {
	v, off, length, err := locate(r, path)
	if err != nil {
		return 0, 0, err
	}
	end := off + length
	return end, (v.clusterSize - (end-v.dataOffset)%v.clusterSize) % v.clusterSize, nil
}

// volume holds the boot sector fields gokrazy's reader uses, plus what
// Find needs to validate against.
type volume struct {
	r            io.ReaderAt
	sectorSize   int64
	clusterSize  int64
	rootEntries  int
	fatOffset    int64
	rootOffset   int64
	dataOffset   int64
	clusters     int // data clusters; valid cluster numbers are 2..clusters+1
	fatSector    int64
	fatSectorBuf []byte
	size         int64 // the file system's bytes, from its boot sector
}

func readFull(r io.ReaderAt, p []byte, off int64) error {
	n, err := r.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}

func openVolume(r io.ReaderAt) (*volume, error) {
	var bs [64]byte
	if err := readFull(r, bs[:], 0); err != nil {
		return nil, fmt.Errorf("reading boot sector: %w", err)
	}
	bps := int64(le.Uint16(bs[11:]))
	spc := int64(bs[13])
	rsvd := int64(le.Uint16(bs[14:]))
	numFATs := bs[16]
	rootEnt := int64(le.Uint16(bs[17:]))
	total := int64(le.Uint16(bs[19:]))
	fatSz := int64(le.Uint16(bs[22:]))
	if total == 0 {
		total = int64(le.Uint32(bs[32:]))
	}
	switch {
	case bps != 512 && bps != 1024 && bps != 2048 && bps != 4096:
		return nil, fmt.Errorf("unsupported sector size %d", bps)
	case spc == 0 || spc&(spc-1) != 0:
		return nil, fmt.Errorf("invalid sectors per cluster %d", spc)
	case rsvd == 0:
		return nil, errors.New("no reserved sectors")
	case numFATs != 1:
		return nil, fmt.Errorf("%d FATs: gokrazy's reader assumes exactly 1 and would look for the root directory inside the second", numFATs)
	case rootEnt == 0 || fatSz == 0:
		return nil, errors.New("no fixed root directory or no FATSz16 (FAT32?); gokrazy's reader handles FAT16 only")
	case rsvd+fatSz > 0xFFFF:
		return nil, errors.New("reserved plus FAT sectors overflow gokrazy's 16-bit sum")
	}
	rootSectors := (rootEnt*dirEntrySize + bps - 1) / bps
	meta := rsvd + fatSz + rootSectors
	if total <= meta {
		return nil, fmt.Errorf("%d sectors leave no data area", total)
	}
	clusters := (total - meta) / spc
	if clusters < minClusters || clusters > maxClusters {
		return nil, fmt.Errorf("%d clusters: not FAT16", clusters)
	}
	if fatSz*bps/2 < clusters+2 {
		return nil, fmt.Errorf("FAT of %d sectors too small for %d clusters", fatSz, clusters)
	}
	return &volume{
		r:           r,
		sectorSize:  bps,
		clusterSize: bps * spc,
		rootEntries: int(rootEnt),
		fatOffset:   rsvd * bps,
		rootOffset:  (rsvd + fatSz) * bps,
		dataOffset:  (rsvd + fatSz + rootSectors) * bps,
		clusters:    int(clusters),
		fatSector:   -1,
		size:        total * bps,
	}, nil
}

// Size returns the length in bytes of the FAT16 file system on r, as its
// boot sector says: a partition is often larger than the file system in
// it, and what follows belongs to nobody. It checks the boot sector as
// Find does.
func Size(r io.ReaderAt) (int64, error) {
	v, err := openVolume(r)
	if err != nil {
		return 0, fmt.Errorf("fat: %w", err)
	}
	return v.size, nil
}

func (v *volume) validCluster(c int) bool { return c >= 2 && c <= v.clusters+1 }

func (v *volume) clusterOffset(c int) int64 { return v.dataOffset + int64(c-2)*v.clusterSize }

// next returns the FAT entry of cluster c, caching one FAT sector because
// chains are walked in order.
func (v *volume) next(c int) (int, error) {
	off := v.fatOffset + 2*int64(c)
	sec := off / v.sectorSize
	if sec != v.fatSector {
		if v.fatSectorBuf == nil {
			v.fatSectorBuf = make([]byte, v.sectorSize)
		}
		if err := readFull(v.r, v.fatSectorBuf, sec*v.sectorSize); err != nil {
			v.fatSector = -1
			return 0, fmt.Errorf("reading FAT: %w", err)
		}
		v.fatSector = sec
	}
	return int(le.Uint16(v.fatSectorBuf[off-sec*v.sectorSize:])), nil
}

func isEndOfChain(v int) bool { return v >= 0xFFF8 }

// deviceName is the 8.3 name gokrazy's reader compares entries against
// (shortFileName in its writer, applied to the upper-cased component).
// The quirks are deliberate: its basis keeps embedded dots, truncates by
// bytes, and always adds a dot, so extension-less names end in ".".
func deviceName(component string) string {
	basis := strings.ReplaceAll(strings.ToUpper(component), " ", "")
	for strings.HasPrefix(basis, ".") {
		basis = basis[1:]
	}
	fit := true
	primary, ext := basis, ""
	if i := strings.LastIndex(basis, "."); i > -1 {
		primary, ext = basis[:i], basis[i+1:]
		if len(ext) > 3 {
			ext, fit = ext[:3], false
		}
	}
	if len(primary) > 8 {
		primary, fit = primary[:8], false
	}
	if !fit {
		// The device passes a fresh "seen" map on every lookup, so its
		// numeric tail is always ~1.
		if len(primary) > 6 {
			primary = primary[:6]
		}
		primary += "~1"
	}
	return strings.TrimSpace(primary) + "." + strings.TrimSpace(ext)
}

// deviceEntryName is how gokrazy's reader renders a short entry: the base
// up to its first space, then "." and all three extension bytes (spaces
// included) unless the extension starts with a space.
func deviceEntryName(e []byte) string {
	base := e[0:8]
	if i := bytes.IndexByte(base, ' '); i > -1 {
		base = base[:i]
	}
	name := string(base)
	if e[8] != ' ' {
		name += "." + string(e[8:11])
	}
	return name
}

// shortDisplayName is the name a short entry stands for when no long name
// accompanies it, with NT case flags applied.
func shortDisplayName(e []byte) string {
	base := strings.TrimRight(string(e[0:8]), " ")
	ext := strings.TrimRight(string(e[8:11]), " ")
	if e[12]&ntLowerBase != 0 {
		base = strings.ToLower(base)
	}
	if e[12]&ntLowerExt != 0 {
		ext = strings.ToLower(ext)
	}
	if ext == "" {
		return base
	}
	return base + "." + ext
}

// lfnState collects long-name entries preceding a short entry.
type lfnState struct {
	units    []uint16
	sum      byte
	expected int // next sequence number wanted; 0 when complete
	valid    bool
}

func (s *lfnState) reset() { s.valid = false }

func (s *lfnState) add(e []byte) {
	seq := int(e[0] & 0x1F)
	if e[0]&0x40 != 0 {
		if seq == 0 || seq > 20 { // 20*13 units hold the 255-unit maximum
			s.reset()
			return
		}
		s.units = make([]uint16, seq*lfnChars)
		s.sum = e[13]
		s.expected = seq
		s.valid = true
	} else if !s.valid || seq != s.expected || e[13] != s.sum {
		s.reset()
		return
	}
	if seq == 0 || seq > len(s.units)/lfnChars {
		s.reset()
		return
	}
	part := s.units[(seq-1)*lfnChars:]
	for j := 0; j < lfnChars; j++ {
		var off int
		switch {
		case j < 5:
			off = 1 + 2*j
		case j < 11:
			off = 14 + 2*(j-5)
		default:
			off = 28 + 2*(j-11)
		}
		part[j] = le.Uint16(e[off:])
	}
	s.expected--
}

// name returns the long name belonging to short entry e, if any.
func (s *lfnState) name(e []byte) (string, bool) {
	if !s.valid || s.expected != 0 || s.sum != lfnChecksum([11]byte(e[0:11])) {
		return "", false
	}
	u := s.units
	if i := indexUint16(u, 0); i >= 0 {
		u = u[:i]
	}
	return string(utf16.Decode(u)), true
}

func indexUint16(u []uint16, x uint16) int {
	for i, v := range u {
		if v == x {
			return i
		}
	}
	return -1
}

// locate opens the volume on r and finds path in it: Find, with the
// volume for callers that need its geometry too.
func locate(r io.ReaderAt, path string) (v *volume, offset, length int64, err error) {
	v, err = openVolume(r)
	if err == nil {
		offset, length, err = v.lookup(path)
	}
	if err != nil {
		return nil, 0, 0, &fs.PathError{Op: "fat: find", Path: path, Err: err}
	}
	return v, offset, length, nil
}

func (v *volume) lookup(path string) (int64, int64, error) {
	parts, err := splitPath(path)
	if err != nil {
		return 0, 0, err
	}
	if len(parts) == 0 {
		return 0, 0, errors.New("path names the root directory")
	}
	for _, p := range parts {
		if p == "." || p == ".." {
			return 0, 0, fmt.Errorf("path component %q not supported", p)
		}
	}
	dirOff := v.rootOffset
	dirCluster := 0 // 0: the root directory, which has no cluster chain
	var e [dirEntrySize]byte
	for i, comp := range parts {
		last := i == len(parts)-1
		want := deviceName(comp)
		var lfn lfnState
		runEnd := dirOff + v.clusterSize // end of the directory's current contiguous cluster
		cur := dirCluster
		found := false
		for j := 0; j < v.rootEntries && !found; j++ {
			off := dirOff + int64(j)*dirEntrySize
			if dirCluster != 0 && off >= runEnd {
				// The device reads on regardless; make sure it is still
				// reading this directory.
				n, err := v.next(cur)
				if err != nil {
					return 0, 0, err
				}
				if isEndOfChain(n) {
					break
				}
				if n != cur+1 {
					return 0, 0, fmt.Errorf("directory %q is fragmented (cluster %d continues at %d), gokrazy's reader would read the wrong cluster", strings.Join(parts[:i], "/"), cur, n)
				}
				if !v.validCluster(n) {
					return 0, 0, fmt.Errorf("directory %q: invalid cluster %d", strings.Join(parts[:i], "/"), n)
				}
				cur = n
				runEnd += v.clusterSize
			}
			if err := readFull(v.r, e[:], off); err != nil {
				return 0, 0, fmt.Errorf("reading directory entry: %w", err)
			}
			if e[0] == 0 {
				break // end of directory; the device would scan on, but nothing valid follows
			}
			attr := e[11]
			name := deviceEntryName(e[:])
			if strings.ToLower(name) != strings.ToLower(want) && name != comp {
				if attr == attrLongName && e[0] != 0xE5 {
					lfn.add(e[:])
				} else {
					lfn.reset()
				}
				continue
			}

			// This is the entry the device takes.
			switch {
			case e[0] == 0xE5:
				return 0, 0, fmt.Errorf("%q matches a deleted entry, which gokrazy's reader would use", comp)
			case attr&attrVolumeID != 0:
				return 0, 0, fmt.Errorf("%q matches a volume label or long-name entry, which gokrazy's reader would use", comp)
			}
			real, ok := lfn.name(e[:])
			if !ok {
				real = shortDisplayName(e[:])
			}
			if !strings.EqualFold(real, comp) {
				return 0, 0, fmt.Errorf("gokrazy's reader would take %q (short name %q) for %q", real, string(e[0:11]), comp)
			}
			cl := int(le.Uint16(e[26:]))
			if attr == attrDirectory {
				if last {
					return 0, 0, errors.New("is a directory")
				}
				if !v.validCluster(cl) {
					return 0, 0, fmt.Errorf("directory %q: invalid cluster %d", comp, cl)
				}
				dirOff, dirCluster = v.clusterOffset(cl), cl
				found = true
				continue
			}
			if !last {
				if attr&attrDirectory != 0 {
					return 0, 0, fmt.Errorf("directory %q has attributes %#x; gokrazy's reader descends only into 0x10", comp, attr)
				}
				return 0, 0, fmt.Errorf("%q is not a directory", comp)
			}
			size := int64(le.Uint32(e[28:]))
			if size == 0 {
				return 0, 0, errors.New("empty file has no data extent")
			}
			if err := v.checkContiguous(cl, size); err != nil {
				return 0, 0, err
			}
			return v.clusterOffset(cl), size, nil
		}
		if !found {
			return 0, 0, fmt.Errorf("%q not found: %w", comp, fs.ErrNotExist)
		}
	}
	return 0, 0, errors.New("internal error: path walk ended without a result")
}

// checkContiguous verifies that a file of size bytes starting at cluster
// first occupies exactly the clusters first, first+1, ... and that the
// image holds all of them.
func (v *volume) checkContiguous(first int, size int64) error {
	n := int((size + v.clusterSize - 1) / v.clusterSize)
	if !v.validCluster(first) || first+n-1 > v.clusters+1 {
		return fmt.Errorf("clusters %d..%d lie outside the data area", first, first+n-1)
	}
	for k := 0; k < n; k++ {
		c := first + k
		nx, err := v.next(c)
		if err != nil {
			return err
		}
		switch {
		case k == n-1 && !isEndOfChain(nx):
			return fmt.Errorf("cluster chain continues past the file size at cluster %d (next %#x)", c, nx)
		case k < n-1 && nx != c+1:
			return fmt.Errorf("%w: cluster %d is followed by %#x", ErrNotContiguous, c, nx)
		}
	}
	var b [1]byte
	if err := readFull(v.r, b[:], v.clusterOffset(first)+size-1); err != nil {
		return fmt.Errorf("file data beyond the end of the image: %w", err)
	}
	return nil
}
