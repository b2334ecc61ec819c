// Binary testsummary reads `go test -json` on standard input, shows what
// needs reading while the tests run (a line per package, the full output
// of every failing test and build), and ends with a table of passed,
// failed and skipped tests per package. It exits non-zero when a test or
// build failed, when a package with tests ran none, and, with -ci, when a
// test was skipped for any reason but an accepted one (testtool.Optional).
//
//	go test -json ./... | go run ./internal/cmd/testsummary -ci
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/lapsebox/lapsebox/internal/testtool"
)

func main() {
	ci := flag.Bool("ci", testtool.CI(), "fail on a skip that is not testtool.Optional (default: the CI environment variable)")
	flag.Parse()
	s := newSummary(os.Stdout, *ci)
	if err := s.read(os.Stdin); err != nil {
		fmt.Fprintf(os.Stderr, "testsummary: %v\n", err)
		os.Exit(2)
	}
	if problems := s.report(); len(problems) > 0 {
		fmt.Fprintf(os.Stdout, "\nFAIL: %d problem(s) above\n", len(problems))
		os.Exit(1)
	}
}
