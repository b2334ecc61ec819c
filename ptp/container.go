package ptp

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
)

// ContainerType is the type of a USB container.
type ContainerType uint16

// Container types.
const (
	ContainerCommand  ContainerType = 1
	ContainerData     ContainerType = 2
	ContainerResponse ContainerType = 3
	ContainerEvent    ContainerType = 4
)

// String returns the container type's name.
func (t ContainerType) String() string {
	switch t {
	case ContainerCommand:
		return "Command"
	case ContainerData:
		return "Data"
	case ContainerResponse:
		return "Response"
	case ContainerEvent:
		return "Event"
	}
	return fmt.Sprintf("ContainerType(%d)", uint16(t))
}

// Sizes and limits of USB containers.
const (
	// HeaderSize is the size of a container header: u32 length, u16 type,
	// u16 code, u32 transaction ID.
	HeaderSize = 12
	// MaxParams is the largest number of parameters of a command or
	// response container.
	MaxParams = 5
	// MaxEventParams is the largest number of parameters of an event.
	MaxEventParams = 3
	// UnknownLength in a data container's length field means "more than
	// 4 GiB: read until a short packet".
	UnknownLength = 0xFFFFFFFF
)

// Container is one USB container. Command, response and event containers
// carry Params; a data container carries Data.
type Container struct {
	Type          ContainerType
	Code          uint16 // OpCode, ResponseCode or EventCode
	TransactionID uint32
	Params        []uint32
	Data          []byte
}

// Length returns the container's length field.
func (c *Container) Length() int {
	if c.Type == ContainerData {
		return HeaderSize + len(c.Data)
	}
	return HeaderSize + 4*len(c.Params)
}

// AppendBinary appends the encoded container to b. It fails on too many
// parameters for the container type, or data too long for a length field.
func (c *Container) AppendBinary(b []byte) ([]byte, error) {
	switch c.Type {
	case ContainerCommand, ContainerResponse, ContainerEvent:
		if max := maxParams(c.Type); len(c.Params) > max {
			return b, fmt.Errorf("ptp: %v container with %d parameters, at most %d", c.Type, len(c.Params), max)
		}
		if len(c.Data) != 0 {
			return b, fmt.Errorf("ptp: %v container with data", c.Type)
		}
	case ContainerData:
		if len(c.Params) != 0 {
			return b, errors.New("ptp: Data container with parameters")
		}
		if uint64(len(c.Data)) >= UnknownLength-HeaderSize {
			return b, fmt.Errorf("ptp: Data container of %d bytes is too long", len(c.Data))
		}
	default:
		return b, fmt.Errorf("ptp: cannot encode container type %d", uint16(c.Type))
	}
	b = appendHeader(b, uint32(c.Length()), c.Type, c.Code, c.TransactionID)
	for _, p := range c.Params {
		b = binary.LittleEndian.AppendUint32(b, p)
	}
	return append(b, c.Data...), nil
}

// MarshalBinary encodes the container.
func (c *Container) MarshalBinary() ([]byte, error) { return c.AppendBinary(nil) }

func maxParams(t ContainerType) int {
	if t == ContainerEvent {
		return MaxEventParams
	}
	return MaxParams
}

func appendHeader(b []byte, length uint32, t ContainerType, code uint16, tid uint32) []byte {
	b = binary.LittleEndian.AppendUint32(b, length)
	b = binary.LittleEndian.AppendUint16(b, uint16(t))
	b = binary.LittleEndian.AppendUint16(b, code)
	return binary.LittleEndian.AppendUint32(b, tid)
}

// header is a decoded container header.
type header struct {
	length uint32
	typ    ContainerType
	code   uint16
	tid    uint32
}

func parseHeader(p []byte) header {
	return header{
		length: le32(p),
		typ:    ContainerType(le16(p[4:])),
		code:   le16(p[6:]),
		tid:    le32(p[8:]),
	}
}

// check validates the header's length against its type.
func (h header) check() error {
	switch h.typ {
	case ContainerData:
		if h.length < HeaderSize {
			return containerError("Length", 0, fmt.Errorf("%d is shorter than the header", h.length))
		}
	case ContainerCommand, ContainerResponse, ContainerEvent:
		n := int64(h.length) - HeaderSize
		if n < 0 || n%4 != 0 || n/4 > int64(maxParams(h.typ)) {
			return containerError("Length", 0, fmt.Errorf("%d does not fit a %v container", h.length, h.typ))
		}
	default:
		return containerError("Type", 4, fmt.Errorf("unknown container type %d", uint16(h.typ)))
	}
	return nil
}

