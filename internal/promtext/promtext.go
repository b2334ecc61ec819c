// Package promtext writes metrics in Prometheus's text exposition format
// (version 0.0.4): a family's HELP and TYPE lines before its first sample,
// label values escaped. It is all cloudd and statusd need of a Prometheus
// client library.
package promtext

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// ContentType is the exposition format's media type.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// Metric writes one metric family: its help, type and samples. A family
// without samples writes nothing.
type Metric struct {
	b          *bytes.Buffer
	name, kind string
	help       string
	started    bool
}

// Family returns the family name of type kind ("gauge", "counter"),
// described by help, writing to b.
func Family(b *bytes.Buffer, name, kind, help string) *Metric {
	return &Metric{b: b, name: name, kind: kind, help: help}
}

// Add writes a sample; labels alternate names and values.
func (m *Metric) Add(v float64, labels ...string) {
	if !m.started {
		fmt.Fprintf(m.b, "# HELP %s %s\n# TYPE %s %s\n", m.name, m.help, m.name, m.kind)
		m.started = true
	}
	m.b.WriteString(m.name)
	if len(labels) > 0 {
		m.b.WriteByte('{')
		for i := 0; i+1 < len(labels); i += 2 {
			if i > 0 {
				m.b.WriteByte(',')
			}
			fmt.Fprintf(m.b, "%s=\"%s\"", labels[i], EscapeLabel(labels[i+1]))
		}
		m.b.WriteByte('}')
	}
	m.b.WriteByte(' ')
	m.b.WriteString(FormatFloat(v))
	m.b.WriteByte('\n')
}

var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

// EscapeLabel escapes a label value: backslash, double quote and newline.
func EscapeLabel(s string) string { return labelEscaper.Replace(s) }

// FormatFloat formats a sample value, infinities and NaN as the format
// spells them.
func FormatFloat(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// Bool is 1 for true, 0 for false.
func Bool(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Unix is t in Unix seconds, to the millisecond: a timestamp sample.
func Unix(t time.Time) float64 { return float64(t.UnixMilli()) / 1000 }
