package fat

import (
	"encoding/binary"
	"fmt"
	"io"
	"time"
)

var le = binary.LittleEndian

const (
	attrDirectory = 0x10 // exactly this: gokrazy's reader descends only into attr == 0x10
	attrArchive   = 0x20
	attrVolumeID  = 0x08
	attrLongName  = 0x0F

	mediaFixed = 0xF8
	endOfChain = 0xFFFF
)

// zeros is shared padding; never written to.
var zeros = make([]byte, 64<<10)

// labelBytes validates a volume label and pads it to 11 bytes.
func labelBytes(label string) ([11]byte, error) {
	var b [11]byte
	copy(b[:], "NO NAME    ")
	if label == "" {
		return b, nil
	}
	if len(label) > len(b) {
		return b, fmt.Errorf("fat: label %q longer than 11 bytes", label)
	}
	if label[0] == ' ' {
		return b, fmt.Errorf("fat: label %q starts with a space", label)
	}
	for i := 0; i < len(label); i++ {
		// Lower case works on some systems only (mkfs.fat warns), so refuse it.
		if c := label[i]; c != ' ' && !sfnChar(c) {
			return b, fmt.Errorf("fat: label %q contains %q; use upper-case letters, digits, spaces or !#$%%&'()-@^_`{}~", label, c)
		}
	}
	copy(b[:], "           ")
	copy(b[:], label)
	return b, nil
}

// dosTime converts t to FAT's date and time fields (2 s resolution).
func dosTime(t time.Time) (date, tim uint16) {
	t = t.UTC()
	switch {
	case t.Year() < 1980:
		t = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)
	case t.Year() > 2107:
		t = time.Date(2107, 12, 31, 23, 59, 58, 0, time.UTC)
	}
	date = uint16(t.Year()-1980)<<9 | uint16(t.Month())<<5 | uint16(t.Day())
	tim = uint16(t.Hour())<<11 | uint16(t.Minute())<<5 | uint16(t.Second()/2)
	return date, tim
}

// putEntry fills a 32-byte short directory entry.
func putEntry(e []byte, sfn [11]byte, attr, nt byte, date, tim uint16, cluster uint16, size uint32) {
	copy(e[0:11], sfn[:])
	e[11] = attr
	e[12] = nt
	e[13] = 0                 // creation time, tenths of a second
	le.PutUint16(e[14:], tim) // creation time
	le.PutUint16(e[16:], date)
	le.PutUint16(e[18:], date) // last access date
	le.PutUint16(e[20:], 0)    // high cluster word, FAT32 only
	le.PutUint16(e[22:], tim)
	le.PutUint16(e[24:], date)
	le.PutUint16(e[26:], cluster)
	le.PutUint32(e[28:], size)
}

// putDir encodes the entries of directory d into b, which is zeroed and
// large enough.
func (w *Writer) putDir(b []byte, d *node, date, tim uint16) {
	i := 0
	next := func() []byte {
		e := b[i*dirEntrySize : (i+1)*dirEntrySize]
		i++
		return e
	}
	if d == w.root {
		if w.opts.Label != "" {
			label, _ := labelBytes(w.opts.Label) // checked by Layout
			putEntry(next(), label, attrVolumeID, 0, date, tim, 0, 0)
		}
	} else {
		var dot, dotdot [11]byte
		copy(dot[:], ".          ")
		copy(dotdot[:], "..         ")
		putEntry(next(), dot, attrDirectory, 0, date, tim, d.cluster, 0)
		// ".." of a first-level directory points at cluster 0, the root.
		putEntry(next(), dotdot, attrDirectory, 0, date, tim, d.parent.cluster, 0)
	}
	for _, c := range d.children {
		if c.lfn {
			n := lfnSlots(c.name)
			putLFN(b[i*dirEntrySize:(i+n)*dirEntrySize], c.name, lfnChecksum(c.sfn))
			i += n
		}
		attr := byte(attrArchive)
		size := uint32(len(c.data))
		if c.dir {
			attr, size = attrDirectory, 0
		}
		putEntry(next(), c.sfn, attr, c.nt, date, tim, c.cluster, size)
	}
}

