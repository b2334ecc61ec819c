package delta

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
)

// The diff stream is mostly zeros (equal bytes), in runs of megabytes
// where a root did not change. DEFLATE codes at best 258 bytes in about
// two bits, so that a 64 MiB root that did not change at all would still
// cost 64 KiB of patch; the diff stream therefore codes its runs of zeros
// as counts before it is compressed:
//
//	token: uvarint z, uvarint n, then n bytes
//
// stands for z zero bytes followed by those n bytes. A token has z or n
// above zero, and n is at most maxLiteral.
const maxLiteral = 1 << 16

// shortZeros is the longest run of zeros kept inside literal bytes: a
// new token costs about as much.
const shortZeros = 8

// zeroRunWriter codes what is written to it as tokens on w.
type zeroRunWriter struct {
	w        io.Writer
	zeros    uint64 // zeros before lit
	lit      []byte
	trailing uint64 // zeros after lit, not yet placed
	buf      [2 * binary.MaxVarintLen64]byte
}

func (z *zeroRunWriter) Write(p []byte) (int, error) {
	for _, b := range p {
		switch {
		case b == 0:
			z.trailing++
		case len(z.lit) == 0:
			z.zeros += z.trailing
			z.trailing = 0
			z.lit = append(z.lit, b)
		case z.trailing <= shortZeros && len(z.lit)+int(z.trailing) < maxLiteral:
			for ; z.trailing > 0; z.trailing-- {
				z.lit = append(z.lit, 0)
			}
			z.lit = append(z.lit, b)
		default:
			if err := z.token(z.zeros, z.lit); err != nil {
				return 0, err
			}
			z.zeros, z.trailing, z.lit = z.trailing, 0, append(z.lit[:0], b)
		}
	}
	return len(p), nil
}

// Close writes what is pending; it does not close w.
func (z *zeroRunWriter) Close() error {
	if len(z.lit) > 0 {
		if err := z.token(z.zeros, z.lit); err != nil {
			return err
		}
		z.zeros, z.lit = 0, z.lit[:0]
	}
	if n := z.zeros + z.trailing; n > 0 {
		z.zeros, z.trailing = 0, 0
		return z.token(n, nil)
	}
	return nil
}

func (z *zeroRunWriter) token(zeros uint64, lit []byte) error {
	k := binary.PutUvarint(z.buf[:], zeros)
	k += binary.PutUvarint(z.buf[k:], uint64(len(lit)))
	if _, err := z.w.Write(z.buf[:k]); err != nil {
		return err
	}
	_, err := z.w.Write(lit)
	return err
}

// zeroRunReader reads back what a zeroRunWriter coded.
type zeroRunReader struct {
	r          *bufio.Reader
	zeros, lit uint64 // left of the current token
}

var errEmptyToken = errors.New("a run of no bytes in the diff stream")

func (z *zeroRunReader) Read(p []byte) (int, error) {
	for z.zeros == 0 && z.lit == 0 {
		zeros, err := binary.ReadUvarint(z.r)
		if err != nil {
			return 0, err // io.EOF between tokens is the stream's end
		}
		lit, err := binary.ReadUvarint(z.r)
		if err != nil {
			return 0, unexpected(err)
		}
		if zeros == 0 && lit == 0 {
			return 0, errEmptyToken
		}
		if lit > maxLiteral {
			return 0, errors.New("a literal run longer than 64 KiB in the diff stream")
		}
		z.zeros, z.lit = zeros, lit
	}
	if z.zeros > 0 {
		n := int(min(uint64(len(p)), z.zeros))
		clear(p[:n])
		z.zeros -= uint64(n)
		return n, nil
	}
	n, err := z.r.Read(p[:min(uint64(len(p)), z.lit)])
	z.lit -= uint64(n)
	if err != nil {
		err = unexpected(err)
	}
	return n, err
}
