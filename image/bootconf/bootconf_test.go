package bootconf_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lapsebox/lapsebox/image/bootconf"
	"github.com/lapsebox/lapsebox/image/fat"
)

const line = "console=tty1 root=PARTUUID=60c24cc1-f3f9-427a-8199-3a9f63470001/PARTNROFF=1 init=/gokrazy/init rootwait"

// The files as the image writes them (image/bootfs.go): the line, a
// newline, then spaces for gokrazy's rewrites.
var (
	cmdline = line + "\n" + strings.Repeat(" ", 320)
	entry   = "options " + line + "\ntitle gokrazy\nlinux /vmlinuz" + strings.Repeat(" ", 320)
)

// rewrite does what gokrazy's modifyCmdlineFile does on the device: it
// replaces, pads a shorter result with spaces before each newline and
// writes at the file's length, cutting what grew past it.
func rewrite(file []byte, old, new string) []byte {
	rep := bytes.ReplaceAll(file, []byte(old), []byte(new))
	if pad := len(file) - len(rep); pad > 0 {
		rep = bytes.ReplaceAll(rep, []byte{'\n'}, append(bytes.Repeat([]byte{' '}, pad), '\n'))
	}
	return rep[:len(file)]
}

// trial is one trial boot as gokrazy makes it: testboot, then the boot
// on trial turning the flag into switch_on_boot.
func trial(b []byte) []byte {
	b = rewrite(b, "\n", " "+bootconf.TrialFlag+"\n")
	return rewrite(b, bootconf.TrialFlag, "gokrazy.switch_on_boot=1")
}

func TestTidyGivesTheRoomBack(t *testing.T) {
	for _, orig := range []string{cmdline, entry} {
		b := []byte(orig)
		n := 0
		for ; n < 100; n++ {
			if room := len(b) - len(bytes.TrimRight(b, " ")); room < bootconf.TrialRoom(b) {
				break // as it is, the next flag would cut the last line
			}
			b = trial(b)
		}
		if n < 3 || n == 100 {
			t.Fatalf("%d trials fit untidied: the padding is not used up as on the device", n)
		}
		tidy, room := bootconf.Tidy(b)
		if string(tidy) != orig {
			t.Errorf("after %d trials, tidied:\n%q\nwant the file as built:\n%q", n, tidy, orig)
		}
		if room != 320 {
			t.Errorf("room %d, want the 320 spaces back", room)
		}
		// A file in the middle of a trial (flag not yet switched) is
		// tidied too: the flag is stale when updated starts a new one.
		mid, _ := bootconf.Tidy(rewrite([]byte(orig), "\n", " "+bootconf.TrialFlag+"\n"))
		if string(mid) != orig {
			t.Errorf("a pending flag was not removed: %q", mid)
		}
	}
}

func TestOnTrial(t *testing.T) {
	for cl, want := range map[string]bool{
		line + " " + bootconf.TrialFlag + "\n": true,
		line + "\n":                            false,
		line + " gokrazy.switch_on_boot=1":     false,
		line + " x" + bootconf.TrialFlag:       false,
	} {
		if got := bootconf.OnTrial(cl); got != want {
			t.Errorf("OnTrial(%q) = %v", cl, got)
		}
	}
}

// bootFS writes a FAT16 boot file system holding the two files.
func bootFS(t *testing.T, cmd, conf []byte) string {
	t.Helper()
	w := fat.NewWriter(fat.Options{Label: "GOKRAZY"})
	if err := w.AddFile("cmdline.txt", cmd); err != nil {
		t.Fatal(err)
	}
	if conf != nil {
		if err := w.AddFile("loader/entries/gokrazy.conf", conf); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "boot.img")
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func read(t *testing.T, path, name string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	off, n, err := fat.Find(f, name)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, n)
	f.ReadAt(b, off)
	return b
}

