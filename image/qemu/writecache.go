package qemu

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"time"
)

// A power cut on a real device loses what its disk held in its volatile
// write cache: everything written since the last flush that the disk had
// not yet put on the medium, in no particular order. QEMU cannot model
// that with a file: a write the guest made reaches the host file (or the
// host's page cache, which survives since the host does not crash) and
// QEMU flushes every drive when it quits. So the guest's disk is served
// over NBD by WriteCache, which keeps written pages in memory until the
// guest flushes, and whose Cut writes back a random part of them and
// drops the rest, before QEMU is told to quit.

// pageSize is the write cache's unit: a page is written back whole or not
// at all, the way flash pages are.
const pageSize = 4096

// WriteCacheConfig describes a disk's volatile write cache.
type WriteCacheConfig struct {
	// Pages bounds the cache (default 65536, 256 MiB): past it, a random
	// page is written back, as a disk does when its cache fills up.
	Pages int
	// Survive is the chance that a cached page reaches the medium at a
	// cut (0: every unflushed write is lost).
	Survive float64
	// Rand chooses the pages written back (nil: a random source).
	Rand *rand.Rand
	// FlushTime is how long a flush of a non-empty cache takes, as on an
	// SD card whose flush writes the pages out; a cut meanwhile treats
	// them as unflushed (0: instant).
	FlushTime time.Duration
}

// CutReport says what a power cut did to the write cache.
type CutReport struct {
	// Kept and Lost count the unflushed pages written back and dropped.
	Kept, Lost int
}

// CacheStats counts what the guest asked of its disk.
type CacheStats struct {
	Reads, Writes, Flushes int
	// WrittenBack counts pages written back because the cache was full.
	WrittenBack int
}

// WriteCache serves a disk image over NBD (Unix socket, fixed newstyle
// handshake, simple replies) with a volatile write cache in front of it:
// the image holds exactly what a real disk would hold on its medium.
type WriteCache struct {
	path string
	sock string

	mu    sync.Mutex
	f     *os.File
	size  int64
	dirty map[int64][]byte // page number → contents
	cfg   WriteCacheConfig
	stats CacheStats
	cut   bool
	conns map[net.Conn]bool
	// unflushed is closed at the next write that leaves pages to flush.
	unflushed chan struct{}
	armed     *armedCut

	ln   net.Listener
	done chan struct{}
}

// NewWriteCache opens image and listens for QEMU on the Unix socket sock.
func NewWriteCache(image, sock string, cfg WriteCacheConfig) (*WriteCache, error) {
	f, err := os.OpenFile(image, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("qemu: write cache: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("qemu: write cache: %w", err)
	}
	os.Remove(sock)
	ln, err := net.Listen("unix", sock)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("qemu: write cache: %w", err)
	}
	if cfg.Pages == 0 {
		cfg.Pages = 65536
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	c := &WriteCache{
		path: image, sock: sock, f: f, size: fi.Size(),
		dirty: map[int64][]byte{}, cfg: cfg, conns: map[net.Conn]bool{},
		ln: ln, done: make(chan struct{}),
	}
	go c.accept()
	return c, nil
}

// DriveArgs returns QEMU's -drive option for the cached disk on the
// given interface ("virtio"): the guest sees a disk with a volatile write
// cache (cache=writeback) and must flush it.
func (c *WriteCache) DriveArgs(iface string) []string {
	return []string{"-drive", "file=nbd+unix:///?socket=" + c.sock + ",format=raw,cache=writeback,if=" + iface}
}

func (c *WriteCache) accept() {
	defer close(c.done)
	for {
		conn, err := c.ln.Accept()
		if err != nil {
			return
		}
		c.mu.Lock()
		if c.cut {
			c.mu.Unlock()
			conn.Close()
			continue
		}
		c.conns[conn] = true
		c.mu.Unlock()
		go func() {
			c.serve(conn)
			conn.Close()
			c.mu.Lock()
			delete(c.conns, conn)
			c.mu.Unlock()
		}()
	}
}

// Stats returns what the guest did so far.
func (c *WriteCache) Stats() CacheStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

// Dirty returns how many pages the cache holds that the image does not.
func (c *WriteCache) Dirty() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.dirty)
}

// Unflushed returns a channel that is closed once the cache holds pages
// the guest has not flushed: the instants at which a cut tests fsync.
func (c *WriteCache) Unflushed() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan struct{})
	if len(c.dirty) > 0 {
		close(ch)
		return ch
	}
	if c.unflushed == nil {
		c.unflushed = ch
	}
	return c.unflushed
}

// armedCut is a power cut that a write sets off (CutWhen).
type armedCut struct {
	off, end int64 // the byte range watched
	pages    int   // how many of its pages must be unflushed
	dirty    int   // how many are
	report   chan CutResult
}

// holds reports whether page p overlaps the watched range.
func (a *armedCut) holds(p int64) bool { return p*pageSize < a.end && (p+1)*pageSize > a.off }

// CutResult is what a cut set off by CutWhen did.
type CutResult struct {
	CutReport
	Err error
}

// CutWhen arms a power cut that the guest's own write sets off: the
// first write after which at least pages pages of the n bytes at off are
// unflushed is cached, and the cut (as Cut) follows before the cache
// answers it. A test that polls Dirty may miss a write that is flushed
// within milliseconds; this cannot. The channel receives the cut's
// result; the caller still stops QEMU. A second call replaces the first.
func (c *WriteCache) CutWhen(off, n int64, pages int) <-chan CutResult {
	c.mu.Lock()
	defer c.mu.Unlock()
	a := &armedCut{off: off, end: off + n, pages: pages, report: make(chan CutResult, 1)}
	for p := range c.dirty {
		if a.holds(p) {
			a.dirty++
		}
	}
	c.armed = a
	return a.report
}