// metadata encodes everything before the file data: boot sector, reserved
// sectors, the FAT, the root directory and the directory clusters, which
// are allocated first.
func (w *Writer) metadata() []byte {
	l := w.lay
	date, tim := dosTime(w.opts.ModTime)
	dirClusters := 0
	for _, d := range l.dirOrder {
		dirClusters += d.nclust
	}
	buf := make([]byte, l.dataOffset()+int64(dirClusters)*ClusterSize)

	w.putBootSector(buf[:SectorSize])

	fat := buf[reservedSectors*SectorSize : l.rootOffset()]
	le.PutUint16(fat[0:], 0xFF00|mediaFixed)
	le.PutUint16(fat[2:], 0xFFFF) // clean unmount, no I/O errors
	chain := func(n *node) {
		for k := 0; k < n.nclust; k++ {
			v := uint16(int(n.cluster) + k + 1)
			if k == n.nclust-1 {
				v = endOfChain
			}
			le.PutUint16(fat[2*(int(n.cluster)+k):], v)
		}
	}
	for _, d := range l.dirOrder {
		chain(d)
	}
	for _, f := range w.files {
		chain(f)
	}

	w.putDir(buf[l.rootOffset():l.dataOffset()], w.root, date, tim)
	for _, d := range l.dirOrder {
		off := l.clusterOffset(d.cluster)
		w.putDir(buf[off:off+int64(d.nclust)*ClusterSize], d, date, tim)
	}
	return buf
}

func (w *Writer) putBootSector(b []byte) {
	l := w.lay
	label, _ := labelBytes(w.opts.Label)
	copy(b[0:], []byte{0xEB, 0x3C, 0x90}) // jmp to 0x3E, nop
	copy(b[3:], "gokrazy!")               // OEM name, as gok writes it
	le.PutUint16(b[11:], SectorSize)
	b[13] = sectorsPerCluster
	le.PutUint16(b[14:], reservedSectors)
	b[16] = 1 // gokrazy's reader ignores NumFATs and assumes 1
	le.PutUint16(b[17:], uint16(l.rootEntries))
	if l.totalSectors < 1<<16 {
		le.PutUint16(b[19:], uint16(l.totalSectors))
	} else {
		le.PutUint32(b[32:], uint32(l.totalSectors))
	}
	b[21] = mediaFixed
	le.PutUint16(b[22:], uint16(l.fatSectors))
	le.PutUint16(b[24:], 32) // sectors per track and heads: what mkfs.fat
	le.PutUint16(b[26:], 64) // picks for an image file; nobody uses CHS
	le.PutUint32(b[28:], w.opts.HiddenSectors)
	b[36] = 0x80 // drive number: hard disk
	b[38] = 0x29 // extended boot signature: the next three fields are valid
	le.PutUint32(b[39:], w.opts.VolumeID)
	copy(b[43:], label[:])
	copy(b[54:], "FAT16   ")
	// Boot code at 0x3E: if a BIOS ever runs it, halt instead of executing
	// zeros (cli; hlt; jmp back to hlt).
	copy(b[0x3E:], []byte{0xFA, 0xF4, 0xEB, 0xFD})
	b[510], b[511] = 0x55, 0xAA
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func (c *countWriter) zeros(n int64) error {
	for n > 0 {
		k := min(n, int64(len(zeros)))
		if _, err := c.Write(zeros[:k]); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

// WriteTo lays the image out if needed and writes it to out: exactly
// Size bytes, byte-identical for identical input.
func (w *Writer) WriteTo(out io.Writer) (int64, error) {
	if err := w.Layout(); err != nil {
		return 0, err
	}
	l := w.lay
	cw := &countWriter{w: out}
	if _, err := cw.Write(w.metadata()); err != nil {
		return cw.n, err
	}
	for _, f := range w.files {
		if f.nclust == 0 {
			continue
		}
		if cw.n != l.clusterOffset(f.cluster) {
			return cw.n, fmt.Errorf("fat: internal error: %q at offset %d, want %d", f.name, cw.n, l.clusterOffset(f.cluster))
		}
		if _, err := cw.Write(f.data); err != nil {
			return cw.n, err
		}
		if err := cw.zeros(int64(f.nclust)*ClusterSize - int64(len(f.data))); err != nil {
			return cw.n, err
		}
	}
	if err := cw.zeros(l.totalSectors*SectorSize - cw.n); err != nil {
		return cw.n, err
	}
	return cw.n, nil
}
