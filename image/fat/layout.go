package fat

import (
	"errors"
	"fmt"
	"io/fs"
)

const (
	// SectorSize is the logical sector size of images Writer produces.
	SectorSize = 512
	// ClusterSize is the allocation unit: 4 sectors, as gok uses.
	ClusterSize = SectorSize * sectorsPerCluster

	sectorsPerCluster = 4
	// reservedSectors holds just the boot sector, rounded up to a cluster
	// like gok does (it found the Raspberry Pi 3 wants that alignment).
	reservedSectors = 4
	dirEntrySize    = 32

	// A FAT with fewer than 4085 clusters is FAT12 and one with 65525 or
	// more is FAT32, whatever the boot sector says.
	minClusters = 4085
	maxClusters = 65524
	// Writer keeps 16 clusters away from both limits, as Microsoft's FAT
	// specification advises, because some implementations get the
	// boundary off by a few (mkfs.fat refuses exactly 4085, and mtools'
	// minfo trips over it).
	minWriteClusters = minClusters + 16
	maxWriteClusters = maxClusters - 16

	// minRootEntries is what mkfs.fat uses. gokrazy's reader scans that
	// many entries in every directory, not just the root, so a larger root
	// also lets it reach further into big subdirectories.
	minRootEntries = 512
	// maxRootEntries is the largest multiple of a sector's 16 entries that
	// BPB_RootEntCnt (16 bits) holds.
	maxRootEntries = 65520
	// maxDirEntries is the FAT limit on a directory's size (2 MiB).
	maxDirEntries = 65536

	maxFATSectors = (maxWriteClusters + 2 + SectorSize/2 - 1) / (SectorSize / 2)
)

// layout is the geometry of the image and where everything goes.
type layout struct {
	rootEntries  int
	fatSectors   int
	clusters     int // data clusters, per the BPB
	totalSectors int64
	dirOrder     []*node // subdirectories in allocation order
}

func (l *layout) rootOffset() int64 {
	return int64(reservedSectors+l.fatSectors) * SectorSize
}

func (l *layout) dataOffset() int64 {
	return l.rootOffset() + int64(l.rootEntries)*dirEntrySize
}

func (l *layout) clusterOffset(c uint16) int64 {
	return l.dataOffset() + int64(c-2)*ClusterSize
}

func fatSectorsFor(clusters int) int {
	return ((clusters+2)*2 + SectorSize - 1) / SectorSize
}

// Layout assigns short names and clusters and fixes the image geometry.
// Size, Extent and WriteTo call it as needed; calling it directly reports
// problems such as a bad Options.Label early. Adding entries afterwards
// invalidates the layout, and the next call recomputes it.
func (w *Writer) Layout() error {
	if w.lay != nil {
		return nil
	}
	if _, err := labelBytes(w.opts.Label); err != nil {
		return err
	}
	if w.opts.MinBytes < 0 {
		return fmt.Errorf("fat: negative MinBytes %d", w.opts.MinBytes)
	}

	l := &layout{}
	l.rootEntries = (w.root.entries + 15) &^ 15
	l.rootEntries = max(l.rootEntries, minRootEntries)
	rootSectors := l.rootEntries * dirEntrySize / SectorSize

	// Size to the content, at least FAT16's minimum cluster count.
	l.clusters = max(w.clusters, minWriteClusters)
	l.fatSectors = fatSectorsFor(l.clusters)
	l.totalSectors = int64(reservedSectors + l.fatSectors + rootSectors + l.clusters*sectorsPerCluster)

	if minSec := (w.opts.MinBytes + SectorSize - 1) / SectorSize; minSec > l.totalSectors {
		maxSec := int64(reservedSectors+maxFATSectors+rootSectors+maxWriteClusters*sectorsPerCluster) + sectorsPerCluster - 1
		if minSec > maxSec {
			return fmt.Errorf("fat: MinBytes %d exceeds FAT16's limit of %d bytes at %d-byte clusters", w.opts.MinBytes, maxSec*SectorSize, ClusterSize)
		}
		// Fill exactly minSec sectors: the most clusters that fit, with the
		// smallest FAT that covers them. Up to 3 sectors at the end may
		// belong to no cluster, which is normal.
		for fat := 1; ; fat++ {
			c := int((minSec - int64(reservedSectors+rootSectors+fat)) / sectorsPerCluster)
			if fatSectorsFor(c) <= fat {
				l.clusters, l.fatSectors = c, fat
				break
			}
		}
		l.totalSectors = minSec
		if l.clusters < w.clusters || l.clusters > maxWriteClusters {
			return fmt.Errorf("fat: internal error: %d clusters for MinBytes %d", l.clusters, w.opts.MinBytes)
		}
	}

	// Directories first (pre-order), then files in the order they were
	// added, each in one contiguous run.
	next := 2
	var walk func(d *node)
	walk = func(d *node) {
		assignShortNames(d)
		for _, c := range d.children {
			if !c.dir {
				continue
			}
			c.nclust = dirClusters(c.entries)
			c.cluster = uint16(next)
			next += c.nclust
			l.dirOrder = append(l.dirOrder, c)
			walk(c)
		}
	}
	walk(w.root)
	for _, f := range w.files {
		f.nclust = clustersFor(len(f.data))
		f.cluster = 0 // empty files own no cluster
		if f.nclust > 0 {
			f.cluster = uint16(next)
			next += f.nclust
		}
	}
	if next-2 != w.clusters {
		return fmt.Errorf("fat: internal error: allocated %d clusters, accounted %d", next-2, w.clusters)
	}
	w.lay = l
	return nil
}

// assignShortNames gives each child of d its short entry. Names that are
// their own short name are placed first so that a generated alias can
// never take them, whatever the order of insertion.
func assignShortNames(d *node) {
	used := make(map[[11]byte]bool, len(d.children))
	for _, c := range d.children {
		if sfn, nt, ok := exactShort(c.name); ok {
			c.sfn, c.nt, c.lfn = sfn, nt, false
			used[sfnKey(sfn)] = true
		}
	}
	for _, c := range d.children {
		if _, _, ok := exactShort(c.name); ok {
			continue
		}
		c.sfn, c.nt, c.lfn = generateShort(c.name, used), 0, true
		used[sfnKey(c.sfn)] = true
	}
}

// Size returns the size in bytes of the image WriteTo writes.
func (w *Writer) Size() (int64, error) {
	if err := w.Layout(); err != nil {
		return 0, err
	}
	return w.lay.totalSectors * SectorSize, nil
}

// Extent returns the byte offset and length of a file's data within the
// image, e.g. to compute the LBAs of vmlinuz and cmdline.txt for the MBR
// boot loader (partition start + offset/SectorSize). It lays the image out
// if needed. An empty file has no extent and is an error.
func (w *Writer) Extent(path string) (offset, length int64, err error) {
	wrap := func(err error) error { return &fs.PathError{Op: "fat: extent", Path: path, Err: err} }
	if err := w.Layout(); err != nil {
		return 0, 0, err
	}
	n, err := w.lookup(path)
	if err != nil {
		return 0, 0, wrap(err)
	}
	switch {
	case n.dir:
		return 0, 0, wrap(errors.New("is a directory"))
	case len(n.data) == 0:
		return 0, 0, wrap(errors.New("empty file has no data extent"))
	}
	return w.lay.clusterOffset(n.cluster), int64(len(n.data)), nil
}
