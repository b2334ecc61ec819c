package delta

import (
	"bufio"
	"bytes"
	"compress/flate"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Patch is a parsed patch, ready to apply.
type Patch struct {
	// OldSHA256 and NewSHA256 are the sha256 of the input the patch
	// applies to and of its output.
	OldSHA256, NewSHA256 [32]byte
	// NewSize is the length of the output.
	NewSize int64

	streams [3][]byte
}

// Parse checks a patch's framing; Apply checks the rest.
func Parse(b []byte) (*Patch, error) {
	h, s, err := decode(b)
	if err != nil {
		return nil, err
	}
	return &Patch{OldSHA256: h.OldSHA256, NewSHA256: h.NewSHA256, NewSize: h.NewSize, streams: s}, nil
}

// Apply writes the patch's output to w, reading the input it applies to
// from old (size bytes). It reads old only where the patch says and
// writes w in order, in pieces of at most 32 KiB, so it needs little
// memory whatever the sizes. What it wrote is the patch's output only if
// it returns nil: it checks the output's sha256 at the end, which also
// tells a patch applied to an input other than its own.
func (p *Patch) Apply(old io.ReaderAt, size int64, w io.Writer) error {
	ctl := bufio.NewReader(flate.NewReader(bytes.NewReader(p.streams[0])))
	diff := &zeroRunReader{r: bufio.NewReader(flate.NewReader(bytes.NewReader(p.streams[1])))}
	extra := flate.NewReader(bytes.NewReader(p.streams[2]))
	sum := sha256.New()
	out := io.MultiWriter(w, sum)
	var done int64
	var obuf, dbuf [32 << 10]byte
	for step := 0; ; step++ {
		x, err := binary.ReadUvarint(ctl)
		if err != nil {
			return fmt.Errorf("delta: control stream cut at step %d: %w", step, unexpected(err))
		}
		if x > uint64(p.NewSize-done) {
			return fmt.Errorf("delta: step %d copies %d bytes with %d left to write", step, x, p.NewSize-done)
		}
		if n, err := io.CopyN(out, extra, int64(x)); err != nil {
			return fmt.Errorf("delta: extra stream cut at step %d after %d of %d bytes: %w", step, n, x, unexpected(err))
		}
		done += int64(x)
		y, err := binary.ReadUvarint(ctl)
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("delta: control stream cut at step %d: %w", step, unexpected(err))
		}
		o, err := binary.ReadVarint(ctl)
		if err != nil {
			return fmt.Errorf("delta: control stream cut at step %d: %w", step, unexpected(err))
		}
		if y > uint64(p.NewSize-done) || o < 0 || o > size || y > uint64(size-o) {
			return fmt.Errorf("delta: step %d adds %d bytes at %d of a %d-byte input with %d left to write", step, y, o, size, p.NewSize-done)
		}
		for left := int64(y); left > 0; {
			n := min(left, int64(len(obuf)))
			if _, err := old.ReadAt(obuf[:n], o); err != nil && !(err == io.EOF && o+n == size) {
				return fmt.Errorf("delta: reading the input at %d: %w", o, err)
			}
			if _, err := io.ReadFull(diff, dbuf[:n]); err != nil {
				return fmt.Errorf("delta: diff stream cut at step %d: %w", step, unexpected(err))
			}
			for i := range n {
				dbuf[i] += obuf[i]
			}
			if _, err := out.Write(dbuf[:n]); err != nil {
				return err
			}
			o += n
			left -= n
		}
		done += int64(y)
	}
	if done != p.NewSize {
		return fmt.Errorf("delta: the patch ends after %d of %d bytes", done, p.NewSize)
	}
	for _, s := range []struct {
		name string
		r    io.Reader
	}{{"diff", diff}, {"extra", extra}} {
		if n, _ := io.Copy(io.Discard, io.LimitReader(s.r, 1)); n != 0 {
			return fmt.Errorf("delta: the %s stream goes on past the output's end", s.name)
		}
	}
	if got := sum.Sum(nil); !bytes.Equal(got, p.NewSHA256[:]) {
		return fmt.Errorf("delta: output has sha256 %x, the patch promised %x (applied to another input?)", got, p.NewSHA256)
	}
	return nil
}

// unexpected turns the end of a stream in the middle of a step into
// io.ErrUnexpectedEOF.
func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
