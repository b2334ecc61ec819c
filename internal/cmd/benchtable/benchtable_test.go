package main

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// parseFile parses a recorded output in testdata.
func parseFile(t *testing.T, name string) *results {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := parse(f)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return res
}

// rowOf is the row of rows measured by command name (the first).
func rowOf(t *testing.T, name string) Row {
	t.Helper()
	for _, r := range rows {
		if r.Command.Name == name {
			return r
		}
	}
	t.Fatalf("no row of command %s", name)
	return Row{}
}

func TestParseCount(t *testing.T) {
	res := parseFile(t, "camera-count3.txt")
	if want := []string{"BenchmarkCaptureRAWJPG/card", "BenchmarkCaptureRAWJPG/host"}; !reflect.DeepEqual(res.order, want) {
		t.Errorf("benchmarks %q, want %q (GOMAXPROCS suffix removed, first appearance first)", res.order, want)
	}
	card := res.values["BenchmarkCaptureRAWJPG/card"]
	if want := []float64{12509683, 12464951, 12430212}; !reflect.DeepEqual(card["ns/op"], want) {
		t.Errorf("card ns/op %v, want %v", card["ns/op"], want)
	}
	if want := []float64{871, 871, 871}; !reflect.DeepEqual(card["allocs/op"], want) {
		t.Errorf("card allocs/op %v, want %v", card["allocs/op"], want)
	}
	if got := res.values["BenchmarkCaptureRAWJPG/host"]["MB/s"]; len(got) != 3 || got[1] != 1702.85 {
		t.Errorf("host MB/s %v, want 3 values, the second 1702.85", got)
	}
	// Three runs: the median and the range.
	got := formatValues(millis("", "BenchmarkCaptureRAWJPG/card"), card["ns/op"])
	if want := "12.5 ms (12.4–12.5, 3 runs)"; got != want {
		t.Errorf("formatted %q, want %q", got, want)
	}
	if got := formatValues(millis("", "x"), []float64{12.5e6}); got != "12.5 ms" {
		t.Errorf("one value formatted %q, want %q", got, "12.5 ms")
	}
}

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{{[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(c.in); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}

// The scripts' lines (scripts/bench-process, scripts/bench-arm64) have no
// GOMAXPROCS suffix; names ending in "-1:2" or "-decode" keep it all.
func TestParseScriptLines(t *testing.T) {
	out := `lapsebox process (shrink-on-load)           0.67      63 MB      1.00x
as benchmark lines (one a run):
BenchmarkProcessScript/lapsebox-full-decode 1 1.02 s/job 180 MB-peak
BenchmarkProcessScript/quality-vs-libvips 1 39.80 PSNR-dB 0.9670 SSIM
BenchmarkArm64/Stages/decode-1:2 1 6.440 arm64/amd64 100.00 amd64-ms/op 644.00 arm64-ms/op 5 amd64-allocs/op 5 arm64-allocs/op
`
	res, err := parse(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"BenchmarkProcessScript/lapsebox-full-decode", "BenchmarkProcessScript/quality-vs-libvips", "BenchmarkArm64/Stages/decode-1:2"}
	if !reflect.DeepEqual(res.order, want) {
		t.Errorf("benchmarks %q, want %q", res.order, want)
	}
	if got := res.values["BenchmarkArm64/Stages/decode-1:2"]["arm64/amd64"]; !reflect.DeepEqual(got, []float64{6.44}) {
		t.Errorf("arm64/amd64 %v, want [6.44]", got)
	}
	if got := res.matching("BenchmarkArm64/*"); !reflect.DeepEqual(got, []string{"BenchmarkArm64/Stages/decode-1:2"}) {
		t.Errorf("BenchmarkArm64/* matches %q", got)
	}
}

func TestParseErrors(t *testing.T) {
	for in, want := range map[string]string{
		"BenchmarkX-2 \t 1\t 12 ns/op 7\n":  `line 1: "BenchmarkX-2 \t 1\t 12 ns/op 7": a value without its unit`,
		"ok\nBenchmarkX-2 1 twelve ns/op\n": `line 2: "BenchmarkX-2 1 twelve ns/op": value "twelve" of ns/op is not a number`,
	} {
		if _, err := parse(strings.NewReader(in)); err == nil || err.Error() != want {
			t.Errorf("parse(%q): %v, want %s", in, err, want)
		}
	}
	// Not result lines: no error, no figure.
	res, err := parse(strings.NewReader("BenchmarkX-2   \t--- FAIL: BenchmarkX-2\nBenchmarkY\n"))
	if err != nil || len(res.order) != 0 {
		t.Errorf("got %q, %v; want nothing, no error", res.order, err)
	}
}

// A benchmark that skipped (mtools missing) leaves its row's reference
// and ratio "not measured", each a problem, the figure still shown.
func TestTableMissingMetric(t *testing.T) {
	r := rowOf(t, "image-fat")
	var b strings.Builder
	problems := table(&b, []Row{r}, map[string]output{"image-fat": {res: parseFile(t, "fat-mtools-skipped.txt")}})
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("table:\n%s\nwant a header, its rule and a row", b.String())
	}
	cells := strings.Split(lines[2], " | ")
	if !strings.HasPrefix(cells[1], "71.3 ms; layout and encoding alone 0.6 ms") {
		t.Errorf("figure %q, want fat-file's 71.3 ms first", cells[1])
	}
	const reason = "not measured (no BenchmarkWriteTo/mtools line in the output"
	if !strings.Contains(cells[2], reason) || !strings.Contains(cells[3], reason) {
		t.Errorf("reference %q and ratio %q, want both %q", cells[2], cells[3], reason)
	}
	if len(problems) != 2 {
		t.Errorf("problems %q, want the reference's and the ratio's", problems)
	}
}

// Rendered from saved outputs: the rows of the two commands that ran have
// their figures, reference and ratio; every other row is not measured and
// benchtable fails after writing the table.
func TestFromSaved(t *testing.T) {
	out := filepath.Join(t.TempDir(), "bench.md")
	var stdout strings.Builder
	err := benchtable(&stdout, "build/bench", "testdata/saved", ".", out, "", false)
	var nm errNotMeasured
	if !errors.As(err, &nm) {
		t.Fatalf("benchtable: %v, want not measured (most commands have no saved output)", err)
	}
	cmds, _ := commands(rows)
	notRun := 0
	for _, r := range rows {
		if r.Command != cmdFAT && r.Command != cmdCamera {
			notRun++
		}
	}
	if len(nm) != notRun || len(cmds) < 3 {
		t.Errorf("%d problems, want %d (a row each of the commands without output):\n%v", len(nm), notRun, nm)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	if stdout.String() != doc {
		t.Errorf("printed\n%s\nwrote\n%s", stdout.String(), doc)
	}
	for _, want := range []string{
		"Measured by `make bench` from 2026-12-05T09:15:04Z to 2026-12-05T09:15:06Z; 2 CPUs; go1.26.8 linux/amd64; load average (1 min) at each command's start 0.88. Each command's output, with its own date and load, is in build/bench/.",
		"| FAT16 boot partition of the Pi (75 MiB, 400 files) to a file | 89.0 ms; layout and encoding alone 0.5 ms | mkfs.vfat + mcopy of the same tree: 73.5 ms | 1.21× (lower is better) | `go test -run '^$' -bench . ./image/fat/` |",
		"| capture + download of a RAW+JPG pair from the simulator (card; host) | card 12.6 ms; 1.6 MB allocated; host 13.4 ms; 1.6 MB allocated | — | — | `go test -run '^$' -bench . ./ptp/camera/` |",
		"| analysing a received 18 MP JPEG (brightness, thumbnail) | not measured (no testdata/saved/picture-Analyze18MP.txt: not run) | not measured (no testdata/saved/picture-Analyze18MP.txt: not run) | not measured (no testdata/saved/picture-Analyze18MP.txt: not run) | `go test -run '^$' -bench Analyze18MP -benchtime 5x ./cloud/picture/` |",
	} {
		if !strings.Contains(doc, want+"\n") {
			t.Errorf("bench.md lacks\n%s\nit is:\n%s", want, doc)
		}
	}
}

// A command is run through bash; its output is saved after a header, and
// a failed command's figures are not used even when it printed some.
func TestRunSaves(t *testing.T) {
	dir := t.TempDir()
	ok := Command{Name: "ok", Line: "echo 'BenchmarkX-2   	 3	 5.5 s/boot'"}
	fails := Command{Name: "fails", Line: "echo 'BenchmarkX-2 1 5 ns/op'; exit 3"}
	o, err := run(ok, dir, new(strings.Builder))
	if err != nil {
		t.Fatal(err)
	}
	if o.err != "" || !reflect.DeepEqual(o.res.values["BenchmarkX"]["s/boot"], []float64{5.5}) {
		t.Errorf("output %+v, want BenchmarkX's 5.5 s/boot", o)
	}
	saved, err := os.ReadFile(filepath.Join(dir, "ok.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"# command: " + ok.Line + "\n", "# date: ", "# go version: go version go", "\n# nproc: ",
		"# load average at the start: ", "# output:\nBenchmarkX-2", "\n# end of output\n# load average at the end: ", "\n# exit: 0\n"} {
		if !strings.Contains(string(saved), want) {
			t.Errorf("ok.txt lacks %q:\n%s", want, saved)
		}
	}
	if o.nproc != strings.TrimSpace(strings.Fields(strings.SplitAfter(string(saved), "# nproc: ")[1])[0]) || o.nproc != strconv.Itoa(runtime.NumCPU()) {
		t.Errorf("nproc %q", o.nproc)
	}
	o, err = run(fails, dir, new(strings.Builder))
	if err != nil {
		t.Fatal(err)
	}
	if want := "the command failed: exit status 3, see " + filepath.Join(dir, "fails.txt"); o.err != want || o.res != nil {
		t.Errorf("failed command's output %+v, want error %q", o, want)
	}
	// Read back as -from does: the same.
	if o2, err := load(fails, dir); err != nil || o2.err != o.err {
		t.Errorf("loaded %+v, %v; want %q", o2, err, o.err)
	}
	// Output lines like the header's are the output's, not the header's.
	tricky := Command{Name: "tricky", Line: "echo '# exit: 0'; echo '# command: x'; false"}
	if o, err := run(tricky, dir, new(strings.Builder)); err != nil || !strings.HasPrefix(o.err, "the command failed: exit status 1") {
		t.Errorf("output %+v, %v; want the command failed", o, err)
	}
	// A run cut short (no end of output) gives no figures.
	cut := Command{Name: "cut", Line: "echo cut"}
	os.WriteFile(filepath.Join(dir, "cut.txt"), []byte("# command: echo cut\n# output:\nBenchmarkX-2 1 5 ns/op\n"), 0o644)
	if o, err := load(cut, dir); err != nil || o.err != filepath.Join(dir, "cut.txt")+" has no # end of output line: the run did not end" {
		t.Errorf("loaded %+v, %v; want the run did not end", o, err)
	}
	// Another command's output under this name is not taken.
	other := Command{Name: "ok", Line: "echo other"}
	if o, err := load(other, dir); err != nil || !strings.Contains(o.err, "not of this command") {
		t.Errorf("loaded %+v, %v; want the command mismatch", o, err)
	}
}

func TestCommands(t *testing.T) {
	cmds, err := commands(rows)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, c := range cmds {
		if names[c.Name] {
			t.Errorf("command %s twice", c.Name)
		}
		names[c.Name] = true
	}
	_, err = commands([]Row{{Command: Command{"a", "x"}}, {Command: Command{"a", "y"}}})
	if want := `command a is both "x" and "y"`; err == nil || err.Error() != want {
		t.Errorf("two lines of one name: %v, want %s", err, want)
	}
}

func TestReplaceBetween(t *testing.T) {
	doc := "# M\n\n" + beginMarker + "\nold\n" + endMarker + "\nafter\n"
	got, err := replaceBetween(doc, "new\ntable\n")
	if want := "# M\n\n" + beginMarker + "\nnew\ntable\n" + endMarker + "\nafter\n"; err != nil || got != want {
		t.Errorf("got %q, %v; want %q", got, err, want)
	}
	if _, err := replaceBetween("no markers\n", "x"); err == nil || !strings.Contains(err.Error(), beginMarker) {
		t.Errorf("without markers: %v", err)
	}
	if _, err := replaceBetween(beginMarker+"\nx\n", "x"); err == nil || !strings.Contains(err.Error(), endMarker) {
		t.Errorf("without the end marker: %v", err)
	}
}

// splitRow splits a markdown table row into its cells, "\|" kept in one.
func splitRow(line string) []string {
	line = strings.TrimSuffix(strings.TrimPrefix(line, "| "), " |")
	var cells []string
	var cur strings.Builder
	for i := 0; i < len(line); i++ {
		switch {
		case strings.HasPrefix(line[i:], `\|`):
			cur.WriteString(`\|`)
			i++
		case strings.HasPrefix(line[i:], " | "):
			cells = append(cells, cur.String())
			cur.Reset()
			i += 2
		default:
			cur.WriteByte(line[i])
		}
	}
	return append(cells, cur.String())
}

// A "/*" metric gives an item per benchmark below it, labelled with the
// rest of its name; a script's one line a run gives the median and range.
func TestTableEach(t *testing.T) {
	out := `BenchmarkArm64/Process18MP 1 5.000 arm64/amd64 600.00 amd64-ms/op 3000.00 arm64-ms/op 12 amd64-allocs/op 12 arm64-allocs/op
BenchmarkArm64/CaptureRAWJPG/card 1 5.200 arm64/amd64 13.00 amd64-ms/op 67.60 arm64-ms/op 871 amd64-allocs/op 871 arm64-allocs/op
BenchmarkArm64/Process18MP 1 5.500 arm64/amd64 620.00 amd64-ms/op 3410.00 arm64-ms/op 12 amd64-allocs/op 12 arm64-allocs/op
BenchmarkArm64/CaptureRAWJPG/card 1 5.100 arm64/amd64 13.10 amd64-ms/op 66.81 arm64-ms/op 871 amd64-allocs/op 871 arm64-allocs/op
`
	res, err := parse(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if problems := table(&b, []Row{rowOf(t, "bench-arm64")}, map[string]output{"bench-arm64": {res: res}}); len(problems) > 0 {
		t.Errorf("problems %q", problems)
	}
	cells := splitRow(strings.Split(strings.TrimSpace(b.String()), "\n")[2])
	want := []string{
		"Process18MP 3205.0 ms (3000.0–3410.0, 2 runs); CaptureRAWJPG/card 67.2 ms (66.8–67.6, 2 runs); the emulation's cost on this host, not a Pi's figure; the arm64 test binaries run on a Pi as they are",
		"the same benchmarks built for amd64, same runs: Process18MP 610.0 ms (600.0–620.0, 2 runs); CaptureRAWJPG/card 13.1 ms (13.0–13.1, 2 runs)",
		"Process18MP 5.25× (5.00–5.50, 2 runs); CaptureRAWJPG/card 5.15× (5.10–5.20, 2 runs) (lower is better)",
	}
	if !reflect.DeepEqual(cells[1:4], want) {
		t.Errorf("cells\n%q\nwant\n%q", cells[1:4], want)
	}
}

// -readme copies a table into the README between the markers, and refuses
// one with a figure not measured.
func TestReadmeMode(t *testing.T) {
	dir := t.TempDir()
	md, readme := filepath.Join(dir, "bench.md"), filepath.Join(dir, "README.md")
	os.WriteFile(readme, []byte("# x\n"+beginMarker+"\nold\n"+endMarker+"\nrest\n"), 0o644)
	os.WriteFile(md, []byte("| what |\n| a | not measured (no x.txt) |\n"), 0o644)
	err := benchtable(new(strings.Builder), "", "", ".", md, readme, false)
	if want := md + " has figures not measured: not copied into " + readme + " (run make bench in full first)"; err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
	os.WriteFile(md, []byte("| what |\n| a | 1 s |\n"), 0o644)
	if err := benchtable(new(strings.Builder), "", "", ".", md, readme, false); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(readme)
	if want := "# x\n" + beginMarker + "\n| what |\n| a | 1 s |\n" + endMarker + "\nrest\n"; string(got) != want {
		t.Errorf("README:\n%s\nwant\n%s", got, want)
	}
}