func containerError(field string, off int, err error) error {
	return &DecodeError{Dataset: "Container", Field: field, Offset: off, Err: err}
}

// ParseContainer decodes the container at the start of b and returns it
// with the number of bytes it took; bytes after it (a response glued to a
// data container, say) are left for the next call. A data container of
// UnknownLength takes the rest of b.
func ParseContainer(b []byte) (Container, int, error) {
	if len(b) < HeaderSize {
		return Container{}, 0, containerError("Header", 0, fmt.Errorf("%w: need %d bytes, have %d", errTruncated, HeaderSize, len(b)))
	}
	h := parseHeader(b)
	if err := h.check(); err != nil {
		return Container{}, 0, err
	}
	n := int(h.length)
	if h.typ == ContainerData && h.length == UnknownLength {
		n = len(b)
	}
	if uint64(h.length) > uint64(len(b)) && h.length != UnknownLength {
		return Container{}, 0, containerError("Payload", HeaderSize, fmt.Errorf("%w: length %d, have %d bytes", errTruncated, h.length, len(b)))
	}
	c := Container{Type: h.typ, Code: h.code, TransactionID: h.tid}
	if h.typ == ContainerData {
		c.Data = b[HeaderSize:n:n]
	} else {
		for off := HeaderSize; off < n; off += 4 {
			c.Params = append(c.Params, le32(b[off:]))
		}
	}
	return c, n, nil
}

// Event is an event from the interrupt endpoint.
type Event struct {
	Code          EventCode
	TransactionID uint32 // 0 or the transaction the event belongs to
	Params        []uint32
}

// String returns e.g. "ObjectAdded(0x00000012)".
func (e Event) String() string { return e.Code.String() + formatParams(e.Params) }

// DecodeEvent decodes an event container as read from the interrupt
// endpoint; bytes after the container's length are ignored.
func DecodeEvent(b []byte) (Event, error) {
	c, _, err := ParseContainer(b)
	if err != nil {
		return Event{}, err
	}
	if c.Type != ContainerEvent {
		return Event{}, containerError("Type", 4, fmt.Errorf("%v container on the interrupt endpoint", c.Type))
	}
	return Event{Code: EventCode(c.Code), TransactionID: c.TransactionID, Params: c.Params}, nil
}

// AppendBinary appends the event as an event container to b.
func (e Event) AppendBinary(b []byte) ([]byte, error) {
	c := Container{Type: ContainerEvent, Code: uint16(e.Code), TransactionID: e.TransactionID, Params: e.Params}
	return c.AppendBinary(b)
}

func formatParams(p []uint32) string {
	b := []byte{'('}
	for i, v := range p {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = fmt.Appendf(b, "%#x", v)
	}
	return string(append(b, ')'))
}

// ErrProtocol is wrapped by errors for a container stream that does not
// follow PTP: a bad header, a short packet in the middle of a container, a
// container of the wrong type. The connection is then out of step with the
// device and must be recovered before the next transaction.
var ErrProtocol = errors.New("protocol error")

func protocolError(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrProtocol, fmt.Sprintf(format, args...))
}

// maxStrayZLPs bounds the zero-length packets skipped before a container.
const maxStrayZLPs = 8

// inStream reads containers from the bulk IN endpoint by their length,
// across USB transfers that may split a container (a header in its own
// packet) or hold the start of the next one (a response glued to data).
//
// Transfers are read into a small buffer, except while an object is
// downloaded (bulk): then into a large one, so that a chunk of an object
// arrives in one transfer, not dozens. The large buffer is the transport's
// own where it lends one (a BufferedReceiver), else pooled; either way it
// is given back after the download, so that a camera left open between
// captures does not hold it.
type inStream struct {
	t       Transport
	lender  BufferedReceiver // t, if it lends buffers
	lent    bool             // pending is in the lender's buffer
	small   []byte           // receive buffer outside downloads
	big     []byte           // receive buffer of a download, nil outside one
	bigs    sync.Pool        // of *[]byte of bigSize
	bigSize int
	bulk    bool   // a download is under way: receive into big
	pending []byte // received bytes not yet consumed (within small or big)
	short   bool   // the transfer in pending ended with a short packet
}

