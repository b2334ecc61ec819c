package disk

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/lapsebox/lapsebox/internal/testtool"
)

// sectors is a sparse disk that groups what is written into the steps
// its Sync calls end, as a card's write cache flushes them.
type sectors struct {
	size  int64
	data  map[int64][]byte
	steps [][]sectorWrite // finished steps, then the open one
}

type sectorWrite struct {
	lba  int64
	data []byte
}

func newSectors(size int64) *sectors {
	return &sectors{size: size, data: map[int64][]byte{}, steps: [][]sectorWrite{nil}}
}

func (s *sectors) ReadAt(p []byte, off int64) (int, error) {
	for i := 0; i < len(p); i += SectorSize {
		b := s.data[off/SectorSize+int64(i/SectorSize)]
		if b == nil {
			b = make([]byte, SectorSize)
		}
		copy(p[i:], b)
	}
	return len(p), nil
}

func (s *sectors) WriteAt(p []byte, off int64) (int, error) {
	for i := 0; i < len(p); i += SectorSize {
		w := sectorWrite{off/SectorSize + int64(i/SectorSize), bytes.Clone(p[i : i+SectorSize])}
		s.data[w.lba] = w.data
		s.steps[len(s.steps)-1] = append(s.steps[len(s.steps)-1], w)
	}
	return len(p), nil
}

func (s *sectors) Sync() error { s.steps = append(s.steps, nil); return nil }

func (s *sectors) clone() *sectors {
	c := newSectors(s.size)
	for k, v := range s.data {
		c.data[k] = bytes.Clone(v)
	}
	return c
}

func newSlotDisk(t *testing.T, l Layout, code [BootCodeSize]byte) *sectors {
	t.Helper()
	d := newSectors(l.SizeBytes)
	if err := WriteTable(d, l, code); err != nil {
		t.Fatal(err)
	}
	d.steps = [][]sectorWrite{nil}
	return d
}

