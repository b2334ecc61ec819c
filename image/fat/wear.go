package fat

import (
	"bytes"
	"fmt"
	"io"
)

// A Span is bytes at an offset of a file system.
type Span struct {
	Offset int64
	Data   []byte
}

// stateOffset is the FAT16 boot sector's state byte, where Linux's vfat
// driver sets bit 0 while the file system is mounted read-write.
const stateOffset = 37

// Unworn returns the writes that undo, on a FAT16 file system this
// package wrote, what Linux's vfat driver leaves on it when it mounts it
// and reads files, as gokrazy's kexec reboot does on amd64 (read-write,
// never unmounted): the dirty flag in the boot sector's state byte, and
// the last access date of the files read, which the Writer sets to each
// entry's modification date. Nothing else is undone: a file system
// changed otherwise stays changed. It walks every directory, bounded by
// the volume's clusters.
func Unworn(r io.ReaderAt) ([]Span, error) {
	v, err := openVolume(r)
	if err != nil {
		return nil, fmt.Errorf("fat: %w", err)
	}
	var spans []Span
	var state [1]byte
	if err := readFull(r, state[:], stateOffset); err != nil {
		return nil, fmt.Errorf("fat: reading the boot sector: %w", err)
	}
	if state[0] != 0 {
		spans = append(spans, Span{stateOffset, []byte{0}})
	}
	type dir struct {
		off, end int64 // the first cluster's (or the root's) extent
		cluster  int   // 0: the root directory
	}
	queue := []dir{{v.rootOffset, v.dataOffset, 0}}
	visited := map[int]bool{} // clusters of directories: a loop ends

	buf := make([]byte, v.clusterSize)
	for len(queue) > 0 {
		d := queue[0]
		queue = queue[1:]
		for off, cl := d.off, d.cluster; ; {
			n := min(int64(len(buf)), d.end-off)
			if d.cluster != 0 {
				n = v.clusterSize
			}
			b := buf[:n]
			if err := readFull(r, b, off); err != nil {
				return nil, fmt.Errorf("fat: reading a directory: %w", err)
			}
			end := false
			for i := 0; i+dirEntrySize <= len(b); i += dirEntrySize {
				e := b[i : i+dirEntrySize]
				if e[0] == 0 {
					end = true
					break
				}
				if e[0] == 0xE5 || e[11] == attrLongName {
					continue
				}
				if !bytes.Equal(e[18:20], e[24:26]) {
					spans = append(spans, Span{off + int64(i) + 18, bytes.Clone(e[24:26])})
				}
				c := int(le.Uint16(e[26:]))
				if e[11]&attrDirectory != 0 && e[0] != '.' && v.validCluster(c) && !visited[c] {
					visited[c] = true
					queue = append(queue, dir{v.clusterOffset(c), 0, c})
				}
			}
			if d.cluster == 0 {
				off += n
				if end || off >= d.end {
					break
				}
				continue
			}
			if end {
				break
			}
			next, err := v.next(cl)
			if err != nil {
				return nil, err
			}
			if isEndOfChain(next) || !v.validCluster(next) || visited[next] {
				break
			}
			visited[next] = true
			cl, off = next, v.clusterOffset(next)
		}
	}
	return spans, nil
}
