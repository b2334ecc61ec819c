package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
)

// fixtureJSON runs go test -json on testdata/fixture, a module whose
// packages pass, fail, panic, skip, skip optionally, do not build, have
// a test that never runs, only a benchmark, or no test files.
var fixtureJSON = sync.OnceValues(func() ([]byte, error) {
	cmd := exec.Command("go", "test", "-json", "-count=1", "./...")
	cmd.Dir = "testdata/fixture"
	cmd.Env = append(os.Environ(), "CI=", "GOFLAGS=", "GOWORK=off")
	out, err := cmd.Output()
	if _, ok := err.(*exec.ExitError); ok {
		err = nil // the fixture fails on purpose
	}
	return out, err
})

func summarize(t *testing.T, ci bool) (string, []string) {
	t.Helper()
	in, err := fixtureJSON()
	if err != nil {
		t.Fatalf("go test -json on the fixture: %v", err)
	}
	var out bytes.Buffer
	s := newSummary(&out, ci)
	s.dir = "testdata/fixture"
	if err := s.read(bytes.NewReader(in)); err != nil {
		t.Fatal(err)
	}
	problems := s.report()
	slices.Sort(problems)
	return out.String(), problems
}

func TestProblems(t *testing.T) {
	for _, tc := range []struct {
		ci   bool
		want []string
	}{
		{false, []string{
			"fixture/broken: build failed",
			"fixture/fail: FAIL",
			"fixture/notrun: ran no tests",
			"fixture/panics: FAIL",
		}},
		{true, []string{
			"fixture/broken: build failed",
			"fixture/fail: FAIL",
			"fixture/notrun: ran no tests",
			"fixture/panics: FAIL",
			"fixture/skip TestNeedsTool: skipped under CI: skip_test.go:7: program frobnicate is missing",
		}},
	} {
		out, problems := summarize(t, tc.ci)
		if !slices.Equal(problems, tc.want) {
			t.Errorf("ci=%v: problems\n%s\nwant\n%s\noutput:\n%s", tc.ci, strings.Join(problems, "\n"), strings.Join(tc.want, "\n"), out)
		}
	}
}

func TestOutput(t *testing.T) {
	out, _ := summarize(t, true)
	for _, want := range []string{
		"shown: a failing test's log",
		"shown: what failed\n        over two lines",
		"panic: shown: the panic",
		"undefined: undefined",
		"no test files: notests\n",
		"  optional TestCard: optional_test.go:8: [optional] set CARD to a scratch device\n",
		"! skip TestNeedsTool: skip_test.go:7: program frobnicate is missing\n",
		// The digest at the end repeats where each failed test spoke.
		"  fail TestFail/sub\n      fail_test.go:9: shown: what failed\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// Rows without their time column.
	for _, want := range [][]string{
		{"pass", "2", "0", "0", "0"},
		{"optional", "1", "0", "1", "1"},
		{"notrun", "0", "0", "0", "0", "ran", "no", "tests"},
		{"benchonly", "0", "0", "0", "0", "no", "Test", "or", "Fuzz", "functions", "(benchmarks", "only)"},
		{"total", "6", "3", "2", "1"},
	} {
		if got := row(out, want[0]); !slices.Equal(got, want) {
			t.Errorf("table row %q, want %q", got, want)
		}
	}
	if strings.Contains(out, "quiet:") {
		t.Errorf("output shows a passing test's log:\n%s", out)
	}
}

func TestNoInput(t *testing.T) {
	s := newSummary(new(bytes.Buffer), true)
	if err := s.read(strings.NewReader("go: cannot find main module\n")); err == nil {
		t.Error("a stream without events read without error")
	}
}

// row returns the fields of the table's row for name, without the time
// (the sixth field) of a package's row.
func row(out, name string) []string {
	_, table, _ := strings.Cut(out, "\npackage ")
	for _, l := range strings.Split(table, "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[0] == name {
			if len(f) > 5 && strings.HasSuffix(f[5], "s") {
				f = append(f[:5], f[6:]...)
			}
			return f
		}
	}
	return nil
}

func TestSlowest(t *testing.T) {
	var in strings.Builder
	for _, tc := range []struct {
		test    string
		action  string
		elapsed float64
	}{
		{"TestQuick", "pass", 0.5},
		{"TestVM", "fail", 300},
		{"TestVM/sub", "pass", 299}, // subtests are part of their parent
		{"TestBoot", "pass", 40},
	} {
		fmt.Fprintf(&in, `{"Action":"run","Package":"x/e2e","Test":%q}`+"\n", tc.test)
		fmt.Fprintf(&in, `{"Action":%q,"Package":"x/e2e","Test":%q,"Elapsed":%g}`+"\n", tc.action, tc.test, tc.elapsed)
	}
	in.WriteString(`{"Action":"fail","Package":"x/e2e","Elapsed":341}` + "\n")
	var out bytes.Buffer
	s := newSummary(&out, true)
	if err := s.read(strings.NewReader(in.String())); err != nil {
		t.Fatal(err)
	}
	s.report()
	want := "slowest tests:\n    300.0s  x/e2e TestVM\n     40.0s  x/e2e TestBoot\n      0.5s  x/e2e TestQuick\n"
	if !strings.Contains(out.String(), want) {
		t.Errorf("output lacks\n%s\ngot:\n%s", want, out.String())
	}
}
