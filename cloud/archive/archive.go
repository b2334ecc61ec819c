// Package archive keeps every photo cloudd accepts in two independent
// stores: the photo tree ingest writes (<root>/<device>/<name>) and a
// replica, another directory (a second disk) or an S3 bucket. A photo's
// upload is acknowledged only once both copies are durable (Commit), and a
// scrubber (Scrub) re-reads both, checks them against the SHA-256 that
// ingest verified and recorded, and repairs a missing or damaged copy from
// the good one.
//
// The reference is the record, never what a copy hashes to now: ingest
// writes <root>/.sums/<device>/<name> once the device's declared SHA-256
// matched the bytes received (Sums). An S3 replica also carries that sum
// as the object's x-amz-meta-sha256.
//
// A key is "<device>/<name>", a clean relative slash-separated path
// (CheckKey). Every key that reaches a Store, and every key a store lists,
// is checked before it names a file or an object: a listing from a bucket
// with "../" in it is refused, not followed.
package archive

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Store is one copy of the photos, by key. Implementations are safe for
// concurrent use.
type Store interface {
	// Put stores size bytes read from r under key, replacing what was
	// there, and returns once they are durable. The bytes must hash to
	// sum (hex SHA-256): if they do not, Put fails and the key keeps what
	// it held.
	Put(ctx context.Context, key string, r io.Reader, size int64, sum string) error
	// Stat returns key's object; its SHA256 is the sum recorded with it,
	// "" if the store records none. A missing key is ErrNotExist.
	Stat(ctx context.Context, key string) (Object, error)
	// Open returns key's bytes. A missing key is ErrNotExist.
	Open(ctx context.Context, key string) (io.ReadCloser, error)
	// Delete removes key; a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// Walk calls fn for every object in the store, in no particular
	// order. Keys are as the store lists them: check them (CheckKey)
	// before use.
	Walk(ctx context.Context, fn func(Object) error) error
	// String names the store in logs and reports, without secrets.
	String() string
}

// Object is a stored photo.
type Object struct {
	Key  string
	Size int64
	// SHA256 is the sum the store recorded with the object (hex), "" if
	// it records none.
	SHA256 string
}

// ErrNotExist is a key a store does not hold.
var ErrNotExist = errors.New("no such photo")

// ErrUnavailable wraps a failure of a store to answer at all (refused
// connection, timeout, 5xx): the photo may be there; ask later.
var ErrUnavailable = errors.New("store unavailable")

// ErrMismatch is bytes that do not hash to the sum they were put with.
var ErrMismatch = errors.New("sha256 mismatch")

// maxKeyLen bounds a key: a device name, a slash and ingest's longest
// name.
const maxKeyLen = 1024

// CheckKey reports why key cannot be a photo's key, or nil: it must be
// "<device>/<name>", with a device name CheckDevice accepts, and pass
// CheckPath. ingest's rules for names are
// stricter; this is what every store enforces on its own.
func CheckKey(key string) error {
	if len(key) > maxKeyLen {
		return fmt.Errorf("key of %d bytes is longer than %d", len(key), maxKeyLen)
	}
	if err := CheckPath("key", key); err != nil {
		return err
	}
	dev, _, ok := strings.Cut(key, "/")
	if !ok {
		return fmt.Errorf("key %q is not <device>/<name>", key)
	}
	if err := CheckDevice(dev); err != nil {
		return fmt.Errorf("key %q: %w", key, err)
	}
	return nil
}

var deviceName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// CheckDevice reports why name cannot be a device's name (the first
// element of its photos' keys, its directory under the root), or nil.
func CheckDevice(name string) error {
	if !deviceName.MatchString(name) {
		return fmt.Errorf("device name %q: want [A-Za-z0-9][A-Za-z0-9_.-]{0,63}", name)
	}
	return nil
}

// CheckPath reports why p cannot name a file below a directory, or nil:
// it must be a clean relative slash-separated path of printable UTF-8
// whose elements are neither empty, "." nor "..", nor start with a dot
// (temporary files and the archive's records do), without backslashes.
// noun names p in the error ("key", "name").
func CheckPath(noun, p string) error {
	switch {
	case p == "":
		return fmt.Errorf("empty %s", noun)
	case !utf8.ValidString(p):
		return fmt.Errorf("%s %q is not UTF-8", noun, p)
	case strings.HasPrefix(p, "/"):
		return fmt.Errorf("%s %q is absolute", noun, p)
	case strings.ContainsRune(p, '\\'):
		return fmt.Errorf("%s %q contains a backslash", noun, p)
	}
	for _, r := range p {
		if !unicode.IsPrint(r) && r != ' ' {
			return fmt.Errorf("%s %q contains the control character %U", noun, p, r)
		}
	}
	for _, e := range strings.Split(p, "/") {
		switch {
		case e == "" || e == "." || e == "..":
			return fmt.Errorf("%s %q has an element %q", noun, p, e)
		case strings.HasPrefix(e, "."):
			return fmt.Errorf("%s %q has an element starting with a dot", noun, p)
		}
	}
	if path.Clean(p) != p {
		return fmt.Errorf("%s %q is not clean", noun, p)
	}
	return nil
}
