package gallery

import (
	"errors"
	"fmt"
	"os"
	"path"
	"regexp"
	"strings"
	"syscall"
	"unicode"
)

// validName reports why name cannot be a photo's name under a device's
// directory: it must be a clean relative slash-separated path, without
// elements that are empty, "..", or start with a dot, without
// backslashes or control characters. Ingest stores no other names; the
// names read from the index and the tree are checked again all the same.
func validName(name string) error {
	switch {
	case name == "" || len(name) > 512:
		return fmt.Errorf("%w: %d bytes", errBadName, len(name))
	case strings.HasPrefix(name, "/") || strings.ContainsRune(name, '\\') || path.Clean(name) != name:
		return fmt.Errorf("%w: %q is not a clean relative path", errBadName, name)
	}
	for _, r := range name {
		if !unicode.IsPrint(r) && r != ' ' {
			return fmt.Errorf("%w: %q has a control character", errBadName, name)
		}
	}
	for _, e := range strings.Split(name, "/") {
		if e == "" || e == "." || e == ".." || strings.HasPrefix(e, ".") {
			return fmt.Errorf("%w: %q has the element %q", errBadName, name, e)
		}
	}
	return nil
}

// errBadName refuses a name no photo of ingest's can have.
var errBadName = errors.New("not a photo's name")

// dayPattern is a day as the index and the URLs write it.
var dayPattern = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`)

// errNotRegular refuses a symbolic link, a directory or a device file
// where a photo should be.
var errNotRegular = errors.New("not a regular file")

// openIn opens the regular file name under dir without following a
// symbolic link anywhere on its way, and never outside dir: a link
// planted in the photo tree, even one pointing to another device's photo
// or to a photo beside it, is refused.
func openIn(dir, name string) (*os.File, os.FileInfo, error) {
	if err := validName(name); err != nil {
		return nil, nil, err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, nil, err
	}
	defer root.Close()
	elems := strings.Split(name, "/")
	for i := 1; i < len(elems); i++ {
		fi, err := root.Lstat(strings.Join(elems[:i], "/"))
		if err != nil {
			return nil, nil, err
		}
		if !fi.IsDir() {
			return nil, nil, fmt.Errorf("%s: %w", name, errNotRegular)
		}
	}
	// os.Root follows a link that stays inside it, O_NOFOLLOW or not:
	// the file itself is looked at first, and must be what was opened.
	lfi, err := root.Lstat(name)
	if err != nil {
		return nil, nil, err
	}
	if !lfi.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("%s: %w", name, errNotRegular)
	}
	f, err := root.OpenFile(name, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() || !os.SameFile(fi, lfi) {
		f.Close()
		return nil, nil, fmt.Errorf("%s: %w", name, errNotRegular)
	}
	return f, fi, nil
}

// isJPEG says whether a photo's name is a JPEG's.
func isJPEG(name string) bool {
	switch strings.ToLower(path.Ext(name)) {
	case ".jpg", ".jpeg":
		return true
	}
	return false
}
