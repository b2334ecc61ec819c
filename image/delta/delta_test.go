package delta

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
)

// roundTrip diffs old and new, applies the patch to old and checks that
// it gives new; it returns the patch.
func roundTrip(t testing.TB, old, new []byte) []byte {
	t.Helper()
	b, err := Diff(old, new)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Parse(b)
	if err != nil {
		t.Fatalf("Parse of Diff's own patch: %v", err)
	}
	var out bytes.Buffer
	if err := p.Apply(bytes.NewReader(old), int64(len(old)), &out); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if !bytes.Equal(out.Bytes(), new) {
		t.Fatalf("Apply gave %d bytes, not the %d of new", out.Len(), len(new))
	}
	return b
}

func random(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// program imitates what a small change does to a compiled program: code
// moves by a few bytes, and every 4-byte address in it that pointed past
// the change grows by the same amount.
func program(r *rand.Rand, n int) (old, new []byte) {
	old = random(r, n)
	// Every 16th word is an address into the program.
	for i := 0; i+4 <= n; i += 64 {
		binary.LittleEndian.PutUint32(old[i:], uint32(r.IntN(n)))
	}
	at := n / 3
	inserted := random(r, 40)
	new = append(append(append([]byte{}, old[:at]...), inserted...), old[at:]...)
	for i := 0; i+4 <= len(new); i += 4 {
		if (i < at && i%64 == 0) || (i >= at+40 && (i-40)%64 == 0) {
			if a := binary.LittleEndian.Uint32(new[i:]); int(a) > at {
				binary.LittleEndian.PutUint32(new[i:], a+40)
			}
		}
	}
	return old, new
}

func TestRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	base := random(r, 1<<20)
	edited := append([]byte{}, base...)
	copy(edited[5000:], "a change in the middle")
	moved := append(append([]byte{}, base[600000:]...), base[:600000]...)
	for _, c := range []struct {
		name     string
		old, new []byte
		max      int // bytes the patch may take
	}{
		{"both empty", nil, nil, 200},
		{"from empty", nil, base[:1000], 1200},
		{"to empty", base, nil, 200},
		{"equal", base, base, 150},
		{"one edit", base, edited, 250},
		{"moved halves", base, moved, 250},
		{"unrelated", base[:1<<16], random(r, 1<<16), 1<<16 + 300},
		{"shorter than a seed", []byte("abc"), []byte("abd"), 200},
	} {
		t.Run(c.name, func(t *testing.T) {
			if n := len(roundTrip(t, c.old, c.new)); n > c.max {
				t.Errorf("patch of %d bytes, want at most %d", n, c.max)
			}
		})
	}
}

// TestProgram checks what the package is for: a changed program's patch
// is a small part of the program, where its content-defined blocks would
// all differ.
func TestProgram(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	old, new := program(r, 4<<20)
	n := len(roundTrip(t, old, new))
	if n > len(new)/100 {
		t.Errorf("patch of %d bytes for a %d-byte program whose addresses moved: want at most 1 %%", n, len(new))
	}
	t.Logf("patch %d bytes, %.2f %% of the program", n, 100*float64(n)/float64(len(new)))
}

func TestApplyRefuses(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	old, new := program(r, 1<<18)
	good, err := Diff(old, new)
	if err != nil {
		t.Fatal(err)
	}
	other := append([]byte{}, old...)
	other[1000] ^= 1
	for _, c := range []struct {
		name  string
		patch []byte
		old   []byte
		want  string
	}{
		{"not a patch", []byte("hello, this is not a patch at all, but it is long enough to look at it................"), old, "not a patch"},
		{"empty", nil, old, "not a patch"},
		{"cut", good[:len(good)-10], old, "cut or larger"},
		{"trailing bytes", append(append([]byte{}, good...), 0), old, "after the patch's last stream"},
		{"another input", good, other, "applied to another input"},
		{"shorter input", good, old[:len(old)/2], "-byte input"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := Parse(c.patch)
			if err == nil {
				err = p.Apply(bytes.NewReader(c.old), int64(len(c.old)), capped(t))
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got error %v, want one saying %q", err, c.want)
			}
		})
	}
}

// capped is a writer that fails the test if more than 1 MiB reaches it:
// Apply never writes more than the output's size.
func capped(t *testing.T) *limited { return &limited{t: t, max: 1 << 20} }

type limited struct {
	t   *testing.T
	n   int
	max int
}

func (l *limited) Write(b []byte) (int, error) {
	l.n += len(b)
	if l.n > l.max {
		l.t.Fatalf("Apply wrote %d bytes, more than the output's size", l.n)
	}
	return len(b), nil
}

func TestZeroRuns(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	var in []byte
	for range 200 {
		switch r.IntN(4) {
		case 0:
			in = append(in, make([]byte, r.IntN(100000))...)
		case 1:
			in = append(in, make([]byte, r.IntN(shortZeros+2))...)
		case 2:
			in = append(in, random(r, r.IntN(3*maxLiteral))...)
		default:
			in = append(in, byte(1+r.IntN(255)))
		}
	}
	var coded bytes.Buffer
	w := &zeroRunWriter{w: &coded}
	for rest := in; len(rest) > 0; {
		n := min(len(rest), 1+r.IntN(5000))
		w.Write(rest[:n])
		rest = rest[n:]
	}
	w.Close()
	got, err := io.ReadAll(&zeroRunReader{r: bufio.NewReader(&coded)})
	if err != nil || !bytes.Equal(got, in) {
		t.Fatalf("read back %d bytes (%v), want the %d written", len(got), err, len(in))
	}
	for _, c := range []struct {
		name string
		in   []byte
	}{{"empty token", []byte{0, 0}}, {"cut literal", []byte{0, 5, 1, 2}}, {"cut count", []byte{3}}, {"literal too long", binary.AppendUvarint([]byte{0}, maxLiteral+1)}} {
		if _, err := io.ReadAll(&zeroRunReader{r: bufio.NewReader(bytes.NewReader(c.in))}); err == nil {
			t.Errorf("%s: read without an error", c.name)
		}
	}
}
