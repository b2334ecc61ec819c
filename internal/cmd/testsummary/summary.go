package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/lapsebox/lapsebox/internal/testtool"
)

// event is one line of `go test -json` (see cmd/test2json).
type event struct {
	Action      string
	Package     string
	Test        string
	Elapsed     float64
	Output      string
	ImportPath  string // build-output and build-fail
	FailedBuild string
}

// pkg is what one package's tests did.
type pkg struct {
	name                       string
	pass, fail, skip, optional int
	ran                        int     // top-level tests started
	elapsed                    float64 // seconds
	result                     string  // "ok", "FAIL", "no test files"; "" until the package ends
	failedBuild                bool
	output                     []string
}

// skipped is one skipped test.
type skipped struct {
	pkg, test, reason string
	optional          bool
}

type testKey struct{ pkg, test string }

// summary follows a `go test -json` stream.
type summary struct {
	w        io.Writer
	ci       bool
	dir      string // where go list finds the packages ("": here)
	pkgs     map[string]*pkg
	running  map[testKey][]string // output of tests not yet ended
	builds   map[string][]string  // build output by import path
	buildErr []string             // import paths that did not build
	skips    []skipped
	failed   []testKey
	// said holds, per failed test, the lines its log put down at a
	// source location, repeated at the end of the run: a CI log cut in
	// the middle still says why each test failed.
	said   map[testKey][]string
	events int
	// took holds the time of every top-level test that ended, for the
	// list of the slowest: where CI's time goes.
	took []timed
}

// timed is how long one top-level test took.
type timed struct {
	testKey
	seconds float64
}

// slowestShown is how many of the slowest tests the report lists.
const slowestShown = 10

func newSummary(w io.Writer, ci bool) *summary {
	return &summary{w: w, ci: ci, pkgs: map[string]*pkg{}, running: map[testKey][]string{}, builds: map[string][]string{}, said: map[testKey][]string{}}
}

// read follows the stream to its end. A line that is not JSON (go's own
// error before any test ran) is shown as it is.
func (s *summary) read(r io.Reader) error {
	br := bufio.NewReader(r)
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			var e event
			if json.Unmarshal(line, &e) != nil || e.Action == "" {
				s.w.Write(line)
			} else {
				s.events++
				s.handle(e)
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
	}
	if s.events == 0 {
		return errors.New("no go test -json events on standard input")
	}
	return nil
}

func (s *summary) pkg(name string) *pkg {
	p := s.pkgs[name]
	if p == nil {
		p = &pkg{name: name}
		s.pkgs[name] = p
	}
	return p
}

func (s *summary) handle(e event) {
	switch e.Action {
	case "build-output":
		s.builds[e.ImportPath] = append(s.builds[e.ImportPath], e.Output)
		return
	case "build-fail":
		s.buildErr = append(s.buildErr, e.ImportPath)
		fmt.Fprintf(s.w, "\n=== BUILD FAILED: %s\n%s\n", e.ImportPath, strings.Join(s.builds[e.ImportPath], ""))
		return
	}
	if e.Package == "" {
		return
	}
	p := s.pkg(e.Package)
	if e.Test == "" {
		s.handlePackage(p, e)
		return
	}
	k := testKey{e.Package, e.Test}
	switch e.Action {
	case "run":
		if !strings.Contains(e.Test, "/") {
			p.ran++
		}
		s.running[k] = nil
	case "output":
		s.running[k] = append(s.running[k], e.Output)
	case "pass":
		p.pass++
		s.ended(k, e.Elapsed)
		delete(s.running, k)
	case "fail":
		p.fail++
		s.ended(k, e.Elapsed)
		s.failed = append(s.failed, k)
		s.said[k] = located(s.running[k], digestLines)
		fmt.Fprintf(s.w, "\n=== FAILED: %s %s\n%s", e.Package, e.Test, strings.Join(s.running[k], ""))
		delete(s.running, k)
	case "skip":
		reason := skipReason(s.running[k])
		sk := skipped{pkg: e.Package, test: e.Test, reason: reason, optional: strings.Contains(reason, testtool.OptionalMarker)}
		p.skip++
		if sk.optional {
			p.optional++
		}
		s.skips = append(s.skips, sk)
		delete(s.running, k)
	}
}

