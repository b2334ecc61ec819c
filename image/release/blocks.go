package release

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
)

// NewPart cuts the size bytes of r into content-defined chunks (the
// blocks of the release) and hashes them.
func NewPart(r io.ReaderAt, size int64) (Part, error) {
	p := Part{Size: size}
	whole := sha256.New()
	err := chunk(r, size, func(_ int64, b []byte) error {
		p.Blocks = append(p.Blocks, Hash(b))
		p.Sizes = append(p.Sizes, len(b))
		whole.Write(b)
		return nil
	})
	p.SHA256 = hexSum(whole.Sum(nil))
	return p, err
}

// Source is a part the device already has (the running root, the boot
// file system), whose blocks need not travel again.
type Source struct {
	R    io.ReaderAt
	Size int64
}

// Index maps the hash of each block of the sources to where it is.
type Index map[string]blockAt

type blockAt struct {
	src int
	off int64
	n   int
}

// NewIndex cuts the sources into blocks as NewPart does and hashes them:
// a block of a release that the device has anywhere is found.
func NewIndex(sources ...Source) (Index, error) {
	idx := Index{}
	for i, s := range sources {
		err := chunk(s.R, s.Size, func(off int64, b []byte) error {
			if h := Hash(b); idx[h] == (blockAt{}) {
				idx[h] = blockAt{src: i, off: off, n: len(b)}
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("release: indexing source %d: %w", i, err)
		}
	}
	return idx, nil
}

// Fetcher gets a block by its hash from the server. The caller checks
// what it returns.
type Fetcher interface {
	Block(ctx context.Context, hash string) ([]byte, error)
}

// Stats count where an assembled part's bytes came from.
type Stats struct {
	// Resumed were already in the staging file from an earlier attempt.
	Resumed int64
	// Local were copied from the device's own parts.
	Local int64
	// Fetched travelled from the server.
	Fetched int64
	// FetchedBlocks is how many blocks travelled.
	FetchedBlocks int
}

// Assemble writes part p into dst (a staging file), block by block: a
// block already in dst from an interrupted attempt stays, one the device
// has in sources is copied, any other is fetched. Every block is checked
// against its hash before it is written, and dst as a whole against the
// part's hash at the end: a wrong byte from the server, the disk or the
// sources fails the assembly with ErrBlockHash or ErrPartHash.
func Assemble(ctx context.Context, p Part, dst interface {
	io.ReaderAt
	io.WriterAt
}, sources []Source, idx Index, f Fetcher) (Stats, error) {
	var st Stats
	buf := make([]byte, MaxChunk)
	off := int64(0)
	for i, want := range p.Blocks {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		n := p.Sizes[i]
		b := buf[:n]
		blockOff := off
		off += int64(n)
		if k, err := dst.ReadAt(b, blockOff); k == n && (err == nil || errors.Is(err, io.EOF)) && Hash(b) == want {
			st.Resumed += int64(n)
			continue
		}
		if at, ok := idx[want]; ok && at.n == n {
			if _, err := sources[at.src].R.ReadAt(b, at.off); err == nil && Hash(b) == want {
				if _, err := dst.WriteAt(b, blockOff); err != nil {
					return st, fmt.Errorf("release: writing block %d: %w", i, err)
				}
				st.Local += int64(n)
				continue
			}
		}
		got, err := f.Block(ctx, want)
		if err != nil {
			return st, fmt.Errorf("release: fetching block %d (%s): %w", i, want, err)
		}
		if len(got) != n || Hash(got) != want {
			return st, fmt.Errorf("release: block %d: %w: got %d bytes with sha256 %s, want %d bytes with %s",
				i, ErrBlockHash, len(got), Hash(got), n, want)
		}
		if _, err := dst.WriteAt(got, blockOff); err != nil {
			return st, fmt.Errorf("release: writing block %d: %w", i, err)
		}
		st.Fetched += int64(n)
		st.FetchedBlocks++
	}
	if err := CheckPart(io.NewSectionReader(dst, 0, p.Size), p); err != nil {
		return st, err
	}
	return st, nil
}

// CheckPart reads a part's bytes from r and compares their hash with p's.
func CheckPart(r io.Reader, p Part) error {
	h := sha256.New()
	n, err := io.Copy(h, io.LimitReader(r, p.Size))
	if err != nil {
		return fmt.Errorf("release: reading the assembled part: %w", err)
	}
	if got := hexSum(h.Sum(nil)); n != p.Size || got != p.SHA256 {
		return fmt.Errorf("release: %w: %d bytes with sha256 %s, want %d bytes with %s", ErrPartHash, n, got, p.Size, p.SHA256)
	}
	return nil
}

// Hash returns the lower-case hex SHA-256 of b, the name of a block.
func Hash(b []byte) string {
	sum := sha256.Sum256(b)
	return hexSum(sum[:])
}

// Need returns how many bytes of p's blocks are not in idx: what a
// device with idx's sources fetches to assemble p.
func (idx Index) Need(p Part) int64 {
	var n int64
	for i, h := range p.Blocks {
		if _, ok := idx[h]; !ok {
			n += int64(p.Sizes[i])
		}
	}
	return n
}

// GzipBlock returns block b as the central server sends it to a client
// that accepts gzip: compressed at gzip's fastest level (blocks are
// compressed per request, not at rest), or nil when that is not smaller
// than b, which then travels as it is.
func GzipBlock(b []byte) []byte {
	var z bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&z, gzip.BestSpeed) // only fails for a bad level
	zw.Write(b)
	zw.Close()
	if z.Len() >= len(b) {
		return nil
	}
	return z.Bytes()
}

// GzipSize returns how many bytes r's content takes gzipped: what a
// device that has none of a part fetches, its blocks gzipped on the way,
// and the reference a transfer is measured against.
func GzipSize(r io.Reader) (int64, error) {
	var n countingWriter
	zw := gzip.NewWriter(&n)
	if _, err := io.Copy(zw, r); err != nil {
		return 0, err
	}
	err := zw.Close()
	return int64(n), err
}

type countingWriter int64

func (c *countingWriter) Write(p []byte) (int, error) {
	*c += countingWriter(len(p))
	return len(p), nil
}
