package ptp

import (
	"context"
	"errors"
)

// Transport moves bytes between the host and one PTP device over the three
// endpoints of a USB Still Image interface (bulk OUT, bulk IN, interrupt
// IN) and its class-specific control requests. It knows nothing of
// containers or transactions: that is Conn's job. A gousb implementation
// drives a real camera; a simulator implements it in memory for tests.
//
// Contract, for every method that takes a context:
//
//   - It returns no later than shortly after ctx is done, with an error
//     that wraps ctx.Err() (gousb: ReadContext/WriteContext cancel the
//     transfer; never use Read/Write, which wait forever, and set
//     Device.ControlTimeout for control requests).
//   - When the device is gone (unplugged, powered off, re-enumerated) it
//     returns an error wrapping ErrNoDevice, so that callers know to
//     re-open the device rather than retry.
//   - After Close (Conn.Close calls it) every call returns an error
//     wrapping ErrClosed: whoever holds the transport must find the
//     device again rather than use it.
//   - Other failures (a stalled endpoint, an I/O error) are returned as
//     they are; Conn treats any error in the middle of a transaction as
//     loss of step and recovers with Cancel, draining and Status.
//
// Conn calls Send, Receive, Cancel, Reset and Status from one goroutine at a
// time; Interrupt may be called concurrently with them, from one other
// goroutine.
type Transport interface {
	// Send writes p to the bulk OUT endpoint as one bulk transfer. An empty
	// p sends a zero-length packet. The device sees the bytes as packets
	// of MaxPacketSize; Conn makes every Send of a container but the last
	// a multiple of MaxPacketSize, and sends the zero-length packet itself
	// when a data container ends on a packet boundary, so Send must not add
	// one of its own.
	Send(ctx context.Context, p []byte) error

	// Receive reads one bulk IN transfer into p and returns the number of
	// bytes read. len(p) is a non-zero multiple of MaxPacketSize and at
	// least 512. The transfer ends when p is full (n == len(p): more may
	// follow) or with a short packet (n < len(p); n == 0 for a zero-length
	// packet). A transfer may hold the end of one container and the start
	// of the next; Conn splits containers by their length. If the device
	// has nothing to send, Receive waits (the device NAKs) until ctx is
	// done; with a partial transfer it returns n and the error.
	Receive(ctx context.Context, p []byte) (int, error)

	// Interrupt reads one transfer from the interrupt IN endpoint into p,
	// waiting until an event arrives or ctx is done. An event container
	// may arrive in pieces over several calls; Conn reassembles it.
	Interrupt(ctx context.Context, p []byte) (int, error)

	// MaxPacketSize returns wMaxPacketSize of the bulk endpoints (64 at full
	// speed, 512 at high speed, 1024 at SuperSpeed).
	MaxPacketSize() int

	// Cancel sends the Cancel Request (class request 0x64: u16 0x4001,
	// u32 tid) for transaction tid. The device then drops the transaction's
	// pending data and response and may stall the bulk endpoints until
	// Status reports OK.
	Cancel(ctx context.Context, tid uint32) error

	// Reset sends the Device Reset Request (class request 0x66), which
	// returns the device to idle and closes its session.
	Reset(ctx context.Context) error

	// Status sends the Get Device Status request (class request 0x67) and
	// returns the device's status code (RespOK, RespDeviceBusy,
	// RespTransactionCancelled…) and its parameters (the addresses of
	// halted endpoints). An implementation that finds halted endpoints
	// should clear them before returning. A reply shorter than 4 bytes (as
	// from QEMU) means the request is not supported: return
	// ErrUnsupported.
	Status(ctx context.Context) (code ResponseCode, params []uint32, err error)

	// Close releases the interface and the device. Calls in progress
	// return errors; Close does not talk PTP (see Conn.Close).
	Close() error
}

// BufferedReceiver is a Transport that can read bulk IN transfers into a
// buffer of its own and lend it. Conn downloads objects through it when it
// can: over libusb the buffer is the kernel's DMA memory, and an object's
// bytes are then copied once, by the writer that stores them.
type BufferedReceiver interface {
	Transport
	// ReceiveBuffered reads one bulk IN transfer as Receive does, into
	// the transport's buffer of size bytes (a multiple of MaxPacketSize),
	// and returns the bytes read: valid until the next ReceiveBuffered
	// or ReleaseBuffer, and not to be written to.
	ReceiveBuffered(ctx context.Context, size int) ([]byte, error)
	// ReleaseBuffer frees the buffer once a download is over.
	ReleaseBuffer()
}

// Errors a Transport returns, wrapped, so that Conn and its callers can
// tell the cases apart with errors.Is.
var (
	// ErrNoDevice means the device is gone; re-open it.
	ErrNoDevice = errors.New("no device")
	// ErrClosed means the transport was closed; open the device again.
	ErrClosed = errors.New("transport closed")
	// ErrUnsupported means the device does not implement a class request.
	ErrUnsupported = errors.New("request not supported by the device")
)