// ended notes how long a top-level test took.
func (s *summary) ended(k testKey, seconds float64) {
	if !strings.Contains(k.test, "/") {
		s.took = append(s.took, timed{k, seconds})
	}
}

func (s *summary) handlePackage(p *pkg, e event) {
	switch e.Action {
	case "output":
		p.output = append(p.output, e.Output)
	case "pass":
		p.result, p.elapsed = "ok", e.Elapsed
		fmt.Fprintf(s.w, "ok    %-50s %7.1fs  %d passed, %d skipped\n", p.name, p.elapsed, p.pass, p.skip)
	case "skip":
		p.result = "no test files"
	case "fail":
		p.result, p.elapsed, p.failedBuild = "FAIL", e.Elapsed, e.FailedBuild != ""
		fmt.Fprintf(s.w, "FAIL  %-50s %7.1fs  %d passed, %d failed, %d skipped\n", p.name, p.elapsed, p.pass, p.fail, p.skip)
		// What the test binary printed outside any test: a panic, a
		// timeout, TestMain's errors.
		if out := outsideTests(p.output); out != "" {
			fmt.Fprintf(s.w, "=== output of %s outside its tests:\n%s", p.name, out)
		}
	}
}

// outsideTests is a package's output outside its tests without the
// lines that only repeat its verdict.
func outsideTests(output []string) string {
	var b strings.Builder
	for _, l := range output {
		t := strings.TrimSpace(l)
		if t == "" || t == "FAIL" || t == "PASS" || strings.HasPrefix(t, "FAIL\t") || strings.HasPrefix(t, "ok \t") || strings.HasPrefix(t, "exit status ") {
			continue
		}
		b.WriteString(l)
	}
	return b.String()
}

// digestLines and digestWidth bound a failed test's digest: its last
// lines written at a source location, each cut to a width.
const (
	digestLines = 8
	digestWidth = 300
)

// located returns the last n lines of a test's output that start at a
// source location ("file_test.go:42: ..."), which is where t.Error,
// t.Fatal and t.Log write; lines that continue one (a console dump) are
// left out.
func located(output []string, n int) []string {
	var lines []string
	for _, l := range output {
		t := strings.TrimSpace(l)
		colon := strings.Index(t, ".go:")
		if colon <= 0 || strings.ContainsAny(t[:colon], " \t") {
			continue
		}
		if len(t) > digestWidth {
			t = strings.ToValidUTF8(t[:digestWidth], "") + "…"
		}
		lines = append(lines, t)
	}
	return lines[max(0, len(lines)-n):]
}

// skipReason is what a skipped test said, without the lines the testing
// package adds.
func skipReason(output []string) string {
	var lines []string
	for _, l := range output {
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "=== ") || strings.HasPrefix(t, "--- SKIP") {
			continue
		}
		lines = append(lines, t)
	}
	return strings.Join(lines, " ")
}

