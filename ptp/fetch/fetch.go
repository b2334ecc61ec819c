// Package fetch downloads what a camera holds: it walks every store and
// folder, fetches each object the Sink does not have yet in chunks,
// resumes a partial download from the bytes already stored, verifies the
// size, and can delete the object from the camera once the copy is safe.
// It is the camera service's download mode, for cameras that shoot by
// themselves, and the host tool's `camera download`.
package fetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	"github.com/lapsebox/lapsebox/ptp"
)

// Camera is what Fetch needs of a camera; *ptp.Conn, with a session
// open, is one.
type Camera interface {
	GetStorageIDs(ctx context.Context) ([]uint32, error)
	GetObjectHandles(ctx context.Context, storage, format, parent uint32) ([]uint32, error)
	GetObjectInfo(ctx context.Context, h uint32) (*ptp.ObjectInfo, error)
	GetObject(ctx context.Context, h uint32, w io.Writer) error
	GetPartialObject(ctx context.Context, h, offset, max uint32, w io.Writer) (uint32, error)
	DeleteObject(ctx context.Context, h uint32, format ptp.FormatCode) error
}

var _ Camera = (*ptp.Conn)(nil)

// Object is a file on the camera.
type Object struct {
	Storage uint32
	Handle  uint32 // valid for this session only
	// Path is slash-separated within the store, from the objects'
	// file names: "DCIM/100CANON/IMG_0001.JPG".
	Path string
	Size int64
	Info *ptp.ObjectInfo
}

// Progress reports a download.
type Progress struct {
	Object Object
	Done   int64 // bytes of Object stored so far
	// Resumed is where this run started in Object (bytes already stored).
	Resumed  int64
	Complete bool // Object is stored and verified
	Result   Result
}

// Result counts what a Fetch did.
type Result struct {
	Objects int   // files found on the camera
	Fetched int   // files downloaded completely by this run
	Skipped int   // files the sink already had
	Bytes   int64 // bytes downloaded by this run
	Deleted int   // files deleted from the camera
	Failed  int   // files that failed (see the error)
}

// Options tune Fetch. The zero value gives the defaults.
type Options struct {
	// ChunkSize is the size of each GetPartialObject. Default 1 MiB
	// (some Canon bodies fail on larger pieces).
	ChunkSize int
	// SyncEvery is how many bytes of a partial file are written between
	// two syncs (default 8 MiB): about what a power cut can cost a
	// download that resumes. Each sync runs while the next chunk
	// arrives; a sync after every chunk, in line, left the bus idle for a
	// sync each MiB.
	SyncEvery int64
	// Delete deletes each object from the camera once its copy is
	// verified and synced.
	Delete bool
	// Progress is called after every chunk and when an object is done.
	Progress func(Progress)
	// Filter, if set, skips the objects it returns false for.
	Filter func(Object) bool
	// Timeout bounds each operation. Default 60 s.
	Timeout time.Duration
}

func (o *Options) withDefaults() Options {
	var v Options
	if o != nil {
		v = *o
	}
	if v.ChunkSize <= 0 {
		v.ChunkSize = 1 << 20
	}
	if v.Timeout <= 0 {
		v.Timeout = time.Minute
	}
	if v.SyncEvery <= 0 {
		v.SyncEvery = 8 << 20
	}
	return v
}

// fatal reports whether err ends the whole Fetch rather than one object:
// the camera is gone, the caller gave up, or the sink failed (a full disk
// fails every object alike).
func fatal(ctx context.Context, err error) bool {
	var se *SinkError
	return errors.Is(err, ptp.ErrNoDevice) || ctx.Err() != nil || errors.As(err, &se)
}

// SinkError is a failure of the Sink, as opposed to the camera.
type SinkError struct{ Err error }

func (e *SinkError) Error() string { return e.Err.Error() }

// Unwrap returns the cause.
func (e *SinkError) Unwrap() error { return e.Err }

