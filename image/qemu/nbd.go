package qemu

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
)

// The server side of the NBD protocol, as much of it as QEMU's client
// needs: the fixed newstyle handshake with NBD_OPT_GO (and the older
// NBD_OPT_EXPORT_NAME), simple replies, and read, write, flush and
// disconnect. Trim, write-zeroes, FUA and structured replies are not
// offered, so QEMU emulates them with writes and flushes, which the cache
// then sees. Numbers are from the NBD protocol description (nbd's
// doc/proto.md).
const (
	nbdMagic         = 0x4e42444d41474943 // "NBDMAGIC"
	nbdOptMagic      = 0x49484156454f5054 // "IHAVEOPT"
	nbdRepMagic      = 0x0003e889045565a9
	nbdRequestMagic  = 0x25609513
	nbdReplyMagic    = 0x67446698
	nbdFlagFixed     = 1 << 0 // handshake: fixed newstyle
	nbdFlagNoZeroes  = 1 << 1 // handshake: no 124 zero bytes after EXPORT_NAME
	nbdFlagHasFlags  = 1 << 0 // transmission flags
	nbdFlagSendFlush = 1 << 2

	nbdOptExportName = 1
	nbdOptAbort      = 2
	nbdOptGo         = 7
	nbdRepAck        = 1
	nbdRepInfo       = 3
	nbdRepErrUnsup   = 1<<31 | 1
	nbdInfoExport    = 0
	nbdInfoBlockSize = 3

	nbdCmdRead  = 0
	nbdCmdWrite = 1
	nbdCmdDisc  = 2
	nbdCmdFlush = 3

	nbdEIO    = 5
	nbdEINVAL = 22

	// nbdMaxRequest bounds one read or write (QEMU asks for at most 32 MiB).
	nbdMaxRequest = 32 << 20
)

// serve runs one NBD connection until the client disconnects or fails.
func (c *WriteCache) serve(conn net.Conn) error {
	r := bufio.NewReader(conn)
	w := bufio.NewWriter(conn)
	if err := c.handshake(r, w); err != nil {
		return fmt.Errorf("nbd handshake: %w", err)
	}
	var hdr [28]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return err
		}
		if binary.BigEndian.Uint32(hdr[0:]) != nbdRequestMagic {
			return errors.New("nbd: bad request magic")
		}
		typ := binary.BigEndian.Uint16(hdr[6:])
		handle := hdr[8:16]
		off := int64(binary.BigEndian.Uint64(hdr[16:]))
		n := binary.BigEndian.Uint32(hdr[24:])
		var data []byte
		errno := uint32(0)
		valid := off >= 0 && off+int64(n) <= c.size && n <= nbdMaxRequest
		switch typ {
		case nbdCmdRead:
			if !valid {
				errno = nbdEINVAL
				break
			}
			var err error
			if data, err = c.read(off, int(n)); err != nil {
				errno = nbdEIO
			}
		case nbdCmdWrite:
			if n > nbdMaxRequest {
				return fmt.Errorf("nbd: write of %d bytes", n)
			}
			buf := make([]byte, n)
			if _, err := io.ReadFull(r, buf); err != nil {
				return err
			}
			if !valid {
				errno = nbdEINVAL
			} else if err := c.write(off, buf); err != nil {
				errno = nbdEIO
			}
		case nbdCmdFlush:
			if err := c.flush(); err != nil {
				errno = nbdEIO
			}
		case nbdCmdDisc:
			return nil
		default:
			errno = nbdEINVAL
		}
		var rep [16]byte
		binary.BigEndian.PutUint32(rep[0:], nbdReplyMagic)
		binary.BigEndian.PutUint32(rep[4:], errno)
		copy(rep[8:], handle)
		w.Write(rep[:])
		if errno == 0 {
			w.Write(data)
		}
		if err := w.Flush(); err != nil {
			return err
		}
	}
}

// handshake negotiates an export (any name: there is one disk).
func (c *WriteCache) handshake(r *bufio.Reader, w *bufio.Writer) error {
	be := binary.BigEndian
	var b []byte
	b = be.AppendUint64(b, nbdMagic)
	b = be.AppendUint64(b, nbdOptMagic)
	b = be.AppendUint16(b, nbdFlagFixed|nbdFlagNoZeroes)
	w.Write(b)
	if err := w.Flush(); err != nil {
		return err
	}
	var cflags [4]byte
	if _, err := io.ReadFull(r, cflags[:]); err != nil {
		return err
	}
	noZeroes := be.Uint32(cflags[:])&nbdFlagNoZeroes != 0
	tflags := uint16(nbdFlagHasFlags | nbdFlagSendFlush)
	reply := func(opt, typ uint32, data []byte) error {
		var h []byte
		h = be.AppendUint64(h, nbdRepMagic)
		h = be.AppendUint32(h, opt)
		h = be.AppendUint32(h, typ)
		h = be.AppendUint32(h, uint32(len(data)))
		w.Write(h)
		w.Write(data)
		return w.Flush()
	}
	for {
		var hdr [16]byte
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return err
		}
		if be.Uint64(hdr[0:]) != nbdOptMagic {
			return errors.New("bad option magic")
		}
		opt, n := be.Uint32(hdr[8:]), be.Uint32(hdr[12:])
		if n > 4096 {
			return fmt.Errorf("option %d of %d bytes", opt, n)
		}
		data := make([]byte, n)
		if _, err := io.ReadFull(r, data); err != nil {
			return err
		}
		switch opt {
		case nbdOptExportName:
			var b []byte
			b = be.AppendUint64(b, uint64(c.size))
			b = be.AppendUint16(b, tflags)
			if !noZeroes {
				b = append(b, make([]byte, 124)...)
			}
			w.Write(b)
			return w.Flush()
		case nbdOptGo:
			var info []byte
			info = be.AppendUint16(info, nbdInfoExport)
			info = be.AppendUint64(info, uint64(c.size))
			info = be.AppendUint16(info, tflags)
			if err := reply(opt, nbdRepInfo, info); err != nil {
				return err
			}
			// Sector-sized requests at least, pages preferred.
			var bs []byte
			bs = be.AppendUint16(bs, nbdInfoBlockSize)
			bs = be.AppendUint32(bs, 512)
			bs = be.AppendUint32(bs, pageSize)
			bs = be.AppendUint32(bs, nbdMaxRequest)
			if err := reply(opt, nbdRepInfo, bs); err != nil {
				return err
			}
			return reply(opt, nbdRepAck, nil)
		case nbdOptAbort:
			reply(opt, nbdRepAck, nil)
			return errors.New("client aborted")
		default:
			if err := reply(opt, nbdRepErrUnsup, nil); err != nil {
				return err
			}
		}
	}
}
