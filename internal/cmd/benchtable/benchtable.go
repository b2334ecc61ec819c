// Binary benchtable runs make bench's benchmarks and makes one markdown
// table of their figures, each beside the reference measured in the same
// run and their ratio (see rows.go for the rows and the commands). It
// runs each command once, saving its output in build/bench/NAME.txt
// after the date, go version, nproc and load average, prints the table
// and writes it to build/bench.md. With -from it runs nothing and
// renders the outputs saved in a directory; with -readme it copies
// build/bench.md into README.md between its bench markers. It exits
// non-zero, after writing the table, when a figure is not measured.
//
//	go run ./internal/cmd/benchtable                  # make bench
//	go run ./internal/cmd/benchtable -from build/bench # make bench-table
//	go run ./internal/cmd/benchtable -run 'fat|camera' # those again, the rest from build/bench
//	go run ./internal/cmd/benchtable -readme README.md
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

func main() {
	dir := flag.String("dir", "build/bench", "directory of the commands' raw outputs")
	from := flag.String("from", "", "run nothing: render the outputs saved in this directory")
	runPat := flag.String("run", ".", "run the commands whose name matches this regular expression; read the others' outputs from -dir")
	out := flag.String("o", "build/bench.md", "file the table is written to")
	readme := flag.String("readme", "", "run nothing: copy -o's table into this file between "+beginMarker+" and "+endMarker)
	list := flag.Bool("list", false, "run nothing: list the commands, name and line")
	flag.Parse()
	if err := benchtable(os.Stdout, *dir, *from, *runPat, *out, *readme, *list); err != nil {
		fmt.Fprintf(os.Stderr, "benchtable: %v\n", err)
		os.Exit(1)
	}
}

// errNotMeasured is benchtable's error when the table was written but
// some figure in it is not measured.
type errNotMeasured []string

func (e errNotMeasured) Error() string {
	s := fmt.Sprintf("not measured (%d):", len(e))
	for _, p := range e {
		s += "\n  " + p
	}
	return s
}

// benchtable does what main's flags ask; the table (or the -list) goes to
// stdout, the commands' output to stderr as they run.
func benchtable(stdout io.Writer, dir, from, runPat, out, readme string, list bool) error {
	if readme != "" {
		table, err := os.ReadFile(out)
		if err != nil {
			return err
		}
		if strings.Contains(string(table), "not measured (") {
			return fmt.Errorf("%s has figures not measured: not copied into %s (run make bench in full first)", out, readme)
		}
		doc, err := os.ReadFile(readme)
		if err != nil {
			return err
		}
		updated, err := replaceBetween(string(doc), string(table))
		if err != nil {
			return fmt.Errorf("%s: %w", readme, err)
		}
		return os.WriteFile(readme, []byte(updated), 0o644)
	}
	cmds, err := commands(rows)
	if err != nil {
		return err
	}
	if list {
		for _, c := range cmds {
			fmt.Fprintf(stdout, "%-24s %s\n", c.Name, c.Line)
		}
		return nil
	}
	re, err := regexp.Compile(runPat)
	if err != nil {
		return fmt.Errorf("-run: %w", err)
	}
	if from != "" {
		dir, re = from, nil
	}
	outs := map[string]output{}
	for _, c := range cmds {
		var o output
		var err error
		if re != nil && re.MatchString(c.Name) {
			fmt.Fprintf(os.Stderr, "benchtable: %s: %s\n", c.Name, c.Line)
			o, err = run(c, dir, os.Stderr)
		} else {
			o, err = load(c, dir)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", c.Name, err)
		}
		outs[c.Name] = o
	}
	doc, problems := document(rows, cmds, outs)
	fmt.Fprint(stdout, doc)
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(out, []byte(doc), 0o644); err != nil {
		return err
	}
	if len(problems) > 0 {
		return errNotMeasured(problems)
	}
	return nil
}