// Fetch downloads into sink every object of cam that sink does not have
// complete. It stops at once when the camera is gone (an error wrapping
// ptp.ErrNoDevice: open it again and call Fetch again, which resumes),
// when ctx is done, or when the sink fails; other failures of one object
// are collected and Fetch goes on with the next.
func Fetch(ctx context.Context, cam Camera, sink Sink, opts *Options) (Result, error) {
	o := opts.withDefaults()
	var res Result
	var errs []error
	err := Walk(ctx, cam, o.Timeout, func(obj Object) error {
		if o.Filter != nil && !o.Filter(obj) {
			return nil
		}
		res.Objects++
		err := fetchOne(ctx, cam, sink, obj, &o, &res)
		if err == nil {
			return nil
		}
		if fatal(ctx, err) {
			return err
		}
		res.Failed++
		errs = append(errs, err)
		return nil
	})
	if err != nil {
		errs = append(errs, err)
	}
	return res, errors.Join(errs...)
}

// Walk calls fn with every file on cam, store by store, folder by folder.
// It lists each folder's children (GetObjectHandles with the folder as
// parent, RootObjects for the top) rather than the whole store at once:
// QEMU's usb-mtp answers both AllObjects and RootObjects with the root
// only, and creates a folder's objects only when it is listed. An error
// from fn stops the walk; errors listing one folder or reading one
// ObjectInfo do too when they mean the camera is gone, and are collected
// otherwise.
func Walk(ctx context.Context, cam Camera, timeout time.Duration, fn func(Object) error) error {
	if timeout <= 0 {
		timeout = time.Minute
	}
	op := func() (context.Context, context.CancelFunc) { return context.WithTimeout(ctx, timeout) }
	octx, cancel := op()
	ids, err := cam.GetStorageIDs(octx)
	cancel()
	if err != nil {
		return fmt.Errorf("fetch: listing stores: %w", err)
	}
	var errs []error
	seen := map[uint32]bool{}
	var walk func(storage, parent uint32, dir string, depth int) error
	walk = func(storage, parent uint32, dir string, depth int) error {
		if depth > maxDepth {
			return fmt.Errorf("fetch: store %#08x: %s: folders nested deeper than %d", storage, dir, maxDepth)
		}
		octx, cancel := op()
		handles, err := cam.GetObjectHandles(octx, storage, ptp.AllFormats, parent)
		cancel()
		if err != nil {
			return fmt.Errorf("fetch: listing store %#08x folder %q: %w", storage, "/"+dir, err)
		}
		names := map[string]bool{}
		for _, h := range handles {
			if seen[h] {
				continue // a device listing an object twice, or a cycle
			}
			seen[h] = true
			octx, cancel := op()
			info, err := cam.GetObjectInfo(octx, h)
			cancel()
			if err != nil {
				err = fmt.Errorf("fetch: store %#08x folder %q: object %#x: %w", storage, "/"+dir, h, err)
				if fatal(ctx, err) {
					return err
				}
				errs = append(errs, err)
				continue
			}
			name := uniqueName(names, cleanName(info.Filename, h))
			p := path.Join(dir, name)
			if info.Format == ptp.FormatAssociation {
				if err := walk(storage, h, p, depth+1); err != nil {
					if fatal(ctx, err) {
						return err
					}
					errs = append(errs, err)
				}
				continue
			}
			obj := Object{Storage: storage, Handle: h, Path: p, Size: int64(info.CompressedSize), Info: info}
			if err := fn(obj); err != nil {
				return err
			}
		}
		return nil
	}
	for _, id := range ids {
		if id&0xFFFF == 0 {
			continue // an empty slot: no card
		}
		if err := walk(id, ptp.RootObjects, "", 0); err != nil {
			if fatal(ctx, err) || !isResponse(err) {
				return errors.Join(append(errs, err)...)
			}
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// maxDepth bounds folder nesting: cameras use two levels (DCIM/100CANON).
const maxDepth = 32

func isResponse(err error) bool {
	var re *ptp.ResponseError
	return errors.As(err, &re)
}

// cleanName makes a camera's file name safe as one path element.
func cleanName(name string, h uint32) string {
	name = strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r < ' ' || r == 0x7f {
			return '_'
		}
		return r
	}, strings.TrimSpace(name))
	if name == "" || name == "." || name == ".." || strings.HasPrefix(name, ".") {
		name = fmt.Sprintf("object-%08x%s", h, strings.TrimLeft(name, "."))
	}
	return name
}

// uniqueName keeps two objects with the same name in one folder apart.
func uniqueName(used map[string]bool, name string) string {
	n := name
	for i := 2; used[n]; i++ {
		ext := path.Ext(name)
		n = fmt.Sprintf("%s~%d%s", strings.TrimSuffix(name, ext), i, ext)
	}
	used[n] = true
	return n
}

// unknownSize is ObjectInfo.CompressedSize for 4 GiB or more.
const unknownSize = 0xFFFFFFFF

// countingWriter counts what reached w.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	if err != nil {
		err = &SinkError{err}
	}
	return n, err
}

