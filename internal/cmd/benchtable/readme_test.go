package main

import (
	"os"
	"strings"
	"testing"
)

// README.md's table between the markers has the rows the tool declares,
// in order: the same what and command. (Its figures are the runs it
// quotes until make bench has run in full and -readme copied its table.)
func TestREADMERows(t *testing.T) {
	data, err := os.ReadFile("../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	in, err := between(string(data))
	if err != nil {
		t.Fatalf("README.md: %v", err)
	}
	var got [][2]string
	for _, line := range strings.Split(in, "\n") {
		if !strings.HasPrefix(line, "| ") || strings.HasPrefix(line, "| what |") {
			continue
		}
		cells := splitRow(line)
		if len(cells) != 5 {
			t.Errorf("README.md row of %d cells, want 5: %s", len(cells), line)
			continue
		}
		got = append(got, [2]string{cells[0], cells[4]})
	}
	var want [][2]string
	for _, r := range rows {
		want = append(want, [2]string{esc(r.What), esc("`" + r.Command.Line + "`")})
	}
	for i := range max(len(got), len(want)) {
		switch {
		case i >= len(got):
			t.Errorf("README.md lacks row %d: %q, %q", i+1, want[i][0], want[i][1])
		case i >= len(want):
			t.Errorf("README.md has row %d the tool does not: %q, %q", i+1, got[i][0], got[i][1])
		case got[i] != want[i]:
			t.Errorf("README.md row %d:\n  %q, %q\nthe tool's:\n  %q, %q", i+1, got[i][0], got[i][1], want[i][0], want[i][1])
		}
	}
}