func TestTidyPartition(t *testing.T) {
	used := []byte(cmdline)
	usedEntry := []byte(entry)
	for range 5 {
		used, usedEntry = trial(used), trial(usedEntry)
	}
	path := bootFS(t, used, usedEntry)
	before, _ := os.ReadFile(path)
	if err := bootconf.TidyPartition(path); err != nil {
		t.Fatal(err)
	}
	if got := read(t, path, "/cmdline.txt"); string(got) != cmdline {
		t.Errorf("cmdline.txt tidied to %q", got)
	}
	if got := read(t, path, "/loader/entries/gokrazy.conf"); string(got) != entry {
		t.Errorf("gokrazy.conf tidied to %q", got)
	}
	after, _ := os.ReadFile(path)
	if len(after) != len(before) {
		t.Fatalf("the partition changed size: %d → %d", len(before), len(after))
	}
	diff := 0
	for i := range after {
		if after[i] != before[i] {
			diff++
		}
	}
	if diff == 0 || diff > 2*512 {
		t.Errorf("%d bytes changed; want only the two files' bytes", diff)
	}

	// A board without a UEFI entry (the Pi): only cmdline.txt.
	pi := bootFS(t, used, nil)
	if err := bootconf.TidyPartition(pi); err != nil {
		t.Fatal(err)
	}
	if got := read(t, pi, "/cmdline.txt"); string(got) != cmdline {
		t.Errorf("the Pi's cmdline.txt tidied to %q", got)
	}
}

// A boot file system after trials and a switch to root B compares equal
// to the one built, once normalized; one whose kernel changed does not.
func TestNormalize(t *testing.T) {
	built, _ := os.ReadFile(bootFS(t, []byte(cmdline), []byte(entry)))
	used := []byte(cmdline)
	usedEntry := []byte(entry)
	for range 3 {
		used, usedEntry = trial(used), trial(usedEntry)
	}
	used = rewrite(used, "PARTNROFF=1", "PARTNROFF=2")
	usedEntry = rewrite(usedEntry, "PARTNROFF=1", "PARTNROFF=2")
	device, _ := os.ReadFile(bootFS(t, used, usedEntry))
	if bytes.Equal(device, built) {
		t.Fatal("the device's files did not change")
	}
	device[37] = 0x01 // mounted by gokrazy's kexec reboot, never unmounted
	pastEnd(t, device)
	if err := bootconf.Normalize(device); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(device, built) {
		t.Error("normalized, the device's boot file system differs from the one built")
	}
	if err := bootconf.Normalize(bytes.Repeat([]byte("FAT16 "), 1000)); err == nil {
		t.Error("not a FAT: no error")
	}
}

func TestTidyPartitionErrors(t *testing.T) {
	// A file built without padding (gok's own) has no room for a trial:
	// clear error, nothing written.
	tight := bootFS(t, []byte(line), nil)
	before, _ := os.ReadFile(tight)
	err := bootconf.TidyPartition(tight)
	if !errors.Is(err, bootconf.ErrNoRoom) || !strings.Contains(err.Error(), "/cmdline.txt") {
		t.Errorf("unpadded cmdline.txt: %v", err)
	}
	tight2 := bootFS(t, []byte(line+"\n"), nil)
	if err := bootconf.TidyPartition(tight2); !errors.Is(err, bootconf.ErrNoRoom) {
		t.Errorf("cmdline.txt with a newline and no spaces: %v", err)
	}
	if after, _ := os.ReadFile(tight); !bytes.Equal(after, before) {
		t.Error("a refused partition was written")
	}

	// Not a FAT, and no such device.
	junk := filepath.Join(t.TempDir(), "junk")
	os.WriteFile(junk, bytes.Repeat([]byte("FAT16 "), 10_000), 0o600)
	if err := bootconf.TidyPartition(junk); err == nil || !strings.Contains(err.Error(), "/cmdline.txt") {
		t.Errorf("not a FAT: %v", err)
	}
	if err := bootconf.TidyPartition(filepath.Join(t.TempDir(), "sda1")); err == nil {
		t.Error("missing device: no error")
	}
}

