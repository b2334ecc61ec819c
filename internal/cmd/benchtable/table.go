package main

import (
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
)

// A Command is one command of make bench, run once for all the rows that
// take figures from it.
type Command struct {
	// Name names its raw output, build/bench/Name.txt.
	Name string
	// Line is the command as a reader would paste it into bash, run from
	// the repository's root.
	Line string
}

// A Metric is one figure a row quotes: the values of one unit that one
// benchmark reported.
type Metric struct {
	// Label is the prose before the value ("compile"), if any.
	Label string
	// Bench is the benchmark's name without the GOMAXPROCS suffix
	// ("BenchmarkWriteTo/fat-file"); ending in "/*", every benchmark
	// below it, each labelled with the rest of its name (and the first
	// with Label before that).
	Bench string
	// Unit is the unit as the benchmark line has it ("ns/op", "s/boot").
	Unit string
	// Scale multiplies the value before it is shown (1e-6 for ns to ms);
	// 0 means 1.
	Scale float64
	// Format formats the scaled value ("%.1f").
	Format string
	// Suffix follows the formatted value (" ms").
	Suffix string
}

// A Ratio is the ratio column's figure: Of divided by Over, or, when Over
// is nil, Of itself, a ratio the benchmark reported (Of's Format and
// Suffix are then its own; otherwise the quotient is shown as "%.2f×").
type Ratio struct {
	Label string
	Of    Metric
	Over  *Metric
}

// A Row is one line of the table.
type Row struct {
	// What is measured, in prose.
	What string
	// Command measures it.
	Command Command
	// Figure are its figures.
	Figure []Metric
	// Reference are the figures of the reference measured in the same
	// run; none shows "—".
	Reference []Metric
	// Ratio compares the figure with the reference; none shows "—".
	Ratio []Ratio
	// Better says which way the ratio is better: "lower" or "higher".
	Better string
	// Note is fixed prose added to the figure: what explains it, never
	// a figure.
	Note string
}

// an output is one command's result, as run or as read back.
type output struct {
	res *results
	err string // why the command gave no figures: "exit status 1", "no build/bench/x.txt"
	// From the saved output's header: when it ran, the load average at
	// its start, the Go toolchain and the number of CPUs.
	date, load, goVersion, nproc string
}

// document is build/bench.md: a line on the runs (when, where) and the
// table of rows from outs; problems are table's.
func document(rows []Row, cmds []Command, outs map[string]output) (doc string, problems []string) {
	var dates, loads []string
	gos, nprocs := map[string]bool{}, map[string]bool{}
	for _, c := range cmds {
		o := outs[c.Name]
		if o.date == "" {
			continue
		}
		dates = append(dates, o.date)
		if f := strings.Fields(o.load); len(f) > 0 {
			loads = append(loads, f[0])
		}
		gos[strings.TrimPrefix(o.goVersion, "go version ")] = true
		nprocs[o.nproc] = true
	}
	var b strings.Builder
	if len(dates) == 0 {
		b.WriteString("No command's output was found.\n\n")
	} else {
		slices.Sort(dates)
		slices.SortFunc(loads, func(a, b string) int { return cmpFloat(a, b) })
		load := "unknown"
		if len(loads) > 0 {
			load = loads[0]
			if loads[len(loads)-1] != load {
				load += "–" + loads[len(loads)-1]
			}
		}
		fmt.Fprintf(&b, "Measured by `make bench` from %s to %s; %s CPUs; %s; load average (1 min) at each command's start %s. "+
			"Each command's output, with its own date and load, is in build/bench/.\n\n",
			dates[0], dates[len(dates)-1], strings.Join(slices.Sorted(maps.Keys(nprocs)), ", "),
			strings.Join(slices.Sorted(maps.Keys(gos)), ", "), load)
	}
	problems = table(&b, rows, outs)
	return b.String(), problems
}

