package delta

import (
	"bytes"
	"io"
	"testing"
)

// FuzzApply feeds Apply patches it did not make: it must return an
// error or the promised output, never panic, and never write more than
// the output's size.
func FuzzApply(f *testing.F) {
	old := bytes.Repeat([]byte("lapsebox root file system "), 200)
	new := append(append([]byte{}, old[:1000]...), old[1200:]...)
	good, err := Diff(old, new)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte(magic))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Parse(b)
		if err != nil {
			return
		}
		var out bytes.Buffer
		w := &limited{t: t, max: int(min(p.NewSize, 1<<20))}
		if err := p.Apply(bytes.NewReader(old), int64(len(old)), io.MultiWriter(w, &out)); err != nil {
			return
		}
		if int64(out.Len()) != p.NewSize {
			t.Fatalf("Apply succeeded with %d bytes of a promised %d", out.Len(), p.NewSize)
		}
	})
}

// FuzzRoundTrip checks Diff against Apply on inputs it did not choose.
func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte("the old bytes, long enough for a seed or two"), []byte("the new bytes, long enough for a seed or two"))
	f.Fuzz(func(t *testing.T, old, new []byte) {
		roundTrip(t, old, new)
	})
}
