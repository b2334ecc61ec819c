package camera

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/lapsebox/lapsebox/ptp"
)

// Capture takes one picture and downloads its files (one, or two for
// RAW+JPG) to the writers sink returns; with a nil sink each File carries
// its Data. It returns the files downloaded, also when it fails partway
// (a RAW+JPG pair of which one file did not arrive: ErrMissingFile). If ctx
// has no deadline, Options.CaptureTimeout applies.
func (c *Camera) Capture(ctx context.Context, sink Sink) ([]File, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.opts.CaptureTimeout)
		defer cancel()
	}
	switch c.kind {
	case CanonEOS:
		return c.eosCapture(ctx, sink)
	case Nikon:
		return c.nikonCapture(ctx, sink)
	case Generic:
		return c.genericCapture(ctx, sink)
	}
	return nil, wrap("capture", ErrNoCapture)
}

// resumeWriter writes a file to its sink once, in order, across retried
// reads: bytes before what the sink already has are skipped.
type resumeWriter struct {
	w       io.Writer
	written int64 // bytes the sink has
	pos     int64 // file offset of the next byte to arrive
	err     error // the sink's error: not retryable
}

func (r *resumeWriter) Write(p []byte) (int, error) {
	n := len(p)
	if skip := r.written - r.pos; skip > 0 {
		if skip >= int64(n) {
			r.pos += int64(n)
			return n, nil
		}
		p = p[skip:]
		r.pos += skip
	}
	k, err := r.w.Write(p)
	r.pos += int64(k)
	r.written += int64(k)
	if err == nil && k < len(p) {
		err = io.ErrShortWrite
	}
	if err != nil {
		r.err = err
		return n - len(p) + k, err
	}
	return n, nil
}

// sliceWriter appends to a byte slice allocated once at the file's size.
type sliceWriter struct{ b []byte }

func (s *sliceWriter) Write(p []byte) (int, error) {
	s.b = append(s.b, p...)
	return len(p), nil
}

// download copies object f.Handle to the sink, in ChunkSize pieces when
// the camera has GetPartialObject, retrying pieces after transport
// failures.
func (c *Camera) download(ctx context.Context, f *File, sink Sink) error {
	op := "download " + f.Name
	if f.Size <= 0 {
		var oi *ptp.ObjectInfo
		err := c.try(ctx, "GetObjectInfo", func(ctx context.Context) (err error) {
			oi, err = c.conn.GetObjectInfo(ctx, f.Handle)
			return err
		})
		if err != nil {
			return wrap(op, err)
		}
		f.Size = int64(oi.CompressedSize)
	}
	var (
		w   io.Writer
		buf *sliceWriter
	)
	if sink == nil {
		buf = &sliceWriter{b: make([]byte, 0, f.Size)}
		w = buf
	} else {
		var err error
		if w, err = sink(*f); err != nil {
			return wrap(op, err)
		}
	}
	rw := &resumeWriter{w: w}
	partial := c.info.Supports(ptp.OpGetPartialObject) && f.Size < 0xFFFFFFFF
	for rw.written < f.Size || !partial && rw.written == 0 {
		start := rw.written
		err := c.try(ctx, op, func(ctx context.Context) error {
			rw.pos = start
			if !partial {
				return c.conn.GetObject(ctx, f.Handle, rw)
			}
			n := uint32(min(int64(c.opts.ChunkSize), f.Size-start))
			_, err := c.conn.GetPartialObject(ctx, f.Handle, uint32(start), n, rw)
			if rw.err != nil {
				return rw.err
			}
			return err
		})
		if rw.err != nil {
			return wrap(op, rw.err)
		}
		if err != nil {
			return err
		}
		if !partial {
			break
		}
		if rw.written == start {
			return wrap(op, fmt.Errorf("object ended at %d of %d bytes", start, f.Size))
		}
	}
	if rw.written != f.Size {
		return wrap(op, fmt.Errorf("got %d bytes, the camera announced %d", rw.written, f.Size))
	}
	if buf != nil {
		f.Data = buf.b
	}
	return nil
}

// genericCapture: InitiateCapture, then ObjectAdded events for the files
// and CaptureComplete on the interrupt pipe (docs/ptp.md §3.5).
func (c *Camera) genericCapture(ctx context.Context, sink Sink) ([]File, error) {
	// Events left from before (files the camera added by itself) would be
	// taken for this capture's.
	for i := 0; i < 16; i++ {
		dctx, cancel := context.WithTimeout(ctx, time.Millisecond)
		_, err := c.conn.ReadEvent(dctx)
		cancel()
		if err != nil {
			break
		}
	}
	octx, cancel := c.opContext(ctx)
	resp, err := c.conn.Do(octx, ptp.Operation{Code: ptp.OpInitiateCapture, Params: []uint32{0, 0}}, nil, nil)
	cancel()
	switch {
	case ptp.IsResponse(err, ptp.RespStoreFull):
		return nil, wrap("InitiateCapture", ErrCardFull)
	case ptp.IsResponse(err, ptp.RespDeviceBusy):
		return nil, wrap("InitiateCapture", ErrBusy)
	case err != nil:
		return nil, wrap("InitiateCapture", err)
	}
	tid := resp.TransactionID
	var handles []uint32
	var grace time.Time // after CaptureComplete without ObjectAdded
	for {
		ectx := ctx
		var cancel context.CancelFunc = func() {}
		if !grace.IsZero() {
			ectx, cancel = context.WithDeadline(ctx, grace)
		}
		ev, err := c.conn.ReadEvent(ectx)
		cancel()
		if err != nil {
			if !grace.IsZero() && ctx.Err() == nil {
				break // CaptureComplete came, no file followed
			}
			if len(handles) > 0 && ctx.Err() != nil {
				break
			}
			return nil, wrap("wait for CaptureComplete", fmt.Errorf("%w: %w", ErrNoPicture, err))
		}
		if ev.TransactionID != tid && ev.TransactionID != 0 {
			continue
		}
		switch ev.Code {
		case ptp.EventObjectAdded:
			if len(ev.Params) > 0 {
				handles = append(handles, ev.Params[0])
			}
			continue
		case ptp.EventStoreFull:
			return nil, wrap("capture", ErrCardFull)
		case ptp.EventCaptureComplete:
			if len(handles) == 0 {
				// Some cameras report the file after CaptureComplete.
				grace = time.Now().Add(c.opts.PairTimeout)
				continue
			}
		default:
			continue
		}
		break
	}
	if len(handles) == 0 {
		return nil, wrap("capture", ErrNoPicture)
	}
	return c.fetchHandles(ctx, sink, handles, false)
}

// fetchHandles downloads the objects with handles (skipping folders) and,
// if del, deletes each after its download.
func (c *Camera) fetchHandles(ctx context.Context, sink Sink, handles []uint32, del bool) ([]File, error) {
	var files []File
	for _, h := range handles {
		var oi *ptp.ObjectInfo
		err := c.try(ctx, "GetObjectInfo", func(ctx context.Context) (err error) {
			oi, err = c.conn.GetObjectInfo(ctx, h)
			return err
		})
		if err != nil {
			return files, err
		}
		if oi.Format == ptp.FormatAssociation {
			continue // a new folder
		}
		f := c.newFile(oi.Filename, oi.Format, int64(oi.CompressedSize), h)
		if err := c.download(ctx, &f, sink); err != nil {
			return files, err
		}
		files = append(files, f)
		if del {
			if err := c.nikonDelete(ctx, h); err != nil {
				return files, err
			}
		}
	}
	return files, nil
}
