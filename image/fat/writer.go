package fat

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"
)

// Options configures a Writer.
type Options struct {
	// Label is the volume label, at most 11 characters of upper-case
	// letters, digits, spaces and the punctuation short names allow, e.g.
	// "GOKRAZY". Empty means no label ("NO NAME" in the boot sector).
	Label string
	// VolumeID is the volume serial number recorded in the boot sector.
	VolumeID uint32
	// ModTime is the timestamp of every entry, so that builds are
	// reproducible. It is recorded in UTC; times outside FAT's range
	// (1980 to 2107) are clamped.
	ModTime time.Time
	// MinBytes pads the file system to at least this many bytes, e.g. the
	// size of its partition. 0 sizes it to its content (but at least the
	// 4085+16 clusters that make it safely FAT16, about 8 MiB). FAT16 at
	// 2 KiB clusters ends at about 128 MiB.
	MinBytes int64
	// HiddenSectors is recorded in the boot sector as the number of
	// sectors before the partition. Linux, UEFI, the Raspberry Pi firmware
	// and gokrazy ignore it, so 0 is fine.
	HiddenSectors uint32
}

// Writer accumulates directories and files and writes a FAT16 image laid
// out the way gokrazy's boot partition must be: one FAT, 2 KiB clusters,
// every file and directory in one contiguous run of clusters. Files are
// allocated in the order they are added, after all directories.
//
// A Writer is not safe for concurrent use.
type Writer struct {
	opts  Options
	root  *node
	files []*node // in AddFile order, which is their allocation order
	// clusters counts the data clusters the content needs so far, so that
	// AddFile can name the path that overflows FAT16.
	clusters int
	lay      *layout // nil until Layout, reset by changes
}

// node is a file or directory in the tree being built.
type node struct {
	name     string
	parent   *node
	dir      bool
	data     []byte           // files only
	children []*node          // directories only, in insertion order
	byKey    map[string]*node // directories only, by foldName
	// entries counts a directory's own 32-byte entries: "." and ".." (or,
	// in the root, the volume label) plus each child's long-name and short
	// entries.
	entries int

	// Set by layout.
	sfn     [11]byte
	nt      byte
	lfn     bool
	cluster uint16
	nclust  int
}

// NewWriter returns an empty Writer. Options are checked when the image is
// laid out (Layout, Size, Extent or WriteTo).
func NewWriter(opts Options) *Writer {
	w := &Writer{
		opts: opts,
		root: &node{dir: true, byKey: map[string]*node{}},
	}
	if opts.Label != "" {
		w.root.entries = 1
	}
	return w
}

// Mkdir creates the directory path ("/loader/entries") and any missing
// parents. It is not an error if the directory exists already.
func (w *Writer) Mkdir(path string) error {
	if err := w.add(path, nil, true); err != nil {
		return &fs.PathError{Op: "fat: mkdir", Path: path, Err: err}
	}
	return nil
}

// AddFile adds a file with the given content, creating missing parent
// directories. The Writer keeps data without copying it: do not modify it
// until the image is written. Each file occupies one contiguous run of
// clusters, as gokrazy's in-place cmdline.txt rewrite and the legacy BIOS
// boot loader (which reads vmlinuz as raw sectors) require.
func (w *Writer) AddFile(path string, data []byte) error {
	if err := w.add(path, data, false); err != nil {
		return &fs.PathError{Op: "fat: add", Path: path, Err: err}
	}
	return nil
}

// splitPath splits a slash-separated path, with or without a leading
// slash, into its components.
func splitPath(path string) ([]string, error) {
	p := strings.TrimPrefix(path, "/")
	if p == "" {
		return nil, nil
	}
	parts := strings.Split(strings.TrimSuffix(p, "/"), "/")
	for _, c := range parts {
		if c == "" {
			return nil, errors.New("empty path component")
		}
	}
	return parts, nil
}

func clustersFor(bytes int) int { return (bytes + ClusterSize - 1) / ClusterSize }

func dirClusters(entries int) int { return clustersFor(entries * dirEntrySize) }

func (w *Writer) add(path string, data []byte, isDir bool) error {
	if !isDir && strings.HasSuffix(path, "/") {
		return errors.New("file path ends in a slash")
	}
	parts, err := splitPath(path)
	if err != nil {
		return err
	}
	if len(parts) == 0 {
		if isDir {
			return nil // the root always exists
		}
		return errors.New("path names the root directory")
	}

	// Walk the existing part of the path.
	cur := w.root
	i := 0
	for ; i < len(parts); i++ {
		child := cur.byKey[foldName(parts[i])]
		if child == nil {
			break
		}
		if i < len(parts)-1 {
			if !child.dir {
				return fmt.Errorf("%q is a file", "/"+strings.Join(parts[:i+1], "/"))
			}
			cur = child
			continue
		}
		switch {
		case isDir && child.dir:
			return nil
		case isDir:
			return fmt.Errorf("a file of that name exists: %w", fs.ErrExist)
		case child.dir:
			return fmt.Errorf("a directory of that name exists: %w", fs.ErrExist)
		case child.name != parts[i]:
			return fmt.Errorf("duplicate file (FAT names ignore case, %q exists): %w", child.name, fs.ErrExist)
		default:
			return fmt.Errorf("duplicate file: %w", fs.ErrExist)
		}
	}
	for _, p := range parts[i:] {
		if err := checkName(p); err != nil {
			return err
		}
	}

	// Work out what the new entries cost before changing anything, so a
	// failed add leaves the Writer as it was.
	slots := func(name string) int { return 1 + lfnSlots(name) }
	delta := 0
	grown := cur.entries + slots(parts[i])
	if cur == w.root {
		if grown > maxRootEntries {
			return fmt.Errorf("root directory would need %d entries, FAT16 allows %d", grown, maxRootEntries)
		}
	} else {
		if grown > maxDirEntries {
			return fmt.Errorf("directory would need %d entries, FAT allows %d", grown, maxDirEntries)
		}
		delta += dirClusters(grown) - dirClusters(cur.entries)
	}
	for j := i; j < len(parts)-1; j++ {
		delta += dirClusters(2 + slots(parts[j+1]))
	}
	if isDir {
		delta += dirClusters(2)
	} else {
		delta += clustersFor(len(data))
	}
	if total := w.clusters + delta; total > maxWriteClusters {
		return fmt.Errorf("file system would need %d clusters (%d MiB), more than FAT16's %d at %d-byte clusters (%d MiB)",
			total, int64(total)*ClusterSize>>20, maxWriteClusters, ClusterSize, int64(maxWriteClusters)*ClusterSize>>20)
	}

	w.clusters += delta
	w.lay = nil
	for j := i; j < len(parts); j++ {
		n := &node{name: parts[j], parent: cur}
		if j < len(parts)-1 || isDir {
			n.dir = true
			n.byKey = map[string]*node{}
			n.entries = 2 // "." and ".."
		} else {
			n.data = data
			w.files = append(w.files, n)
		}
		cur.children = append(cur.children, n)
		cur.byKey[foldName(n.name)] = n
		cur.entries += slots(n.name)
		cur = n
	}
	return nil
}

// lookup finds the node at path.
func (w *Writer) lookup(path string) (*node, error) {
	parts, err := splitPath(path)
	if err != nil {
		return nil, err
	}
	cur := w.root
	for _, p := range parts {
		if !cur.dir {
			return nil, fmt.Errorf("%q is a file", cur.name)
		}
		next := cur.byKey[foldName(p)]
		if next == nil {
			return nil, fs.ErrNotExist
		}
		cur = next
	}
	return cur, nil
}
