package process

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"io"

	"github.com/lapsebox/lapsebox/appliance/process/internal/jpegscale"
	"github.com/lapsebox/lapsebox/internal/tiff"
)

// DefaultMaxPixels is the largest photo Process decodes unless
// Processor.MaxPixels says otherwise: a 50 MP camera's frames fit, a JPEG
// header claiming 65535×65535 does not.
const DefaultMaxPixels = 60_000_000

// maxHeader bounds the bytes before the first frame header (EXIF, maker
// notes, ICC profiles, XMP); cameras write well under 256 KB.
const maxHeader = 4 << 20

// jpegHeader is what scanHeader learns before decoding.
type jpegHeader struct {
	width, height int
	orientation   int    // EXIF orientation, 1 to 8 (1 when absent)
	raw           []byte // the bytes read, to be decoded again
}

// scanHeader reads markers up to and including the first SOF, keeping the
// bytes it read, so that the photo can be checked (size, format) and its
// EXIF orientation known before the pixels are decoded, in one pass over r.
func scanHeader(br *bufio.Reader) (*jpegHeader, error) {
	magic, err := br.Peek(16)
	if err != nil && err != io.EOF {
		return nil, readError{err}
	}
	if len(magic) < 3 || magic[0] != 0xff || magic[1] != 0xd8 || magic[2] != 0xff {
		if what := sniff(magic); what != "" {
			return nil, fmt.Errorf("%w (looks like %s)", ErrNotJPEG, what)
		}
		return nil, ErrNotJPEG
	}
	h := &jpegHeader{orientation: 1}
	var buf bytes.Buffer
	read := func(n int) ([]byte, error) {
		if buf.Len()+n > maxHeader {
			return nil, fmt.Errorf("%w: more than %d MB of metadata before the image", ErrCorrupt, maxHeader>>20)
		}
		start := buf.Len()
		if _, err := io.CopyN(&buf, br, int64(n)); err != nil {
			if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
				return nil, fmt.Errorf("%w: the file ends in its header", ErrTruncated)
			}
			return nil, readError{err}
		}
		return buf.Bytes()[start:], nil
	}
	if _, err := read(2); err != nil {
		return nil, err
	}
	for {
		b, err := read(2)
		if err != nil {
			return nil, err
		}
		if b[0] != 0xff {
			return nil, fmt.Errorf("%w: no marker where one should be (byte %#02x at offset %d)", ErrCorrupt, b[0], buf.Len()-2)
		}
		m := b[1]
		for m == 0xff { // fill bytes
			b, err := read(1)
			if err != nil {
				return nil, err
			}
			m = b[0]
		}
		switch {
		case m == 0x01 || m >= 0xd0 && m <= 0xd7:
			continue // no length
		case m == 0xd8 || m == 0xd9 || m == 0xda || m == 0x00:
			return nil, fmt.Errorf("%w: marker %#02x before the frame header", ErrCorrupt, m)
		}
		b, err = read(2)
		if err != nil {
			return nil, err
		}
		n := int(binary.BigEndian.Uint16(b))
		if n < 2 {
			return nil, fmt.Errorf("%w: marker %#02x has length %d", ErrCorrupt, m, n)
		}
		p, err := read(n - 2)
		if err != nil {
			return nil, err
		}
		switch {
		case m == 0xe1 && bytes.HasPrefix(p, []byte("Exif\x00\x00")):
			if o := exifOrientation(p[6:]); o != 0 {
				h.orientation = o
			}
		case m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc:
			if len(p) < 6 {
				return nil, fmt.Errorf("%w: short frame header", ErrCorrupt)
			}
			h.height = int(binary.BigEndian.Uint16(p[1:]))
			h.width = int(binary.BigEndian.Uint16(p[3:]))
			h.raw = buf.Bytes()
			return h, nil
		}
	}
}

// readError is a failure of the reader itself (not of the data in it); it
// is passed on as is, since a retry may cure it.
type readError struct{ err error }

func (e readError) Error() string { return e.err.Error() }
func (e readError) Unwrap() error { return e.err }

// sniff names some formats a JPEG may be confused with.
func sniff(b []byte) string {
	has := func(off int, s string) bool { return len(b) >= off+len(s) && string(b[off:off+len(s)]) == s }
	switch {
	case len(b) == 0:
		return "an empty file"
	case has(0, "II*\x00") && has(8, "CR"):
		return "a Canon CR2 raw file"
	case has(0, "II*\x00") || has(0, "MM\x00*"):
		return "a TIFF or a TIFF-based raw file (NEF, ARW, DNG, …)"
	case has(4, "ftypcrx "):
		return "a Canon CR3 raw file"
	case has(4, "ftyphei") || has(4, "ftypmif1"):
		return "a HEIF/HEIC file"
	case has(0, "FUJIFILMCCD-RAW"):
		return "a Fujifilm RAF raw file"
	case has(0, "IIRO") || has(0, "IIRS"):
		return "an Olympus ORF raw file"
	case has(0, "IIU\x00"):
		return "a Panasonic RW2 raw file"
	case has(0, "\x89PNG"):
		return "a PNG"
	case has(0, "GIF8"):
		return "a GIF"
	case has(0, "RIFF") && has(8, "WEBP"):
		return "a WebP"
	case has(0, "\xff\xd8"):
		return "a damaged JPEG"
	}
	return ""
}

