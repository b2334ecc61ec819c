package fat

import (
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// maxLongName is the VFAT limit on a long name, in UTF-16 code units.
const maxLongName = 255

// lfnChars is how many UTF-16 code units one long-name entry holds.
const lfnChars = 13

// NT case flags (the byte at offset 0x0C of a short entry). Linux vfat
// (shortname=mixed), Windows, mtools, EDK2 and the Raspberry Pi firmware
// all honour them, so an all-lower-case 8.3 name needs no long-name entry.
const (
	ntLowerBase = 0x08
	ntLowerExt  = 0x10
)

var errNameTooLong = errors.New("name too long")

// checkName reports why name cannot be stored as a file or directory name.
func checkName(name string) error {
	switch name {
	case "", ".", "..":
		return fmt.Errorf("invalid name %q", name)
	}
	if !utf8.ValidString(name) {
		return fmt.Errorf("name %q is not valid UTF-8", name)
	}
	for _, r := range name {
		// The characters Linux vfat and Windows refuse in long names.
		if r < 0x20 || strings.ContainsRune(`"*/:<>?\|`, r) {
			return fmt.Errorf("name %q contains %q, which FAT does not allow", name, r)
		}
	}
	// Windows and Linux strip trailing dots (Windows also spaces) on
	// lookup, so such a name could not be opened under the name we wrote.
	if strings.HasSuffix(name, ".") || strings.HasSuffix(name, " ") {
		return fmt.Errorf("name %q ends in a dot or space", name)
	}
	if n := utf16Len(name); n > maxLongName {
		return fmt.Errorf("%w: %q is %d UTF-16 units, FAT allows %d", errNameTooLong, name, n, maxLongName)
	}
	return nil
}

func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}

// foldName is the key under which a name is unique within its directory:
// FAT lookups are case-insensitive.
func foldName(name string) string { return strings.ToUpper(name) }

// sfnChar reports whether c may appear in a short name besides letters.
func sfnChar(c byte) bool {
	switch {
	case '0' <= c && c <= '9', 'A' <= c && c <= 'Z':
		return true
	}
	return strings.IndexByte("!#$%&'()-@^_`{}~", c) >= 0
}

type letterCase int

const (
	caseNone letterCase = iota // no letters
	caseUpper
	caseLower
	caseMixed
)

// partCase classifies one part (base or extension) of an 8.3 name; ok is
// false if it contains a character that a short name cannot hold.
func partCase(s string) (c letterCase, ok bool) {
	for i := 0; i < len(s); i++ {
		b := s[i]
		var this letterCase
		switch {
		case 'a' <= b && b <= 'z':
			this = caseLower
		case 'A' <= b && b <= 'Z':
			this = caseUpper
		case sfnChar(b):
			continue
		default:
			return 0, false
		}
		if c == caseNone {
			c = this
		} else if c != this {
			c = caseMixed
		}
	}
	return c, true
}

// exactShort returns the short entry bytes and NT case flags for a name
// that a short entry alone can represent, so that no long-name entries are
// needed.
//
// Extension-less all-lower-case names ("loader", "entries", "vmlinuz") are
// stored with literally lower-case bytes and no case flags, as gokrazy's
// own writer does: the device-side reader builds the comparison name
// "LOADER." (trailing dot) for them, which never matches, and only finds
// them through its fallback that compares the raw bytes with the path
// component. Linux vfat, mtools and fsck.vfat accept such entries.
func exactShort(name string) (sfn [11]byte, nt byte, ok bool) {
	base, ext, hasDot := strings.Cut(name, ".")
	if len(base) < 1 || len(base) > 8 || len(ext) > 3 || (hasDot && ext == "") || strings.Contains(ext, ".") {
		return sfn, 0, false
	}
	bc, ok1 := partCase(base)
	ec, ok2 := partCase(ext)
	if !ok1 || !ok2 || bc == caseMixed || ec == caseMixed {
		return sfn, 0, false
	}
	copy(sfn[:], "           ")
	if !hasDot && bc == caseLower {
		copy(sfn[:], base)
		return sfn, 0, true
	}
	copy(sfn[:8], strings.ToUpper(base))
	copy(sfn[8:], strings.ToUpper(ext))
	if bc == caseLower {
		nt |= ntLowerBase
	}
	if ec == caseLower {
		nt |= ntLowerExt
	}
	return sfn, nt, true
}

