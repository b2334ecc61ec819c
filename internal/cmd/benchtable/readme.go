package main

import (
	"fmt"
	"strings"
)

// Markers delimit the table in README.md.
const (
	beginMarker = "<!-- bench:begin -->"
	endMarker   = "<!-- bench:end -->"
)

// replaceBetween returns doc with what lies between its markers (lines of
// their own) replaced by table.
func replaceBetween(doc, table string) (string, error) {
	before, _, after, err := split(doc)
	if err != nil {
		return "", err
	}
	if strings.Contains(after, beginMarker) {
		return "", fmt.Errorf("a second %q", beginMarker)
	}
	return before + beginMarker + "\n" + table + endMarker + "\n" + after, nil
}

// between returns what lies between doc's markers.
func between(doc string) (string, error) {
	_, in, _, err := split(doc)
	return in, err
}

// split cuts doc at its markers: what comes before the first, what lies
// between, what follows the second.
func split(doc string) (before, in, after string, err error) {
	before, rest, ok := strings.Cut(doc, beginMarker+"\n")
	if !ok {
		return "", "", "", fmt.Errorf("no line %q", beginMarker)
	}
	in, after, ok = strings.Cut(rest, endMarker+"\n")
	if !ok {
		return "", "", "", fmt.Errorf("no line %q after %q", endMarker, beginMarker)
	}
	return before, in, after, nil
}