// smallBuffer is the size of transfers outside downloads: commands,
// responses and datasets.
const smallBuffer = 16 << 10

func newInStream(t Transport, size int) *inStream {
	mps := t.MaxPacketSize()
	if mps <= 0 {
		mps = 64
	}
	round := func(n int) int { return (max(n, 512) + mps - 1) / mps * mps }
	size = round(size)
	s := &inStream{t: t, small: make([]byte, round(min(size, smallBuffer))), bigSize: size}
	s.lender, _ = t.(BufferedReceiver)
	return s
}

// download switches the stream to large transfers (on true) for an
// object's data phase, or back (on false), returning the large buffer to
// the pool once nothing pending is left in it.
func (s *inStream) download(on bool) {
	s.bulk = on
	if on || (s.big == nil && !s.lent) {
		return
	}
	if len(s.pending) > len(s.small) {
		return // a device that glued more than a response: keep it
	}
	n := copy(s.small, s.pending)
	s.pending = s.small[:n]
	if s.lent {
		s.lent = false
		s.lender.ReleaseBuffer()
		return
	}
	big := s.big
	s.big = nil
	s.bigs.Put(&big)
}

// buffer returns the buffer for the next transfer.
func (s *inStream) buffer() []byte {
	if !s.bulk || s.bigSize <= len(s.small) {
		return s.small
	}
	if s.big == nil {
		if b, ok := s.bigs.Get().(*[]byte); ok {
			s.big = *b
		} else {
			s.big = make([]byte, s.bigSize)
		}
	}
	return s.big
}

// receive reads one transfer; pending must be empty.
func (s *inStream) receive(ctx context.Context) error {
	if s.lender != nil && s.bulk && s.bigSize > len(s.small) {
		p, err := s.lender.ReceiveBuffered(ctx, s.bigSize)
		if len(p) > s.bigSize {
			return fmt.Errorf("transport returned %d bytes for a %d-byte buffer", len(p), s.bigSize)
		}
		s.pending, s.lent = p, true
		s.short = len(p) < s.bigSize
		if err != nil {
			return fmt.Errorf("receive: %w", err)
		}
		return nil
	}
	if s.lent { // a download's leftovers are consumed: give the buffer back
		s.lent = false
		s.lender.ReleaseBuffer()
	}
	buf := s.buffer()
	n, err := s.t.Receive(ctx, buf)
	if n < 0 || n > len(buf) {
		return fmt.Errorf("transport returned %d bytes for a %d-byte buffer", n, len(buf))
	}
	s.pending = buf[:n]
	s.short = n < len(buf)
	if err != nil {
		return fmt.Errorf("receive: %w", err)
	}
	return nil
}

// discard drops buffered bytes, after a failed transaction.
func (s *inStream) discard() { s.pending = nil }

