package upload

import (
	"errors"
	"fmt"
	"io"
	"sync"
)

// ErrBodyOver is what a request body returns when it is read after a
// newer body of the same file was opened, or after its transfer ended.
var ErrBodyOver = errors.New("request body read after its request ended")

// Bodies hands out request bodies read from one file, one at a time.
//
// net/http may go on reading a request's body after Do returned (the
// server answered early, or the connection broke while the body was being
// written: the transport writes from a goroutine of its own and closes the
// body when it is done). The file's offset is shared, so a late read would
// take bytes from under the next request, which then sends them from the
// wrong place. Opening a body, and Close, first end the reads of the one
// before: a read under way finishes, later ones return ErrBodyOver without
// touching the file.
//
// The zero value is ready to use.
type Bodies struct {
	mu      sync.Mutex // held during each read, so that Open waits for it
	current *body
}

// Open ends the last body's reads, seeks f to off and returns a body of
// its next n bytes. progress, if not nil, is called after every read that
// returns bytes.
func (b *Bodies) Open(f io.ReadSeeker, name string, off, n int64, progress func()) (io.ReadCloser, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.current = nil
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return nil, fmt.Errorf("seeking %s to %d: %w", name, off, err)
	}
	nb := &body{r: io.LimitReader(f, n), owner: b, progress: progress}
	b.current = nb
	return nb, nil
}

// Close ends the last body's reads, waiting for one under way: after it
// the file is the caller's again.
func (b *Bodies) Close() {
	b.mu.Lock()
	b.current = nil
	b.mu.Unlock()
}

type body struct {
	r        io.Reader
	owner    *Bodies
	progress func()
}

func (bd *body) Read(p []byte) (int, error) {
	bd.owner.mu.Lock()
	defer bd.owner.mu.Unlock()
	if bd.owner.current != bd {
		return 0, ErrBodyOver
	}
	n, err := bd.r.Read(p)
	if n > 0 && bd.progress != nil {
		bd.progress()
	}
	return n, err
}

// Close does nothing: the file is not the body's to close, and a closed
// body may still be read by the transport's other goroutine, which Open
// and Bodies.Close fence off.
func (bd *body) Close() error { return nil }
