package fat

import (
	"bytes"
	"testing"
)

// TestUnworn undoes what Linux's vfat driver does to a boot file system
// it mounts read-write and reads from without unmounting it (gokrazy's
// kexec reboot): the dirty flag, and access dates of files read, in the
// root directory and below.
func TestUnworn(t *testing.T) {
	_, img, _ := findImage(t)
	if spans, err := Unworn(bytes.NewReader(img)); err != nil || len(spans) != 0 {
		t.Fatalf("Unworn of the image as written: %v, %v; want nothing to undo", spans, err)
	}
	worn := bytes.Clone(img)
	worn[stateOffset] = 0x01
	for _, name := range []string{"CMDLINE TXT", "PIEEPROMSIG", "MID     BIN"} {
		e := shortEntry(t, worn, name)
		le.PutUint16(worn[e+18:], le.Uint16(worn[e+24:])+40) // read 40 days later
	}
	spans, err := Unworn(bytes.NewReader(worn))
	if err != nil {
		t.Fatal(err)
	}
	if len(spans) != 4 {
		t.Errorf("%d spans, want 4 (the flag, three access dates)", len(spans))
	}
	for _, s := range spans {
		copy(worn[s.Offset:], s.Data)
	}
	if !bytes.Equal(worn, img) {
		t.Error("unworn, the file system differs from the one written")
	}

	// A directory whose cluster chain loops back ends the walk.
	looped := bytes.Clone(img)
	e := shortEntry(t, looped, "big        ")
	c := int(le.Uint16(looped[e+26:]))
	le.PutUint16(looped[reservedSectors*SectorSize+2*c:], uint16(c))
	if _, err := Unworn(bytes.NewReader(looped)); err != nil {
		t.Errorf("a looped directory: %v", err)
	}
	if _, err := Unworn(bytes.NewReader(make([]byte, 4096))); err == nil {
		t.Error("zeros: no error")
	}
}