// fireLocked cuts the power if the armed cut's range holds enough
// unflushed pages.
func (c *WriteCache) fireLocked() {
	a := c.armed
	if a == nil || a.dirty < a.pages {
		return
	}
	c.armed = nil
	rep, err := c.cutLocked()
	a.report <- CutResult{rep, err}
}

// Cut is the power cut: each cached page reaches the image with the
// chance cfg.Survive, the rest is lost, and the disk answers nothing from
// then on (every request fails, so nothing the guest does afterwards,
// QEMU's flush when it quits included, reaches the image).
func (c *WriteCache) Cut() (CutReport, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cutLocked()
}

func (c *WriteCache) cutLocked() (CutReport, error) {
	var rep CutReport
	if c.cut {
		return rep, errors.New("qemu: write cache: cut twice")
	}
	c.cut = true
	// Map order is not random enough to choose by; sort out by coin.
	var err error
	for n, p := range c.dirty {
		if c.cfg.Rand.Float64() < c.cfg.Survive {
			rep.Kept++
			if werr := c.writePage(n, p); err == nil {
				err = werr
			}
		} else {
			rep.Lost++
		}
	}
	c.dirty = nil
	for conn := range c.conns {
		conn.Close()
	}
	return rep, err
}

// Close writes back what the cache holds (a disk that is shut down in
// order finishes its writes; after Cut there is nothing left), stops
// serving and closes the image.
func (c *WriteCache) Close() error {
	c.ln.Close()
	<-c.done
	c.mu.Lock()
	defer c.mu.Unlock()
	err := c.flushLocked()
	c.cut = true
	for conn := range c.conns {
		conn.Close()
	}
	os.Remove(c.sock)
	if cerr := c.f.Close(); err == nil && !errors.Is(cerr, os.ErrClosed) {
		err = cerr
	}
	return err
}

// errCut answers every request after a cut.
var errCut = errors.New("the disk has no power")

func (c *WriteCache) read(off int64, n int) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cut {
		return nil, errCut
	}
	c.stats.Reads++
	buf := make([]byte, n)
	if _, err := c.f.ReadAt(buf, off); err != nil && err != io.EOF {
		return nil, err
	}
	for p := off / pageSize; p*pageSize < off+int64(n); p++ {
		page, ok := c.dirty[p]
		if !ok {
			continue
		}
		copyPage(buf, off, page, p)
	}
	return buf, nil
}

// copyPage copies the overlap of page p into buf, which starts at off.
func copyPage(buf []byte, off int64, page []byte, p int64) {
	start := max(off, p*pageSize)
	end := min(off+int64(len(buf)), p*pageSize+pageSize)
	copy(buf[start-off:end-off], page[start-p*pageSize:end-p*pageSize])
}

func (c *WriteCache) write(off int64, data []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cut {
		return errCut
	}
	c.stats.Writes++
	for p := off / pageSize; p*pageSize < off+int64(len(data)); p++ {
		page, ok := c.dirty[p]
		if !ok {
			page = make([]byte, pageSize)
			if _, err := c.f.ReadAt(page, p*pageSize); err != nil && err != io.EOF {
				return err
			}
			if c.armed != nil && c.armed.holds(p) {
				c.armed.dirty++ // counted once it is in the cache
			}
		}
		start := max(off, p*pageSize)
		end := min(off+int64(len(data)), p*pageSize+pageSize)
		copy(page[start-p*pageSize:end-p*pageSize], data[start-off:end-off])
		c.dirty[p] = page
	}
	if c.unflushed != nil {
		close(c.unflushed)
		c.unflushed = nil
	}
	if c.fireLocked(); c.cut {
		return errCut
	}
	for len(c.dirty) > c.cfg.Pages {
		for n, p := range c.dirty {
			if err := c.writePage(n, p); err != nil {
				return err
			}
			delete(c.dirty, n)
			if c.armed != nil && c.armed.holds(n) {
				c.armed.dirty--
			}
			c.stats.WrittenBack++
			break
		}
	}
	return nil
}

func (c *WriteCache) flush() error {
	c.mu.Lock()
	if c.cut {
		c.mu.Unlock()
		return errCut
	}
	c.stats.Flushes++
	slow := len(c.dirty) > 0 && c.cfg.FlushTime > 0
	c.mu.Unlock()
	if slow {
		// Writing the pages out takes time; a cut meanwhile keeps some.
		time.Sleep(c.cfg.FlushTime)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cut {
		return errCut
	}
	return c.flushLocked()
}

func (c *WriteCache) flushLocked() error {
	for n, p := range c.dirty {
		if err := c.writePage(n, p); err != nil {
			return err
		}
		delete(c.dirty, n)
	}
	if c.armed != nil {
		c.armed.dirty = 0
	}
	// The host does not lose power: its page cache is the medium.
	return nil
}

func (c *WriteCache) writePage(n int64, p []byte) error {
	off := n * pageSize
	if end := off + pageSize; end > c.size {
		p = p[:max(0, c.size-off)]
	}
	_, err := c.f.WriteAt(p, off)
	return err
}