// read reads the next container. A data container's payload goes to the
// writer that sink returns for its header (as it arrives; nothing is
// buffered; nil discards it) and its Data stays nil; a command, response or
// event container is returned whole. On error the stream is out of step.
func (s *inStream) read(ctx context.Context, sink func(h *Container) io.Writer) (Container, error) {
	var hb [HeaderSize]byte
	got := 0
	zlps := 0
	for got < HeaderSize {
		if len(s.pending) == 0 {
			if err := s.receive(ctx); err != nil {
				return Container{}, err
			}
			if len(s.pending) == 0 {
				if got > 0 {
					return Container{}, protocolError("zero-length packet inside a container header")
				}
				// A leftover zero-length packet ending the previous
				// data phase: skip it.
				if zlps++; zlps > maxStrayZLPs {
					return Container{}, protocolError("%d zero-length packets in a row", zlps)
				}
				continue
			}
		}
		k := copy(hb[got:], s.pending)
		got += k
		s.pending = s.pending[k:]
	}
	h := parseHeader(hb[:])
	if err := h.check(); err != nil {
		return Container{}, protocolError("%s", strings.TrimPrefix(err.Error(), "ptp: "))
	}
	c := Container{Type: h.typ, Code: h.code, TransactionID: h.tid}
	var w io.Writer
	if h.typ == ContainerData && sink != nil {
		w = sink(&c)
	}
	// A short packet normally ends a transfer and so a container; only a
	// header sent in a packet of its own ("split header") may be followed
	// by the rest of the container.
	splitHeader := len(s.pending) == 0 && s.short
	if h.typ == ContainerData && h.length == UnknownLength {
		return c, s.readUntilShort(ctx, w, splitHeader)
	}
	rest := int64(h.length) - HeaderSize
	var pb [4 * MaxParams]byte
	pgot := 0
	for rest > 0 {
		if len(s.pending) == 0 {
			if s.short && !splitHeader {
				return c, protocolError("%v container 0x%04X cut short: %d of %d bytes missing", h.typ, h.code, rest, h.length)
			}
			splitHeader = false
			if err := s.receive(ctx); err != nil {
				return c, err
			}
			if len(s.pending) == 0 {
				return c, protocolError("%v container 0x%04X cut short by a zero-length packet: %d of %d bytes missing", h.typ, h.code, rest, h.length)
			}
		}
		k := int64(len(s.pending))
		if k > rest {
			k = rest
		}
		p := s.pending[:k]
		s.pending = s.pending[k:]
		rest -= k
		if h.typ != ContainerData {
			pgot += copy(pb[pgot:], p)
			continue
		}
		if w != nil {
			if _, err := w.Write(p); err != nil {
				return c, &sinkError{err}
			}
		}
	}
	for off := 0; off < pgot; off += 4 {
		c.Params = append(c.Params, le32(pb[off:]))
	}
	return c, nil
}

// readUntilShort copies a data payload of unknown length to w: it ends with
// the first short packet.
func (s *inStream) readUntilShort(ctx context.Context, w io.Writer, splitHeader bool) error {
	for {
		if len(s.pending) > 0 && w != nil {
			if _, err := w.Write(s.pending); err != nil {
				s.pending = nil
				return &sinkError{err}
			}
		}
		s.pending = nil
		if s.short && !splitHeader {
			return nil
		}
		splitHeader = false
		if err := s.receive(ctx); err != nil {
			return err
		}
	}
}

// sinkError wraps an error from the caller's io.Writer, so that it is not
// mistaken for a transport failure.
type sinkError struct{ err error }

func (e *sinkError) Error() string { return "writing data: " + e.err.Error() }
func (e *sinkError) Unwrap() error { return e.err }

// sendChunk is the size of the bulk OUT transfers a data phase is cut into;
// a multiple of every USB max packet size, so that only the last transfer
// can end with a short packet.
const sendChunk = 64 << 10

// sendCommand writes a command container.
func sendCommand(ctx context.Context, t Transport, op Operation, tid uint32) error {
	c := Container{Type: ContainerCommand, Code: uint16(op.Code), TransactionID: tid, Params: op.Params}
	b, err := c.MarshalBinary()
	if err != nil {
		return err
	}
	if err := t.Send(ctx, b); err != nil {
		return fmt.Errorf("send command: %w", err)
	}
	return nil
}

// sendData writes a data container holding data, in transfers of at most
// sendChunk bytes, then a zero-length packet if the container ends on a
// packet boundary (otherwise the device would wait for more).
func sendData(ctx context.Context, t Transport, code OpCode, tid uint32, data []byte) error {
	if uint64(len(data)) >= UnknownLength-HeaderSize {
		return fmt.Errorf("%d bytes of data are too many for a container", len(data))
	}
	total := HeaderSize + len(data)
	first := min(total, sendChunk)
	b := make([]byte, 0, first)
	b = appendHeader(b, uint32(total), ContainerData, uint16(code), tid)
	b = append(b, data[:first-HeaderSize]...)
	if err := t.Send(ctx, b); err != nil {
		return fmt.Errorf("send data: %w", err)
	}
	for rest := data[first-HeaderSize:]; len(rest) > 0; {
		k := min(len(rest), sendChunk)
		if err := t.Send(ctx, rest[:k]); err != nil {
			return fmt.Errorf("send data: %w", err)
		}
		rest = rest[k:]
	}
	if mps := t.MaxPacketSize(); mps > 0 && total%mps == 0 {
		if err := t.Send(ctx, nil); err != nil {
			return fmt.Errorf("send zero-length packet: %w", err)
		}
	}
	return nil
}
