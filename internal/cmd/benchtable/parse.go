package main

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
)

// results are the figures of one command's output: per benchmark (its
// name as printed, without the GOMAXPROCS suffix) and unit, one value a
// result line, in the order of the lines (go test -count N prints N).
type results struct {
	values map[string]map[string][]float64
	order  []string // benchmark names, first appearance first
}

// procSuffix is the "-N" go test appends to a benchmark's name when
// GOMAXPROCS is not 1.
var procSuffix = regexp.MustCompile(`-[0-9]+$`)

// parse reads go test -bench output: every line of the form
//
//	BenchmarkName-2   	  5	 123 ns/op	 4.5 s/boot	1.2 ref-s/boot
//
// gives a value for each of its units; other lines are ignored (go test
// prints nothing of a skipped benchmark without -v). A result line with a
// value but no unit, or a value that is not a number, is an error.
func parse(r io.Reader) (*results, error) {
	res := &results{values: map[string]map[string][]float64{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	line := 0
	for sc.Scan() {
		line++
		text := sc.Text()
		f := strings.Fields(text)
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		if _, err := strconv.ParseInt(f[1], 10, 64); err != nil {
			continue // "BenchmarkX-2 \t--- FAIL", or output interleaved
		}
		if len(f)%2 != 0 {
			return nil, fmt.Errorf("line %d: %q: a value without its unit", line, text)
		}
		name := procSuffix.ReplaceAllString(f[0], "")
		units := res.values[name]
		if units == nil {
			units = map[string][]float64{}
			res.values[name] = units
			res.order = append(res.order, name)
		}
		for i := 2; i < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return nil, fmt.Errorf("line %d: %q: value %q of %s is not a number", line, text, f[i], f[i+1])
			}
			units[f[i+1]] = append(units[f[i+1]], v)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("line %d: %w", line, err)
	}
	return res, nil
}

// matching returns the benchmarks named name, or, when name ends in "/*",
// those below it (any depth), in the order they appeared.
func (r *results) matching(name string) []string {
	prefix, each := strings.CutSuffix(name, "*")
	if !each {
		if _, ok := r.values[name]; ok {
			return []string{name}
		}
		return nil
	}
	var names []string
	for _, n := range r.order {
		if strings.HasPrefix(n, prefix) {
			names = append(names, n)
		}
	}
	return names
}

// whyMissing says why benchmark name gave no value of unit.
func (r *results) whyMissing(name, unit string) string {
	if _, ok := r.values[name]; ok {
		return fmt.Sprintf("%s reported no %s", name, unit)
	}
	return fmt.Sprintf("no %s line in the output (a skipped benchmark prints none; go test -v says why)", name)
}
