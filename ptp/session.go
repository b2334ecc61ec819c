package ptp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Operation is a PTP operation request: an operation code and up to five
// parameters.
type Operation struct {
	Code   OpCode
	Params []uint32
}

// String returns e.g. "GetObjectInfo(0x1234)".
func (op Operation) String() string { return op.Code.String() + formatParams(op.Params) }

func (op Operation) name(v VendorExtension) string { return op.Code.Name(v) + formatParams(op.Params) }

// Response is the response to an operation.
type Response struct {
	Code          ResponseCode
	TransactionID uint32
	Params        []uint32
}

// ResponseError is returned when the device answers an operation with a
// response code other than OK. The connection is still in step.
type ResponseError struct {
	Op     Operation
	Code   ResponseCode
	Params []uint32        // the response's parameters
	Vendor VendorExtension // to name vendor response codes
}

// Error returns e.g. "ptp: GetObjectInfo(0x1234): InvalidObjectHandle (0x2009)".
func (e *ResponseError) Error() string {
	return fmt.Sprintf("ptp: %s: %s (0x%04X)", e.Op.name(e.Vendor), e.Code.Name(e.Vendor), uint16(e.Code))
}

// IsResponse reports whether err is, or wraps, a ResponseError with code.
func IsResponse(err error, code ResponseCode) bool {
	var re *ResponseError
	return errors.As(err, &re) && re.Code == code
}

// OpError is returned when an operation fails for any reason other than
// its response code: the transport, a protocol error, the caller's writer,
// an undecodable dataset. Err says which (errors.Is(err, ErrProtocol),
// ErrNoDevice, context.DeadlineExceeded, or a *DecodeError).
type OpError struct {
	Op     Operation
	Vendor VendorExtension
	Err    error
}

// Error returns e.g. "ptp: GetObject(0x12): receive: context deadline exceeded".
func (e *OpError) Error() string {
	return fmt.Sprintf("ptp: %s: %s", e.Op.name(e.Vendor), strings.TrimPrefix(e.Err.Error(), "ptp: "))
}

// Unwrap returns the cause.
func (e *OpError) Unwrap() error { return e.Err }

// Options tune a Conn. The zero value gives the defaults.
type Options struct {
	// Timeout bounds every call whose context has no deadline.
	// Default 20 s (libgphoto2's normal timeout; capture needs more,
	// pass a context with a longer deadline).
	Timeout time.Duration
	// BusyRetries is how often Do repeats an operation answered with
	// DeviceBusy. Default 8; negative: never.
	BusyRetries int
	// BusyBackoff is the first wait after DeviceBusy, doubled after each
	// retry up to MaxBusyBackoff. Defaults 50 ms and 1 s.
	BusyBackoff, MaxBusyBackoff time.Duration
	// OpenRetries is how many times OpenSession tries in all, with a device
	// Reset before each new try. Default 3.
	OpenRetries int
	// DrainTimeout is how long recovery waits for stale bytes on the bulk
	// IN endpoint before it considers it empty. Default 200 ms.
	DrainTimeout time.Duration
	// BufferSize is the size of bulk IN transfers while an object is
	// downloaded, rounded up to a multiple of the max packet size; other
	// transfers are at most 16 KiB. Default 1 MiB + 512 bytes: a 1 MiB
	// GetPartialObject with its container header in one transfer.
	BufferSize int
	// USBVendorID is the device's USB vendor ID, used to correct a generic
	// VendorExtensionID (see DeviceInfo.Vendor). Zero if unknown.
	USBVendorID uint16
}

func (o *Options) withDefaults() Options {
	var v Options
	if o != nil {
		v = *o
	}
	if v.Timeout <= 0 {
		v.Timeout = 20 * time.Second
	}
	if v.BusyRetries == 0 {
		v.BusyRetries = 8
	}
	if v.BusyBackoff <= 0 {
		v.BusyBackoff = 50 * time.Millisecond
	}
	if v.MaxBusyBackoff <= 0 {
		v.MaxBusyBackoff = time.Second
	}
	if v.OpenRetries <= 0 {
		v.OpenRetries = 3
	}
	if v.DrainTimeout <= 0 {
		v.DrainTimeout = 200 * time.Millisecond
	}
	if v.BufferSize <= 0 {
		v.BufferSize = 1<<20 + 512
	}
	return v
}

// maxStaleResponses bounds the responses of earlier transactions skipped
// while waiting for the current one.
const maxStaleResponses = 4

