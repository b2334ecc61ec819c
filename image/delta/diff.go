package delta

import (
	"bytes"
	"compress/flate"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"math/bits"
)

// Tuning of Diff. A seed is an exact match of seedLen bytes found
// through the index of the old data, which holds every stride-th
// position: a match of seedLen+stride-1 bytes or more is always found.
const (
	seedLen = 16
	stride  = 8
	// maxTableBits bounds the index: at most 2^maxTableBits slots of 4
	// bytes (64 MiB), about two per indexed position below that.
	maxTableBits = 24
	// giveUp is how far the score of an extension may fall below its best
	// before the extension stops: a run of differing bytes this long ends
	// an approximate match.
	giveUp = 64
)

// maxOld is the largest old input Diff indexes (positions are 32 bits).
const maxOld = 1<<32 - 2

// Diff returns a patch that turns old into new with Apply.
//
// Like bsdiff, it pairs regions of new with regions of old that are
// mostly equal but not exactly so (a program whose addresses moved, a
// table whose offsets all grew by the same amount) and sends their
// bytewise difference, which is mostly zeros or repeats and compresses
// well; what matches nothing travels as it is. Unlike bsdiff it finds
// its seeds through a hash of every stride-th position of old rather
// than a suffix array, so that it runs in memory proportional to old
// and in about a second for a root file system.
func Diff(old, new []byte) ([]byte, error) {
	if len(old) > maxOld {
		return nil, fmt.Errorf("delta: old input of %d bytes, at most %d", len(old), maxOld)
	}
	table := index(old)
	// The streams are compressed as they are written: the differences
	// are as long as what matched, and need not be held.
	var ctl, diff, extra stream
	ctl.init(false)
	diff.init(true)
	extra.init(false)
	var vbuf [binary.MaxVarintLen64]byte
	// Invariant: new[:done] is covered by the operations emitted so far;
	// d is the alignment (old position minus new position) of the last
	// match, tried first where a new match may start.
	done, d := 0, 0
	for p := 0; p < len(new); {
		op, ok := findSeed(old, new, table, p, d)
		if !ok {
			p++
			continue
		}
		// Grow the match backwards into what is not yet covered, then
		// forwards.
		start := extend(old, new, op, p, done, -1)
		end := extend(old, new, op, p, len(new), +1)
		ctl.Write(vbuf[:binary.PutUvarint(vbuf[:], uint64(start-done))])
		extra.Write(new[done:start])
		ctl.Write(vbuf[:binary.PutUvarint(vbuf[:], uint64(end-start))])
		ctl.Write(vbuf[:binary.PutVarint(vbuf[:], int64(op-p+start))])
		diff.subtract(new[start:end], old[op-p+start:op-p+end])
		done, p, d = end, end, op-p
	}
	ctl.Write(vbuf[:binary.PutUvarint(vbuf[:], uint64(len(new)-done))])
	extra.Write(new[done:])
	return encode(header{OldSHA256: sha256.Sum256(old), NewSHA256: sha256.Sum256(new), NewSize: int64(len(new))},
		ctl.close(), diff.close(), extra.close()), nil
}

// findSeed returns where in old the seedLen bytes at new[p:] occur,
// trying the alignment d first.
func findSeed(old, new []byte, table []uint32, p, d int) (int, bool) {
	if p+seedLen > len(new) {
		return 0, false
	}
	want := new[p : p+seedLen]
	if o := p + d; o >= 0 && o+seedLen <= len(old) && bytes.Equal(old[o:o+seedLen], want) {
		return o, true
	}
	slot := table[hash(want, bits.Len(uint(len(table)))-1)]
	if slot == 0 {
		return 0, false
	}
	o := int(slot - 1)
	if o+seedLen > len(old) || !bytes.Equal(old[o:o+seedLen], want) {
		return 0, false
	}
	return o, true
}

// extend grows the match of new[p:] with old[op:] in direction dir (+1
// forwards, -1 backwards) no further than limit, and returns where it
// ends: at the best point of a score that counts +1 for each equal byte
// and -1 for each other, stopping once the score fell giveUp below its
// best.
func extend(old, new []byte, op, p, limit, dir int) int {
	best, bestAt, score := 0, p, 0
	if dir > 0 {
		for i := p; i < limit && op-p+i < len(old); i++ {
			if new[i] == old[op-p+i] {
				score++
			} else {
				score--
			}
			if score > best {
				best, bestAt = score, i+1
			} else if score < best-giveUp {
				break
			}
		}
		return bestAt
	}
	for i := p - 1; i >= limit && op-p+i >= 0; i-- {
		if new[i] == old[op-p+i] {
			score++
		} else {
			score--
		}
		if score > best {
			best, bestAt = score, i
		} else if score < best-giveUp {
			break
		}
	}
	return bestAt
}

// index maps the hash of the seedLen bytes at every stride-th position
// of old to that position plus one (0 is an empty slot). A later
// position overwrites an earlier one with the same hash.
func index(old []byte) []uint32 {
	bits := 10
	for bits < maxTableBits && 1<<bits < 2*len(old)/stride {
		bits++
	}
	table := make([]uint32, 1<<bits)
	for o := 0; o+seedLen <= len(old); o += stride {
		table[hash(old[o:o+seedLen], bits)] = uint32(o + 1)
	}
	return table
}

// hash maps seedLen bytes to a slot of a table of 2^bits.
func hash(b []byte, bits int) uint32 {
	x := binary.LittleEndian.Uint64(b) * 0x9E3779B97F4A7C15
	y := binary.LittleEndian.Uint64(b[8:]) * 0xC2B2AE3D27D4EB4F
	return uint32((x ^ (y>>29 | y<<35)) >> (64 - bits))
}

// stream is one of a patch's streams, compressed as it is written.
type stream struct {
	buf bytes.Buffer
	fw  *flate.Writer
	io.Writer
	zr  *zeroRunWriter // the diff stream's coder of zero runs, or nil
	tmp [4096]byte
}

func (s *stream) init(zeroRuns bool) {
	s.fw, _ = flate.NewWriter(&s.buf, flate.BestCompression) // only fails for a bad level
	s.Writer = s.fw
	if zeroRuns {
		s.zr = &zeroRunWriter{w: s.fw}
		s.Writer = s.zr
	}
}

// subtract writes a-b bytewise.
func (s *stream) subtract(a, b []byte) {
	for len(a) > 0 {
		n := min(len(a), len(s.tmp))
		for i := range n {
			s.tmp[i] = a[i] - b[i]
		}
		s.Write(s.tmp[:n]) // a bytes.Buffer never fails
		a, b = a[n:], b[n:]
	}
}

// close returns the compressed stream.
func (s *stream) close() []byte {
	if s.zr != nil {
		s.zr.Close()
	}
	s.fw.Close()
	return s.buf.Bytes()
}