// TestSlotTrial marks new boot files for a trial from the other boot
// slot, naming root B, and ends the trial in place on a file (a slot of
// a disk): the files are then those gokrazy's switch to root B leaves.
func TestSlotTrial(t *testing.T) {
	built, _ := os.ReadFile(bootFS(t, []byte(cmdline), []byte(entry)))
	fs := bytes.Clone(built)
	if err := bootconf.ForSlotTrial(fs, 2); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "slot.img")
	os.WriteFile(path, fs, 0o600)
	got := string(read(t, path, "/cmdline.txt"))
	want := strings.Replace(line, "PARTNROFF=1", "PARTNROFF=2", 1) + " " + bootconf.SlotTrialFlag + "\n"
	if !strings.HasPrefix(got, want) || len(got) != len(cmdline) || !bootconf.OnSlotTrial(got) || !bootconf.OnTrial(got) {
		t.Errorf("cmdline.txt on trial: %q, want %q and padding, %d bytes", got, want, len(cmdline))
	}
	if e := string(read(t, path, "/loader/entries/gokrazy.conf")); !strings.Contains(e, bootconf.SlotTrialFlag+"\ntitle") || strings.Contains(e, "/vmlinuz "+bootconf.SlotTrialFlag) {
		t.Errorf("gokrazy.conf on trial: %q", e)
	}

	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := bootconf.EndSlotTrial(f); err != nil {
		t.Fatal(err)
	}
	ended, _ := os.ReadFile(path)
	switched := bytes.Clone(built)
	if err := bootconf.ForRoot(switched, 2); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ended, switched) {
		t.Errorf("after the trial: cmdline.txt %q, want the files naming root B without the flag", read(t, path, "/cmdline.txt"))
	}
	if bootconf.OnSlotTrial(line) || bootconf.OnSlotTrial(line+" "+bootconf.TrialFlag) {
		t.Error("OnSlotTrial on a line without its flag")
	}

	// No room left: the flag is refused, not cut.
	full := []byte(line + "\n")
	tight, _ := os.ReadFile(bootFS(t, full, nil))
	if err := bootconf.ForSlotTrial(tight, 2); !errors.Is(err, bootconf.ErrNoRoom) {
		t.Errorf("ForSlotTrial without padding: %v, want ErrNoRoom", err)
	}
}

// TestAsBuiltView reads a used boot file system as the one built, at
// every offset and in pieces that straddle the boot files' edges,
// without writing the device's.
func TestAsBuiltView(t *testing.T) {
	built, _ := os.ReadFile(bootFS(t, []byte(cmdline), []byte(entry)))
	used, usedEntry := trial(trial([]byte(cmdline))), trial(trial([]byte(entry)))
	used = rewrite(used, "PARTNROFF=1", "PARTNROFF=2")
	usedEntry = rewrite(usedEntry, "PARTNROFF=1", "PARTNROFF=2")
	device, _ := os.ReadFile(bootFS(t, used, usedEntry))
	device[37] = 0x01 // mounted by gokrazy's kexec reboot, never unmounted
	pastEnd(t, device)
	before := bytes.Clone(device)
	view, err := bootconf.AsBuiltView(bytes.NewReader(device))
	if err != nil {
		t.Fatal(err)
	}
	for _, piece := range []int{len(built), 4096, 777, 1} {
		got := make([]byte, 0, len(built))
		buf := make([]byte, piece)
		for off := 0; off < len(built); off += piece {
			n, err := view.ReadAt(buf[:min(piece, len(built)-off)], int64(off))
			if err != nil && n < min(piece, len(built)-off) {
				t.Fatalf("ReadAt(%d bytes at %d): %d, %v", piece, off, n, err)
			}
			got = append(got, buf[:n]...)
		}
		if !bytes.Equal(got, built) {
			t.Errorf("read in pieces of %d bytes, the view differs from the file system built", piece)
		}
	}
	if !bytes.Equal(device, before) {
		t.Error("the view wrote the device's file system")
	}
	// Past the end, the device's own answer.
	if n, err := view.ReadAt(make([]byte, 10), int64(len(device))-4); n != 4 || err == nil {
		t.Errorf("a read across the end: %d bytes, %v; want 4 and an error", n, err)
	}
	if _, err := bootconf.AsBuiltView(bytes.NewReader(bytes.Repeat([]byte("FAT16 "), 1000))); err == nil {
		t.Error("not a FAT: no error")
	}

	// Its sum is the built file system's, in a partition larger than it.
	sum, size, err := bootconf.SumAsBuilt(bytes.NewReader(append(device, make([]byte, 1<<20)...)))
	if want := sha256.Sum256(built); err != nil || size != int64(len(built)) || sum != hex.EncodeToString(want[:]) {
		t.Errorf("SumAsBuilt = %.12s, %d, %v; want %x, %d", sum, size, err, want[:6], len(built))
	}
	if _, _, err := bootconf.SumAsBuilt(bytes.NewReader(make([]byte, 4096))); err == nil {
		t.Error("SumAsBuilt of zeros: no error")
	}
}

// pastEnd writes what gokrazy's testboot writes past the end of each boot
// file in fs: its growth, spaces pushed out of the padding, into the
// slack of the file's last cluster.
func pastEnd(t *testing.T, fs []byte) {
	t.Helper()
	for _, name := range bootconf.Files {
		off, n, err := fat.Slack(bytes.NewReader(fs), name)
		if err != nil {
			t.Fatal(err)
		}
		if n < 28 {
			t.Fatalf("%s: %d bytes of slack, too few for the test", name, n)
		}
		copy(fs[off:], strings.Repeat(" ", 28))
	}
}