// readPhoto reads the header of the JPEG in r (format, size limit, EXIF
// orientation) and returns it with the reader of the rest, for decodeFrame
// to decode at a scale chosen from the header's size. Bad data gives an
// *Error.
func readPhoto(name string, r io.Reader, maxPixels int) (*jpegHeader, *bufio.Reader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	h, err := scanHeader(br)
	if err != nil {
		var re readError
		if errors.As(err, &re) {
			return nil, nil, fmt.Errorf("process: reading photo %s: %w", name, re.err)
		}
		return nil, nil, badPhoto(name, err)
	}
	if h.width == 0 || h.height == 0 {
		return nil, nil, badPhoto(name, fmt.Errorf("%w: frame header says %d×%d pixels", ErrCorrupt, h.width, h.height))
	}
	if err := checkPixels(name, h, maxPixels); err != nil {
		return nil, nil, err
	}
	return h, br, nil
}

// checkPixels reports a photo larger than maxPixels as an *Error. The limit
// is on the full size even when the frame is decoded smaller: progressive
// JPEGs keep every coefficient of the full size.
func checkPixels(name string, h *jpegHeader, maxPixels int) error {
	if h.width*h.height > maxPixels {
		return badPhoto(name, fmt.Errorf("%w: %d×%d pixels, more than the limit of %d", ErrTooLarge, h.width, h.height, maxPixels))
	}
	return nil
}

// decodeFrame decodes the photo whose header readPhoto returned, scaled by
// 1/denom (1, 2, 4 or 8) in the decoder: see jpegscale.DecodeScaled.
func decodeFrame(name string, h *jpegHeader, br *bufio.Reader, denom int) (image.Image, error) {
	cr := &errRecorder{r: br}
	img, err := safeDecode(io.MultiReader(bytes.NewReader(h.raw), cr), denom)
	switch {
	case err == nil:
	case cr.err != nil && cr.err != io.EOF:
		return nil, fmt.Errorf("process: reading photo %s: %w", name, cr.err)
	case cr.err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF):
		// image/jpeg reports running out of data in a scan as "short
		// Huffman data", so the source's own EOF is the better witness.
		return nil, badPhoto(name, fmt.Errorf("%w: the file ends inside the image data", ErrTruncated))
	default:
		return nil, badPhoto(name, fmt.Errorf("%w: %v", ErrCorrupt, err))
	}
	w, ht := (h.width+denom-1)/denom, (h.height+denom-1)/denom
	if b := img.Bounds(); b.Dx() != w || b.Dy() != ht {
		return nil, badPhoto(name, fmt.Errorf("%w: decoded %v at 1/%d, header said %d×%d", ErrCorrupt, b.Size(), denom, h.width, h.height))
	}
	return img, nil
}

// safeDecode turns a panic in the decoder into an error, so that no photo
// can take the service down.
func safeDecode(r io.Reader, denom int) (img image.Image, err error) {
	defer func() {
		if p := recover(); p != nil {
			img, err = nil, fmt.Errorf("decoder panicked: %v", p)
		}
	}()
	return jpegscale.DecodeScaled(r, denom)
}

// errRecorder remembers the reader's own error, to tell a failing disk
// (worth a retry) from a truncated file (not).
type errRecorder struct {
	r   io.Reader
	err error
}

func (c *errRecorder) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err != nil {
		c.err = err
	}
	return n, err
}

// exifOrientation returns the Orientation tag (0x0112) of IFD0 of a TIFF
// structure (the APP1 payload after "Exif\0\0"), or 0 if there is none or
// it is not 1 to 8.
func exifOrientation(t []byte) int {
	bo := tiff.ByteOrder(t)
	if len(t) < 8 || bo == nil {
		return 0
	}
	off := int(bo.Uint32(t[4:]))
	if off < 8 || off > len(t)-2 {
		return 0
	}
	n := int(bo.Uint16(t[off:]))
	for i := 0; i < n; i++ {
		e := off + 2 + 12*i
		if e+12 > len(t) {
			return 0
		}
		if bo.Uint16(t[e:]) != 0x0112 {
			continue
		}
		var v int
		switch bo.Uint16(t[e+2:]) {
		case 3: // SHORT
			v = int(bo.Uint16(t[e+8:]))
		case 4: // LONG, seen in the wild
			v = int(bo.Uint32(t[e+8:]))
		default:
			return 0
		}
		if v < 1 || v > 8 {
			return 0
		}
		return v
	}
	return 0
}