// report prints the table and the lists of skips and failures, and
// returns every problem that fails the run.
func (s *summary) report() (problems []string) {
	names := make([]string, 0, len(s.pkgs))
	for n := range s.pkgs {
		names = append(names, n)
	}
	sort.Strings(names)
	prefix := commonDir(names)
	var total pkg
	var noTests []string
	width := len("package")
	for _, n := range names {
		width = max(width, len(strings.TrimPrefix(n, prefix)))
	}
	fmt.Fprintf(s.w, "\n%-*s %7s %7s %7s %8s %8s\n", width, "package", "passed", "failed", "skipped", "optional", "time")
	for _, n := range names {
		p := s.pkgs[n]
		short := strings.TrimPrefix(n, prefix)
		if p.result == "no test files" {
			noTests = append(noTests, short)
			continue
		}
		note, problem := "", true
		switch {
		case p.result == "":
			note = "did not finish"
		case p.result == "ok" && p.ran == 0 && !s.declaresTests(n):
			note, problem = "no Test or Fuzz functions (benchmarks only)", false
		case p.result == "ok" && p.ran == 0:
			note = "ran no tests"
		case p.failedBuild:
			note = "build failed"
		case p.result == "FAIL" && p.fail == 0:
			note = "FAIL outside a test"
		case p.result == "FAIL":
			note = "FAIL"
		}
		if note != "" && problem {
			problems = append(problems, n+": "+note)
		}
		fmt.Fprintln(s.w, strings.TrimSpace(fmt.Sprintf("%-*s %7d %7d %7d %8d %7.1fs  %s", width, short, p.pass, p.fail, p.skip, p.optional, p.elapsed, note)))
		total.pass += p.pass
		total.fail += p.fail
		total.skip += p.skip
		total.optional += p.optional
	}
	fmt.Fprintf(s.w, "%-*s %7d %7d %7d %8d\n", width, "total", total.pass, total.fail, total.skip, total.optional)
	if len(noTests) > 0 {
		fmt.Fprintf(s.w, "no test files: %s\n", strings.Join(noTests, ", "))
	}
	if len(s.took) > 0 {
		slow := append([]timed(nil), s.took...)
		sort.SliceStable(slow, func(i, j int) bool { return slow[i].seconds > slow[j].seconds })
		fmt.Fprintln(s.w, "\nslowest tests:")
		for _, t := range slow[:min(slowestShown, len(slow))] {
			fmt.Fprintf(s.w, "  %7.1fs  %s %s\n", t.seconds, strings.TrimPrefix(t.pkg, prefix), t.test)
		}
	}
	if len(s.skips) > 0 {
		fmt.Fprintln(s.w, "\nskipped:")
		for _, sk := range s.skips {
			mark := "  "
			if !sk.optional && s.ci {
				mark = "! "
				problems = append(problems, fmt.Sprintf("%s %s: skipped under CI: %s", sk.pkg, sk.test, sk.reason))
			}
			fmt.Fprintf(s.w, "%s%s %s: %s\n", mark, strings.TrimPrefix(sk.pkg, prefix), sk.test, sk.reason)
		}
		if s.ci {
			fmt.Fprintf(s.w, "(under CI only skips marked %q are accepted; ! marks the others)\n", strings.TrimSpace(testtool.OptionalMarker))
		}
	}
	if len(s.failed) > 0 {
		fmt.Fprintln(s.w, "\nfailed:")
		for _, k := range s.failed {
			fmt.Fprintf(s.w, "  %s %s\n", strings.TrimPrefix(k.pkg, prefix), k.test)
			for _, l := range s.said[k] {
				fmt.Fprintf(s.w, "      %s\n", l)
			}
		}
	}
	return problems
}

// commonDir is the longest "dir/" prefix that every name has ("" for
// fewer than two names).
func commonDir(names []string) string {
	if len(names) < 2 {
		return ""
	}
	p := names[0]
	for _, n := range names[1:] {
		for !strings.HasPrefix(n, p) {
			p = p[:len(p)-1]
		}
	}
	if i := strings.LastIndex(p, "/"); i >= 0 {
		return p[:i+1]
	}
	return ""
}

// declaresTests reports whether package pkg's test files declare a Test
// or Fuzz function, which a run with zero tests then failed to run (a
// TestMain that forgot m.Run, a build constraint). It says true when it
// cannot tell.
func (s *summary) declaresTests(pkg string) bool {
	cmd := exec.Command("go", "list", "-f", "{{.Dir}}", pkg)
	cmd.Dir = s.dir
	out, err := cmd.Output()
	if err != nil {
		return true
	}
	files, _ := filepath.Glob(filepath.Join(strings.TrimSpace(string(out)), "*_test.go"))
	fset := token.NewFileSet()
	for _, name := range files {
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			return true
		}
		for _, d := range f.Decls {
			if fn, ok := d.(*ast.FuncDecl); ok && fn.Recv == nil && fn.Name.Name != "TestMain" && (testName(fn.Name.Name, "Test") || testName(fn.Name.Name, "Fuzz")) {
				return true
			}
		}
	}
	return false
}

// testName reports whether name is a test function's name with prefix:
// the prefix alone, or followed by anything but a lower-case letter.
func testName(name, prefix string) bool {
	rest, ok := strings.CutPrefix(name, prefix)
	if !ok {
		return false
	}
	r, _ := utf8.DecodeRuneInString(rest)
	return rest == "" || !unicode.IsLower(r)
}
