package promtext

import (
	"bytes"
	"math"
	"strings"
	"testing"
)

// A label value from outside (a version string, a target's name) cannot
// break the format.
func TestEscaping(t *testing.T) {
	var b bytes.Buffer
	Family(&b, "x_info", "gauge", "x").Add(1, "version", "a\"b\\c\nd")
	if got := b.String(); !strings.Contains(got, `x_info{version="a\"b\\c\nd"} 1`) {
		t.Errorf("escaped: %q", got)
	}
}

func TestFamily(t *testing.T) {
	var b bytes.Buffer
	Family(&b, "empty", "gauge", "Never written.")
	m := Family(&b, "x_seconds", "gauge", "Help.")
	m.Add(1.5, "a", "1")
	m.Add(math.Inf(1), "a", "2")
	m.Add(math.NaN())
	want := "# HELP x_seconds Help.\n# TYPE x_seconds gauge\nx_seconds{a=\"1\"} 1.5\nx_seconds{a=\"2\"} +Inf\nx_seconds NaN\n"
	if got := b.String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}