// Conn runs PTP transactions with one device over a Transport. Its methods
// may be called from several goroutines; transactions run one at a time.
// ReadEvent runs alongside them.
type Conn struct {
	t    Transport
	opts Options

	mu        sync.Mutex // one transaction at a time; guards the fields below
	in        *inStream
	sessionID uint32 // 0: no session
	nextTID   uint32
	lastTID   uint32
	broken    error // why the stream is out of step, nil if in step
	info      *DeviceInfo

	vendor atomic.Uint32 // VendorExtension naming vendor codes in errors

	evMu  sync.Mutex // guards evBuf
	evBuf []byte
}

// NewConn returns a Conn over t, with no session open yet. opts may be nil.
func NewConn(t Transport, opts *Options) *Conn {
	o := opts.withDefaults()
	return &Conn{t: t, opts: o, in: newInStream(t, o.BufferSize)}
}

// Open returns a Conn over t with a session open: it reads the DeviceInfo
// (DeviceInfo returns it), to know the vendor, then calls OpenSession(1).
func Open(ctx context.Context, t Transport, opts *Options) (*Conn, error) {
	c := NewConn(t, opts)
	if _, err := c.GetDeviceInfo(ctx); err != nil {
		return nil, err
	}
	if err := c.OpenSession(ctx, 1); err != nil {
		return nil, err
	}
	return c, nil
}

// DeviceInfo returns the DeviceInfo last read by GetDeviceInfo, or nil.
func (c *Conn) DeviceInfo() *DeviceInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.info
}

// Vendor returns the vendor extension used to name vendor codes: set by
// GetDeviceInfo (after the fix-up of DeviceInfo.Vendor) or by SetVendor.
func (c *Conn) Vendor() VendorExtension { return VendorExtension(c.vendor.Load()) }

// SetVendor sets the vendor extension used to name vendor codes.
func (c *Conn) SetVendor(v VendorExtension) { c.vendor.Store(uint32(v)) }

// SessionID returns the open session's ID, or 0 if none is open.
func (c *Conn) SessionID() uint32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sessionID
}

// withTimeout gives ctx the default deadline if it has none.
func (c *Conn) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, c.opts.Timeout)
}

// Do runs one transaction: it sends op, then dataOut if it is not nil (an
// OUT data phase), and reads the response, copying an IN data phase to
// dataIn (data the caller did not ask for is discarded). PTP has at most one
// data phase: dataOut and dataIn must not both be set. A response where
// data was expected is simply the answer.
//
// A response code other than OK is returned as a *ResponseError together
// with the Response. DeviceBusy is retried with a capped exponential
// backoff (Options.BusyRetries), unless data had already reached dataIn.
// Other failures are *OpError; after one, the next transaction first
// recovers the stream (see Recover).
func (c *Conn) Do(ctx context.Context, op Operation, dataOut []byte, dataIn io.Writer) (Response, error) {
	return c.do(ctx, op, dataOut, dataIn, c.opts.BusyRetries)
}

// DoOnce is Do without retrying DeviceBusy, for operations whose Busy the
// caller must handle itself (a Canon EOS full press that could not focus).
func (c *Conn) DoOnce(ctx context.Context, op Operation, dataOut []byte, dataIn io.Writer) (Response, error) {
	return c.do(ctx, op, dataOut, dataIn, -1)
}

func (c *Conn) do(ctx context.Context, op Operation, dataOut []byte, dataIn io.Writer, retries int) (Response, error) {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	if dataOut != nil && dataIn != nil {
		return Response{}, c.opError(op, errors.New("both an OUT and an IN data phase"))
	}
	if len(op.Params) > MaxParams {
		return Response{}, c.opError(op, fmt.Errorf("%d parameters, at most %d", len(op.Params), MaxParams))
	}
	wait := c.opts.BusyBackoff
	for attempt := 0; ; attempt++ {
		resp, delivered, err := c.transact(ctx, op, dataOut, dataIn)
		if resp.Code != RespDeviceBusy || delivered || attempt >= retries || err == nil {
			return resp, err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return resp, err
		case <-t.C:
		}
		wait = min(2*wait, c.opts.MaxBusyBackoff)
	}
}

func (c *Conn) opError(op Operation, err error) error {
	return &OpError{Op: op, Vendor: c.Vendor(), Err: err}
}

// countingWriter tells whether any data reached the caller's writer.
type countingWriter struct {
	w io.Writer
	n int64
}

func (w *countingWriter) Write(p []byte) (int, error) {
	n, err := w.w.Write(p)
	w.n += int64(n)
	return n, err
}

