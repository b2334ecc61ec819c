package release

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// FuzzChunk checks the chunker's promises on any input: the chunks cover
// it exactly, in order, each within MinChunk (but the last) and
// MaxChunk; cutting again gives the same chunks; and a change of prefix
// leaves the cuts after it alone once they met again.
func FuzzChunk(f *testing.F) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, MinChunk, MaxChunk + 1, 5 * MaxChunk} {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		f.Add(b, []byte("x"))
	}
	f.Add(make([]byte, 3*MaxChunk), []byte{}) // zeros: only forced cuts
	f.Fuzz(func(t *testing.T, data, prefix []byte) {
		cuts := func(d []byte) []int64 {
			var offs []int64
			var next int64
			err := chunk(bytes.NewReader(d), int64(len(d)), func(off int64, b []byte) error {
				if off != next {
					t.Fatalf("chunk at %d, want %d", off, next)
				}
				if !bytes.Equal(b, d[off:off+int64(len(b))]) {
					t.Fatalf("chunk at %d: bytes differ from the input", off)
				}
				last := off+int64(len(b)) == int64(len(d))
				if len(b) > MaxChunk || len(b) == 0 || (!last && len(b) < MinChunk) {
					t.Fatalf("chunk at %d: %d bytes", off, len(b))
				}
				offs = append(offs, off)
				next = off + int64(len(b))
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if next != int64(len(d)) {
				t.Fatalf("chunks cover %d of %d bytes", next, len(d))
			}
			return offs
		}
		a, b := cuts(data), cuts(data)
		if len(a) != len(b) {
			t.Fatal("not deterministic")
		}
		// Shifted by a prefix, the cuts resynchronize: every cut of data
		// at or after a cut they share is a cut of prefix+data too.
		shifted := map[int64]bool{}
		for _, o := range cuts(append(append([]byte(nil), prefix...), data...)) {
			shifted[o-int64(len(prefix))] = true
		}
		synced := false
		for _, o := range a {
			if synced && !shifted[o] {
				t.Fatalf("cut at %d lost after the cuts met again", o)
			}
			synced = synced || shifted[o] && o > 0
		}
	})
}