// cmpFloat compares two decimal numbers; one that does not parse sorts first.
func cmpFloat(a, b string) int {
	x, errx := strconv.ParseFloat(a, 64)
	y, erry := strconv.ParseFloat(b, 64)
	switch {
	case errx != nil || erry != nil:
		return strings.Compare(a, b)
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

// table renders rows from the outputs of their commands (by command
// name) as a markdown table, and returns the problems: each figure that
// is "not measured", with its reason.
func table(w io.Writer, rows []Row, outs map[string]output) (problems []string) {
	fmt.Fprintln(w, "| what | figure | reference | ratio | command |")
	fmt.Fprintln(w, "|---|---|---|---|---|")
	for _, r := range rows {
		out := outs[r.Command.Name]
		if out.res == nil && out.err == "" {
			out.err = "no output of command " + r.Command.Name
		}
		if out.err != "" {
			// The command gave no figures: one reason for the row.
			problems = append(problems, fmt.Sprintf("%s: %s", r.What, out.err))
			none := "not measured (" + out.err + ")"
			ref, ratio := "—", "—"
			if len(r.Reference) > 0 {
				ref = none
			}
			if len(r.Ratio) > 0 {
				ratio = none
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", esc(r.What), esc(none), esc(ref), esc(ratio), esc("`"+r.Command.Line+"`"))
			continue
		}
		miss := func(what, reason string) string {
			problems = append(problems, fmt.Sprintf("%s: %s: %s", r.What, what, reason))
			return "not measured (" + reason + ")"
		}
		cell := func(ms []Metric, note string) string {
			if len(ms) == 0 && note == "" {
				return "—"
			}
			var items []string
			for _, m := range ms {
				items = append(items, metricItems(m, out, miss)...)
			}
			if note != "" {
				items = append(items, note)
			}
			return strings.Join(items, "; ")
		}
		ratio := "—"
		if len(r.Ratio) > 0 {
			var items []string
			for _, q := range r.Ratio {
				items = append(items, ratioItems(q, out, miss)...)
			}
			ratio = strings.Join(items, "; ")
			if r.Better != "" {
				ratio += " (" + r.Better + " is better)"
			}
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", esc(r.What), esc(cell(r.Figure, r.Note)),
			esc(cell(r.Reference, "")), esc(ratio), esc("`"+r.Command.Line+"`"))
	}
	return problems
}

// esc makes s safe in a table cell.
func esc(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

// metricItems formats m's values: one item, or one per benchmark for a
// "/*" metric. A missing value is reported through miss, whose result
// stands for it.
func metricItems(m Metric, out output, miss func(what, reason string) string) []string {
	label := func(l string) string {
		if l == "" {
			return ""
		}
		return l + " "
	}
	names := out.res.matching(m.Bench)
	if len(names) == 0 {
		return []string{label(m.Label) + miss(m.Bench+" "+m.Unit, out.res.whyMissing(m.Bench, m.Unit))}
	}
	var items []string
	for i, n := range names {
		l := m.Label
		if rest, ok := strings.CutPrefix(n, strings.TrimSuffix(m.Bench, "*")); ok && strings.HasSuffix(m.Bench, "/*") {
			// The label once, before the first; each labelled with
			// the rest of its name.
			l = rest
			if i == 0 {
				l = strings.TrimSpace(m.Label + " " + rest)
			}
		}
		vs := out.res.values[n][m.Unit]
		if len(vs) == 0 {
			items = append(items, label(l)+miss(n+" "+m.Unit, out.res.whyMissing(n, m.Unit)))
			continue
		}
		items = append(items, label(l)+formatValues(m, vs))
	}
	return items
}

// ratioItems formats q: Of's values when it is a ratio already, else the
// ratio of Of's median to Over's.
func ratioItems(q Ratio, out output, miss func(what, reason string) string) []string {
	if q.Over == nil {
		m := q.Of
		m.Label = q.Label
		return metricItems(m, out, miss)
	}
	l := ""
	if q.Label != "" {
		l = q.Label + " "
	}
	num, den := out.res.values[q.Of.Bench][q.Of.Unit], out.res.values[q.Over.Bench][q.Over.Unit]
	switch {
	case len(num) == 0:
		return []string{l + miss("ratio's "+q.Of.Bench+" "+q.Of.Unit, out.res.whyMissing(q.Of.Bench, q.Of.Unit))}
	case len(den) == 0:
		return []string{l + miss("ratio's "+q.Over.Bench+" "+q.Over.Unit, out.res.whyMissing(q.Over.Bench, q.Over.Unit))}
	case median(den) == 0:
		return []string{l + miss("ratio", q.Over.Bench+" "+q.Over.Unit+" is 0")}
	}
	return []string{fmt.Sprintf("%s%.2f×", l, scale(q.Of, median(num))/scale(*q.Over, median(den)))}
}

// scale applies m's Scale to v.
func scale(m Metric, v float64) float64 {
	if m.Scale != 0 {
		return v * m.Scale
	}
	return v
}

// formatValues shows one value as m formats it, or several (go test
// -count, one line a run) as their median and range:
// "0.67 s (0.62–0.70, 3 runs)".
func formatValues(m Metric, vs []float64) string {
	f := func(v float64) string { return fmt.Sprintf(m.Format, scale(m, v)) }
	if len(vs) == 1 {
		return f(vs[0]) + m.Suffix
	}
	return fmt.Sprintf("%s%s (%s–%s, %d runs)", f(median(vs)), m.Suffix, f(slices.Min(vs)), f(slices.Max(vs)), len(vs))
}

// median is the middle value of vs, or the mean of the two middle ones.
func median(vs []float64) float64 {
	if len(vs) == 0 {
		return math.NaN()
	}
	s := slices.Sorted(slices.Values(vs))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