// transact runs one transaction and reports whether data reached dataIn.
func (c *Conn) transact(ctx context.Context, op Operation, dataOut []byte, dataIn io.Writer) (Response, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.broken != nil {
		if err := c.recover(ctx); err != nil {
			return Response{}, false, c.opError(op, fmt.Errorf("recovering from %s: %w", strings.TrimPrefix(c.broken.Error(), "ptp: "), err))
		}
	}
	c.in.discard()
	tid := c.newTID(op.Code)
	c.lastTID = tid
	fail := func(err error) error {
		c.broken = err
		return c.opError(op, err)
	}
	if err := sendCommand(ctx, c.t, op, tid); err != nil {
		return Response{}, false, fail(err)
	}
	if dataOut != nil {
		if err := sendData(ctx, c.t, op.Code, tid, dataOut); err != nil {
			return Response{}, false, fail(err)
		}
	}
	sink := &countingWriter{w: io.Discard}
	if dataIn != nil {
		sink.w = dataIn
	}
	if dataIn != nil && downloads(op.Code) {
		c.in.download(true)
		defer c.in.download(false)
	}
	stale := 0
	sawData := false
	for {
		ct, err := c.in.read(ctx, func(h *Container) io.Writer {
			if h.Type == ContainerData && h.TransactionID != tid {
				return io.Discard // data of an earlier transaction
			}
			return sink
		})
		if err != nil {
			return Response{}, sink.n > 0, fail(err)
		}
		switch {
		case ct.Type == ContainerData && ct.TransactionID == tid && !sawData && dataOut == nil:
			sawData = true
			c.in.download(false) // the response: a small transfer
			continue
		case ct.Type == ContainerData && isStale(ct.TransactionID, tid) && !sawData && stale < maxStaleResponses:
			stale++
			continue
		case ct.Type == ContainerData:
			return Response{}, sink.n > 0, fail(protocolError("unexpected data container (transaction %d, expected %d)", ct.TransactionID, tid))
		case ct.Type != ContainerResponse:
			return Response{}, sink.n > 0, fail(protocolError("%v container on the bulk IN endpoint", ct.Type))
		}
		if ct.TransactionID != tid {
			if isStale(ct.TransactionID, tid) && stale < maxStaleResponses {
				stale++ // the answer to an earlier, abandoned transaction
				continue
			}
			// Some devices (Leica) answer CloseSession with 0.
			if !(op.Code == OpCloseSession && ct.TransactionID == 0) {
				return Response{}, sink.n > 0, fail(protocolError("response for transaction %d, expected %d", ct.TransactionID, tid))
			}
		}
		resp := Response{Code: ResponseCode(ct.Code), TransactionID: ct.TransactionID, Params: ct.Params}
		if resp.Code != RespOK {
			return resp, sink.n > 0, &ResponseError{Op: op, Code: resp.Code, Params: resp.Params, Vendor: c.Vendor()}
		}
		return resp, sink.n > 0, nil
	}
}

// isStale reports whether transaction got came before want.
func isStale(got, want uint32) bool { return got < want }

// newTID returns the transaction ID for the next operation: 0 outside a
// session and for OpenSession, then 1, 2, … skipping 0 and 0xFFFFFFFF.
func (c *Conn) newTID(op OpCode) uint32 {
	if c.sessionID == 0 || op == OpOpenSession {
		return 0
	}
	tid := c.nextTID
	c.nextTID++
	if c.nextTID == 0xFFFFFFFF {
		c.nextTID = 1
	}
	return tid
}

// OpenSession opens session id (non-zero; cameras expect 1). If the device
// answers SessionAlreadyOpen or InvalidTransactionID, or the transaction
// fails on the wire, it sends a device Reset and tries again, up to
// Options.OpenRetries tries in all.
func (c *Conn) OpenSession(ctx context.Context, id uint32) error {
	op := Operation{Code: OpOpenSession, Params: []uint32{id}}
	if id == 0 {
		return c.opError(op, errors.New("session ID 0 is reserved"))
	}
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	c.mu.Lock()
	c.sessionID = 0
	c.mu.Unlock()
	for try := 1; ; try++ {
		_, err := c.Do(ctx, op, nil, nil)
		if err == nil {
			c.mu.Lock()
			c.sessionID = id
			c.nextTID = 1
			c.mu.Unlock()
			return nil
		}
		var oe *OpError
		retry := IsResponse(err, RespSessionAlreadyOpen) ||
			IsResponse(err, RespInvalidTransactionID) ||
			errors.As(err, &oe) && !errors.Is(err, ErrNoDevice) && ctx.Err() == nil
		if !retry || try >= c.opts.OpenRetries {
			return err
		}
		c.mu.Lock()
		rerr := c.t.Reset(ctx)
		if rerr == nil {
			c.broken = nil // the device is idle again
			c.in.discard()
		}
		c.mu.Unlock()
		if rerr != nil {
			return c.opError(op, fmt.Errorf("device reset after %v: %w", err, rerr))
		}
	}
}

// CloseSession closes the open session. The Conn considers the session
// closed even if the device answers with an error.
func (c *Conn) CloseSession(ctx context.Context) error {
	_, err := c.Do(ctx, Operation{Code: OpCloseSession}, nil, nil)
	c.mu.Lock()
	c.sessionID = 0
	c.mu.Unlock()
	return err
}