// basisName derives the upper-case short-name basis of a long name
// (Microsoft's "basis-name generation"): spaces and leading dots dropped,
// the extension taken after the last dot, characters a short name cannot
// hold replaced by '_'. lossy reports whether information was lost, in
// which case a numeric tail is required.
func basisName(name string) (base, ext string, lossy bool) {
	s := strings.TrimLeft(name, ".")
	if s != name {
		lossy = true
	}
	main, extPart := s, ""
	if i := strings.LastIndexByte(s, '.'); i >= 0 {
		main, extPart = s[:i], s[i+1:]
	}
	conv := func(part string, max int) string {
		var b strings.Builder
		for _, r := range part {
			switch {
			case r == ' ' || r == '.':
				lossy = true
				continue
			case 'a' <= r && r <= 'z':
				r -= 'a' - 'A'
			case r < utf8.RuneSelf && sfnChar(byte(r)):
			default:
				r = '_'
				lossy = true
			}
			if b.Len() == max {
				lossy = true
				break
			}
			b.WriteByte(byte(r))
		}
		return b.String()
	}
	base = conv(main, 8)
	ext = conv(extPart, 3)
	if base == "" {
		base = "_"
		lossy = true
	}
	return base, ext, lossy
}

func packShort(base, ext string) (sfn [11]byte) {
	copy(sfn[:], "           ")
	copy(sfn[:8], base)
	copy(sfn[8:], ext)
	return sfn
}

// sfnKey is the case-insensitive identity of a short name: lookups fold
// case, so "loader" (raw lower case) and "LOADER" would collide.
func sfnKey(sfn [11]byte) [11]byte {
	for i, c := range sfn {
		if 'a' <= c && c <= 'z' {
			sfn[i] = c - ('a' - 'A')
		}
	}
	return sfn
}

// generateShort picks a unique short name for a name that needs long-name
// entries. It tries the basis itself (when lossless, so that "Foo.txt"
// keeps "FOO.TXT"), then "~1" to "~4" as Windows and gokrazy do (gokrazy's
// reader can only find a long-named file under its "~1" alias), then
// Windows-style hashed tails, so that a directory like overlays/ with
// hundreds of similar names does not exhaust the numeric tails.
func generateShort(name string, used map[[11]byte]bool) [11]byte {
	base, ext, lossy := basisName(name)
	if !lossy {
		if sfn := packShort(base, ext); !used[sfnKey(sfn)] {
			return sfn
		}
	}
	for n := 1; n <= 4; n++ {
		tail := fmt.Sprintf("~%d", n)
		b := base
		if len(b)+len(tail) > 8 {
			b = b[:8-len(tail)]
		}
		if sfn := packShort(b+tail, ext); !used[sfnKey(sfn)] {
			return sfn
		}
	}
	h := fnv.New32a()
	h.Write([]byte(name))
	sum := h.Sum32()
	b := base
	if len(b) > 2 {
		b = b[:2]
	}
	// A directory holds at most 65536 entries, so one of the 65536 hash
	// values (each with ~1..~9) is always free.
	for k := uint32(0); ; k++ {
		for n := 1; n <= 9; n++ {
			sfn := packShort(fmt.Sprintf("%s%04X~%d", b, uint16(sum+k), n), ext)
			if !used[sfnKey(sfn)] {
				return sfn
			}
		}
	}
}

// lfnChecksum is the checksum over a short name that ties long-name
// entries to it.
func lfnChecksum(sfn [11]byte) byte {
	var s byte
	for _, c := range sfn {
		s = (s>>1 | s<<7) + c
	}
	return s
}

// lfnSlots is the number of long-name entries name occupies (0 if its
// short entry represents it exactly).
func lfnSlots(name string) int {
	if _, _, ok := exactShort(name); ok {
		return 0
	}
	return (utf16Len(name) + lfnChars - 1) / lfnChars
}

// putLFN writes the long-name entries for name into b (32 bytes per
// entry), last part first as the on-disk order requires.
func putLFN(b []byte, name string, sum byte) {
	units := utf16.Encode([]rune(name))
	n := (len(units) + lfnChars - 1) / lfnChars
	padded := make([]uint16, n*lfnChars)
	copy(padded, units)
	for i := len(units); i < len(padded); i++ {
		if i == len(units) {
			padded[i] = 0 // terminator, only when the name does not fill the last entry
		} else {
			padded[i] = 0xFFFF
		}
	}
	for i := 0; i < n; i++ {
		seq := n - i // entries are stored from the last part to the first
		e := b[i*dirEntrySize : (i+1)*dirEntrySize]
		e[0] = byte(seq)
		if i == 0 {
			e[0] |= 0x40 // last logical entry
		}
		part := padded[(seq-1)*lfnChars : seq*lfnChars]
		for j, u := range part {
			var off int
			switch {
			case j < 5:
				off = 1 + 2*j
			case j < 11:
				off = 14 + 2*(j-5)
			default:
				off = 28 + 2*(j-11)
			}
			le.PutUint16(e[off:], u)
		}
		e[11] = attrLongName
		e[12] = 0
		e[13] = sum
		le.PutUint16(e[26:], 0)
	}
}
