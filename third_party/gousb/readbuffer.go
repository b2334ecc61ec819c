// lapsebox patch: this file is not in upstream gousb.

package gousb

import (
	"context"
	"fmt"
	"runtime"
)

// ReadBuffer is one transfer's buffer, kept for repeated reads from an IN
// endpoint and read in place. ReadContext allocates a buffer in C memory
// per call and copies it into the caller's slice; a download through a
// ReadBuffer does neither. Where the kernel lends one (Linux usbfs, through
// libusb_dev_mem_alloc), the buffer is memory the host controller writes
// directly, so that the kernel copies nothing to user space either.
//
// A ReadBuffer is used by one goroutine at a time; Close it before the
// interface is released.
type ReadBuffer struct {
	t      *usbTransfer
	devMem bool
}

// NewReadBuffer allocates a buffer of size bytes (a multiple of the
// endpoint's MaxPacketSize, or a packet may overflow it) for reads from e.
func (e *InEndpoint) NewReadBuffer(size int) (*ReadBuffer, error) {
	if size <= 0 {
		return nil, fmt.Errorf("gousb: read buffer of %d bytes", size)
	}
	done := make(chan struct{}, 1)
	xfer, devMem, err := e.ctx.libusb.allocDevMem(e.h, &e.Desc, size, done)
	if err != nil {
		return nil, err
	}
	t := &usbTransfer{xfer: xfer, buf: e.ctx.libusb.buffer(xfer), done: done, ctx: e.ctx}
	runtime.SetFinalizer(t, func(t *usbTransfer) {
		t.cancel()
		t.wait(context.Background())
		t.free()
	})
	return &ReadBuffer{t: t, devMem: devMem}, nil
}

// Len returns the buffer's size.
func (b *ReadBuffer) Len() int { return len(b.t.buf) }

// DevMem reports whether the buffer is the kernel's DMA memory rather
// than a copy target.
func (b *ReadBuffer) DevMem() bool { return b.devMem }

// ReadContext reads one transfer into the buffer and returns the bytes
// read, which stay valid until the next ReadContext or Close. Like
// InEndpoint.ReadContext it returns what arrived along with an error, and
// cancels the transfer when ctx is done.
func (b *ReadBuffer) ReadContext(ctx context.Context) ([]byte, error) {
	if b.t.xfer == nil {
		return nil, fmt.Errorf("gousb: read buffer used after Close")
	}
	if err := b.t.submit(); err != nil {
		return nil, err
	}
	n, err := b.t.wait(ctx)
	return b.t.buf[:n], err
}

// Close frees the buffer.
func (b *ReadBuffer) Close() error { return b.t.free() }
