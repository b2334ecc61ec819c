package ingest

import (
	"fmt"
	"path"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits on a photo's name: what a file system takes everywhere.
const (
	maxNameLen    = 512
	maxElementLen = 200 // room for a "-NNN" suffix and a temporary prefix
)

// checkName reports why name cannot be a photo's name under a device's
// directory, or nil: it must be a clean relative slash-separated path of
// printable UTF-8 whose elements are neither empty, "." nor "..", nor start
// with a dot (temporary files do), without backslashes or NUL, and none
// may be a name the spool uses (an upload ID, or a name ending in
// ".info"), so that no photo can ever pass for an upload.
func checkName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("empty name")
	case len(name) > maxNameLen:
		return fmt.Errorf("name of %d bytes is longer than %d", len(name), maxNameLen)
	case !utf8.ValidString(name):
		return fmt.Errorf("name %q is not UTF-8", name)
	case strings.HasPrefix(name, "/"):
		return fmt.Errorf("name %q is absolute", name)
	case strings.ContainsRune(name, '\\'):
		return fmt.Errorf("name %q contains a backslash", name)
	}
	for _, r := range name {
		if r == 0 || !unicode.IsPrint(r) && r != ' ' {
			return fmt.Errorf("name %q contains the control character %U", name, r)
		}
	}
	for _, e := range strings.Split(name, "/") {
		switch {
		case e == "" || e == "." || e == "..":
			return fmt.Errorf("name %q has an element %q", name, e)
		case strings.HasPrefix(e, "."):
			return fmt.Errorf("name %q has an element starting with a dot", name)
		case len(e) > maxElementLen:
			return fmt.Errorf("name %q has an element of %d bytes, longer than %d", name, len(e), maxElementLen)
		case strings.HasSuffix(strings.ToLower(e), infoSuffix):
			return fmt.Errorf("name %q has an element ending in %q, which the server's spool uses", name, infoSuffix)
		case idPattern.MatchString(strings.ToLower(e)):
			return fmt.Errorf("name %q has an element that looks like an upload ID", name)
		}
	}
	if path.Clean(name) != name {
		return fmt.Errorf("name %q is not clean", name)
	}
	return nil
}

// checkPrefix is checkName for a listing prefix: empty is everything, and
// the last element may be partial or end in a slash.
func checkPrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	p := strings.TrimSuffix(prefix, "/")
	if p == "" {
		return fmt.Errorf("prefix %q is absolute", prefix)
	}
	if err := checkName(p); err != nil {
		return fmt.Errorf("prefix: %w", err)
	}
	return nil
}

// suffixed returns name with "-n" before its extension, name itself for
// n == 0: the store's own rule for names that collide.
func suffixed(name string, n int) string {
	if n == 0 {
		return name
	}
	dir, base := path.Split(name)
	ext := path.Ext(base)
	return dir + strings.TrimSuffix(base, ext) + "-" + strconv.Itoa(n) + ext
}
