package ingest

import (
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/lapsebox/lapsebox/cloud/archive"
)

// Limits on a photo's name: what a file system takes everywhere.
const (
	maxNameLen    = 512
	maxElementLen = 200 // room for a "-NNN" suffix and a temporary prefix
)

// checkName reports why name cannot be a photo's name under a device's
// directory, or nil: it must pass archive.CheckPath (a clean relative
// path of printable UTF-8 without "..", leading dots or backslashes), and
// no element may be a name the spool uses (an upload ID, or a name ending
// in ".info"), so that no photo can ever pass for an upload.
func checkName(name string) error {
	if len(name) > maxNameLen {
		return fmt.Errorf("name of %d bytes is longer than %d", len(name), maxNameLen)
	}
	if err := archive.CheckPath("name", name); err != nil {
		return err
	}
	for _, e := range strings.Split(name, "/") {
		switch {
		case len(e) > maxElementLen:
			return fmt.Errorf("name %q has an element of %d bytes, longer than %d", name, len(e), maxElementLen)
		case strings.HasSuffix(strings.ToLower(e), infoSuffix):
			return fmt.Errorf("name %q has an element ending in %q, which the server's spool uses", name, infoSuffix)
		case idPattern.MatchString(strings.ToLower(e)):
			return fmt.Errorf("name %q has an element that looks like an upload ID", name)
		}
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