// fetchOne downloads obj unless sink has it.
func fetchOne(ctx context.Context, cam Camera, sink Sink, obj Object, o *Options, res *Result) error {
	if obj.Size == unknownSize {
		return fmt.Errorf("fetch: %s: 4 GiB or larger: PTP offsets cannot reach past 4 GiB", obj.Path)
	}
	report := func(p Progress) {
		if o.Progress != nil {
			p.Object, p.Result = obj, *res
			o.Progress(p)
		}
	}
	part, err := sink.Begin(obj)
	if err != nil {
		return &SinkError{fmt.Errorf("fetch: %s: %w", obj.Path, err)}
	}
	if part == nil {
		res.Skipped++
		return deleteIfAsked(ctx, cam, obj, o, res)
	}
	ahead := newWriteAhead(part, o.ChunkSize)
	part = ahead
	have := part.Size()
	if have > obj.Size {
		// Longer than the object: not a prefix of it; start again.
		if err := part.Truncate(); err != nil {
			part.Close()
			return &SinkError{fmt.Errorf("fetch: %s: %w", obj.Path, err)}
		}
		have = 0
	}
	start, synced := have, have
	report(Progress{Done: have, Resumed: start})
	partial := true
	for have < obj.Size {
		n := min(int64(o.ChunkSize), obj.Size-have)
		cw := &countingWriter{w: part}
		octx, cancel := context.WithTimeout(ctx, o.Timeout)
		if partial {
			_, err = cam.GetPartialObject(octx, obj.Handle, uint32(have), uint32(n), cw)
		} else {
			err = cam.GetObject(octx, obj.Handle, cw)
		}
		cancel()
		if ptp.IsResponse(err, ptp.RespOperationNotSupported) && partial && cw.n == 0 {
			// No GetPartialObject: fetch the whole object at once.
			if terr := part.Truncate(); terr != nil {
				part.Close()
				return &SinkError{fmt.Errorf("fetch: %s: %w", obj.Path, terr)}
			}
			partial, have, start = false, 0, 0
			continue
		}
		have += cw.n
		res.Bytes += cw.n
		if have-synced >= o.SyncEvery {
			if serr := ahead.syncBehind(); serr != nil && err == nil {
				err = &SinkError{serr}
			}
			synced = have
		}
		if err != nil {
			part.Close() // keeps the bytes for the next run
			return fmt.Errorf("fetch: %s (%d of %d bytes): %w", obj.Path, have, obj.Size, err)
		}
		if cw.n == 0 {
			part.Close()
			return fmt.Errorf("fetch: %s: the camera sent no data at offset %d of %d", obj.Path, have, obj.Size)
		}
		if !partial && have != obj.Size {
			break // the verification below reports it
		}
		report(Progress{Done: have, Resumed: start})
	}
	if err := part.Commit(obj.Size); err != nil {
		return &SinkError{fmt.Errorf("fetch: %s: %w", obj.Path, err)}
	}
	res.Fetched++
	report(Progress{Done: obj.Size, Resumed: start, Complete: true})
	return deleteIfAsked(ctx, cam, obj, o, res)
}

func deleteIfAsked(ctx context.Context, cam Camera, obj Object, o *Options, res *Result) error {
	if !o.Delete {
		return nil
	}
	octx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	if err := cam.DeleteObject(octx, obj.Handle, 0); err != nil {
		return fmt.Errorf("fetch: deleting %s from the camera: %w", obj.Path, err)
	}
	res.Deleted++
	return nil
}