// Close closes the session, if one is open, and the transport. Some Canon
// bodies (5D IV, 80D, EOS R…) misbehave after CloseSession; to skip it, call
// the transport's Close directly.
func (c *Conn) Close(ctx context.Context) error {
	var err error
	if c.SessionID() != 0 {
		err = c.CloseSession(ctx)
	}
	return errors.Join(err, c.t.Close())
}

// Recover brings the connection back in step with the device after a
// failed transaction: it sends a Cancel request for the last transaction
// (ignored by devices that do not implement it), discards whatever the
// device still sends on the bulk IN endpoint, and polls Get Device Status
// until the device reports OK. Do calls it before the next transaction
// after a failure; if it fails too, reset the device or re-open it.
func (c *Conn) Recover(ctx context.Context) error {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.recover(ctx)
}

// downloads reports whether op's data phase is (part of) an object, read
// in large transfers.
func downloads(op OpCode) bool {
	switch op {
	case OpGetObject, OpGetPartialObject, OpEOSGetPartialObject, OpEOSGetPartialObjectEx:
		return true
	}
	return false
}

// maxDrainTransfers bounds the transfers discarded while recovering.
const maxDrainTransfers = 1024

// maxStatusPolls bounds the Get Device Status requests while recovering.
const maxStatusPolls = 20

func (c *Conn) recover(ctx context.Context) error {
	c.in.discard()
	if err := c.t.Cancel(ctx, c.lastTID); err != nil && !errors.Is(err, ErrUnsupported) {
		if errors.Is(err, ErrNoDevice) || ctx.Err() != nil {
			return fmt.Errorf("cancel: %w", err)
		}
		// A stalled control pipe or a device without Cancel: go on, the
		// drain and the status poll will tell.
	}
	// What is left may be most of an object: drain it in large transfers.
	c.in.download(true)
	defer c.in.download(false)
	for i := 0; i < maxDrainTransfers; i++ {
		dctx, cancel := context.WithTimeout(ctx, c.opts.DrainTimeout)
		err := c.in.receive(dctx)
		cancel()
		c.in.discard()
		if ctx.Err() != nil {
			return fmt.Errorf("drain: %w", ctx.Err())
		}
		if errors.Is(err, ErrNoDevice) {
			return fmt.Errorf("drain: %w", err)
		}
		if err != nil {
			break // nothing more arrived (or the endpoint stalled: see Status)
		}
	}
	for i := 0; ; i++ {
		code, _, err := c.t.Status(ctx)
		if errors.Is(err, ErrUnsupported) || err == nil && code == RespOK {
			break
		}
		if err != nil {
			return fmt.Errorf("device status: %w", err)
		}
		if i >= maxStatusPolls {
			return fmt.Errorf("device status still %v", code)
		}
		t := time.NewTimer(c.opts.BusyBackoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("device status %v: %w", code, ctx.Err())
		case <-t.C:
		}
	}
	c.broken = nil
	return nil
}

// eventBufSize is the size of interrupt IN transfers; a multiple of every
// interrupt max packet size.
const eventBufSize = 512

// ReadEvent waits for the next event on the interrupt endpoint, until ctx
// is done (or Options.Timeout, if ctx has no deadline). Events that arrive
// together are returned one per call; an event split over several
// transfers is reassembled. Only one goroutine may call ReadEvent at a
// time. Canon EOS and Nikon DSLRs report most events by polled operations
// instead (EOSGetEvent, NikonGetEvent).
func (c *Conn) ReadEvent(ctx context.Context) (Event, error) {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	c.evMu.Lock()
	defer c.evMu.Unlock()
	const maxEvent = HeaderSize + 4*MaxEventParams
	var buf [eventBufSize]byte
	for {
		if len(c.evBuf) >= HeaderSize {
			n := le32(c.evBuf)
			if n < HeaderSize || n > maxEvent {
				c.evBuf = nil
				return Event{}, fmt.Errorf("ptp: read event: %w", protocolError("event container length %d", n))
			}
			if uint32(len(c.evBuf)) >= n {
				b := c.evBuf[:n]
				c.evBuf = c.evBuf[n:]
				if len(c.evBuf) == 0 {
					c.evBuf = nil
				}
				ev, err := DecodeEvent(b)
				if err != nil {
					return Event{}, err
				}
				return ev, nil
			}
		}
		n, err := c.t.Interrupt(ctx, buf[:])
		if n > 0 && n <= len(buf) {
			c.evBuf = append(c.evBuf, buf[:n]...)
		}
		if err != nil {
			return Event{}, fmt.Errorf("ptp: read event: %w", err)
		}
	}
}
