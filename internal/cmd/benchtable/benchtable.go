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
	"os"
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
