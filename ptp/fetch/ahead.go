package fetch

import "sync"

// writeAhead is a Part whose bytes reach the Part below in the background,
// size bytes at a time, so that the disk takes one piece while the camera
// sends the next: written in line, each write left the USB bus idle. Sync,
// Truncate, Commit and Close wait for the writes first; syncBehind does
// not. The first write or sync that fails fails every later call, so that
// nothing is counted as stored that was not.
type writeAhead struct {
	Part
	cur, spare []byte
	busy       bool       // a background write is under way
	done       chan error // its result
	err        error      // the first failed write
}

// buffers holds the writeAheads' buffers between downloads: pooled, not
// kept, as a camera can stay open for months between passes.
var buffers sync.Pool // of *[]byte

func newWriteAhead(p Part, size int) *writeAhead {
	get := func() []byte {
		if b, ok := buffers.Get().(*[]byte); ok && cap(*b) == size {
			return (*b)[:0]
		}
		return make([]byte, 0, size)
	}
	return &writeAhead{Part: p, cur: get(), spare: get(), done: make(chan error, 1)}
}

func (w *writeAhead) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	n := len(p)
	for len(p) > 0 {
		k := min(len(p), cap(w.cur)-len(w.cur))
		w.cur = append(w.cur, p[:k]...)
		p = p[k:]
		if len(w.cur) == cap(w.cur) {
			if err := w.handOff(false); err != nil {
				return n - len(p), err
			}
		}
	}
	return n, nil
}

// handOff starts writing cur in the background, once the write before
// it is done, and then syncing if sync is set.
func (w *writeAhead) handOff(sync bool) error {
	if err := w.finish(); err != nil {
		return err
	}
	if len(w.cur) == 0 && !sync {
		return nil
	}
	b := w.cur
	w.cur, w.spare = w.spare[:0], nil
	w.busy = true
	go func() {
		var err error
		if len(b) > 0 {
			_, err = w.Part.Write(b)
		}
		if err == nil && sync {
			err = w.Part.Sync()
		}
		w.spare = b // read only after done is received
		w.done <- err
	}()
	return nil
}

// syncBehind makes everything written so far durable in the background,
// so that the camera sends the next piece while the disk catches up: a
// sync in line left the bus idle for a tenth of a download under QEMU. A
// power cut costs at most the pieces written since the sync before. A
// failed sync fails the next call.
func (w *writeAhead) syncBehind() error {
	return w.handOff(true)
}

// finish waits for the background write, if any, and returns the first
// error so far.
func (w *writeAhead) finish() error {
	if w.busy {
		w.busy = false
		if err := <-w.done; err != nil && w.err == nil {
			w.err = err
		}
	}
	return w.err
}

// flush writes everything gathered and waits for it.
func (w *writeAhead) flush() error {
	if err := w.handOff(false); err != nil {
		return err
	}
	return w.finish()
}

func (w *writeAhead) Sync() error {
	if err := w.flush(); err != nil {
		return err
	}
	return w.Part.Sync()
}

func (w *writeAhead) Truncate() error {
	if err := w.finish(); err != nil {
		return err
	}
	w.cur = w.cur[:0]
	return w.Part.Truncate()
}

func (w *writeAhead) Commit(size int64) error {
	if err := w.flush(); err != nil {
		w.release()
		w.Part.Close()
		return err
	}
	w.release()
	return w.Part.Commit(size)
}

// Close keeps what reached the disk for a later run.
func (w *writeAhead) Close() error {
	err := w.flush()
	w.release()
	if cerr := w.Part.Close(); err == nil {
		err = cerr
	}
	return err
}

func (w *writeAhead) release() {
	for _, b := range [][]byte{w.cur, w.spare} {
		if b != nil {
			b = b[:0]
			buffers.Put(&b)
		}
	}
	w.cur, w.spare = nil, nil
}