// TestSwitchBootSurvivesCuts cuts a switch from slot 0 to slot 1 at every
// step, with any part of the step's sectors on the card (a cache loses
// or keeps each unflushed one), and checks what every reader finds: a
// valid table naming one of the two slots, never the MBR ahead of the
// GPT, and a switch done again finishes it.
func TestSwitchBootSurvivesCuts(t *testing.T) {
	l := Layout{SizeBytes: MinSizeBytes, Hostname: "crane", GOARCH: "amd64"}
	code, err := BootCode(bytes.Repeat([]byte{0x90}, 400), uint32(BootSlotStart(0))+100, uint32(BootSlotStart(0))+90, Signature("crane"))
	if err != nil {
		t.Fatal(err)
	}
	before := newSlotDisk(t, l, code)
	moved, err := MoveBootCode(code[:], 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	rec := before.clone()
	if err := SwitchBoot(rec, 1, moved); err != nil {
		t.Fatal(err)
	}
	steps := rec.steps[:len(rec.steps)-1]
	if len(steps) != 4 {
		t.Fatalf("the switch was flushed in %d steps, want 4 (backup GPT, primary entries, primary header, MBR)", len(steps))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	cuts := 0
	for i, step := range steps {
		for trial := range 40 {
			d := before.clone()
			for _, done := range steps[:i] {
				for _, w := range done {
					d.data[w.lba] = w.data
				}
			}
			for _, w := range step {
				if trial == 0 || rng.IntN(2) == 0 { // trial 0: the whole step, unflushed
					d.data[w.lba] = w.data
				}
			}
			cuts++
			mbr, gpt, err := Slots(d)
			if err != nil {
				t.Fatalf("cut in step %d (trial %d): the tables do not read: %v", i, trial, err)
			}
			if mbr > gpt {
				t.Fatalf("cut in step %d: the MBR names slot %d before the GPT does (%d)", i, mbr, gpt)
			}
			var s [SectorSize]byte
			d.ReadAt(s[:], 0)
			if lba := int64(binary.LittleEndian.Uint32(s[432:])); lba != BootSlotStart(mbr)+100 {
				t.Fatalf("cut in step %d: the BIOS loader reads vmlinuz at %d, the MBR names slot %d", i, lba, mbr)
			}
			if err := SwitchBoot(d, 1, moved); err != nil {
				t.Fatalf("finishing the switch cut in step %d: %v", i, err)
			}
			if mbr, gpt, err := Slots(d); err != nil || mbr != 1 || gpt != 1 {
				t.Fatalf("finishing the switch cut in step %d: slots %d and %d (%v), want 1", i, mbr, gpt, err)
			}
		}
	}
	t.Logf("%d cuts", cuts)
}

func TestSwitchBootAndBack(t *testing.T) {
	sgdisk := testtool.Program(t, "sgdisk")
	l := Layout{SizeBytes: 2 << 30, Hostname: "lapsebox", GOARCH: "arm64"}
	path := writeImage(t, l, [BootCodeSize]byte{})
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, slot := range []int{1, 0, 1} {
		if err := SwitchBoot(f, slot, nil); err != nil {
			t.Fatal(err)
		}
		if mbr, gpt, err := Slots(f); err != nil || mbr != slot || gpt != slot {
			t.Fatalf("after switching to %d: slots %d and %d (%v)", slot, mbr, gpt, err)
		}
		out, err := exec.Command(sgdisk, "-v", path).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "No problems found") {
			t.Fatalf("slot %d: sgdisk -v: %v\n%s", slot, err, out)
		}
		out, err = exec.Command(sgdisk, "-i", "1", path).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "First sector: "+strconv.FormatInt(BootSlotStart(slot), 10)+" ") {
			t.Fatalf("slot %d: sgdisk -i 1 does not start at %d: %v\n%s", slot, BootSlotStart(slot), err, out)
		}
	}
	// A table written for slot 1 equals the one switched to it.
	l.BootSlot = 1
	want := writeImage(t, l, [BootCodeSize]byte{})
	got, _ := os.ReadFile(path)
	w, _ := os.ReadFile(want)
	if !bytes.Equal(got[:34*SectorSize], w[:34*SectorSize]) || !bytes.Equal(got[len(got)-33*SectorSize:], w[len(w)-33*SectorSize:]) {
		t.Error("the switched tables differ from the ones WriteTable writes for slot 1")
	}
}

func TestSwitchBootRejects(t *testing.T) {
	l := Layout{SizeBytes: MinSizeBytes, Hostname: "x", GOARCH: "amd64"}
	d := newSlotDisk(t, l, [BootCodeSize]byte{})
	for _, tt := range []struct {
		slot int
		code []byte
		want string
	}{
		{2, nil, "boot slot 2"},
		{-1, nil, "boot slot -1"},
		{1, make([]byte, 440), "boot code is 440 bytes"},
	} {
		if err := SwitchBoot(d, tt.slot, tt.code); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("SwitchBoot(%d, %d bytes): %v, want %q", tt.slot, len(tt.code), err, tt.want)
		}
	}
	// Both GPT copies torn: nothing is written.
	blank := d.clone()
	blank.data[1] = make([]byte, SectorSize)
	blank.data[MinSizeBytes/SectorSize-1] = make([]byte, SectorSize)
	n := len(blank.data)
	if err := SwitchBoot(blank, 1, nil); err == nil || !strings.Contains(err.Error(), "backup GPT") {
		t.Errorf("switching a disk without a valid GPT: %v", err)
	}
	if _, _, err := Slots(blank); err == nil {
		t.Error("Slots read a disk without a valid GPT")
	}
	if len(blank.data) != n || len(blank.steps[0]) != 0 {
		t.Error("a refused switch wrote to the disk")
	}
	if _, err := MoveBootCode(make([]byte, BootCodeSize), 0, 1); err != nil {
		t.Errorf("boot code without a loader: %v", err)
	}
	code, _ := BootCode([]byte{0x90}, 7000, 0, 0)
	if _, err := MoveBootCode(code[:], 0, 1); err == nil || !strings.Contains(err.Error(), "LBA 7000 lies outside boot slot 0") {
		t.Errorf("a loader pointing outside its slot: %v", err)
	}
}
