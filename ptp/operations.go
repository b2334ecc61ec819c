package ptp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
)

// maxDatasetSize bounds the data phase of an operation whose answer is
// decoded in memory (datasets, handle lists, property values).
const maxDatasetSize = 16 << 20

// errTooLarge is returned when a dataset exceeds maxDatasetSize.
var errTooLarge = errors.New("data phase too large")

// limitedBuffer collects at most max bytes.
type limitedBuffer struct {
	bytes.Buffer
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if b.Len()+len(p) > b.max {
		return 0, fmt.Errorf("%w: more than %d bytes", errTooLarge, b.max)
	}
	return b.Buffer.Write(p)
}

// get runs op with an IN data phase collected in memory.
func (c *Conn) get(ctx context.Context, op Operation) ([]byte, Response, error) {
	buf := &limitedBuffer{max: maxDatasetSize}
	resp, err := c.Do(ctx, op, nil, buf)
	if err != nil {
		return nil, resp, err
	}
	return buf.Bytes(), resp, nil
}

// decode decodes data into v, naming op in the error.
func (c *Conn) decode(op Operation, data []byte, v interface{ UnmarshalBinary([]byte) error }) error {
	if err := v.UnmarshalBinary(data); err != nil {
		return c.opError(op, err)
	}
	return nil
}

// GetDeviceInfo reads the device's DeviceInfo; it is the one operation
// allowed outside a session. It also sets the Conn's vendor (see
// DeviceInfo.Vendor and Options.USBVendorID).
func (c *Conn) GetDeviceInfo(ctx context.Context) (*DeviceInfo, error) {
	op := Operation{Code: OpGetDeviceInfo}
	data, _, err := c.get(ctx, op)
	if err != nil {
		return nil, err
	}
	var di DeviceInfo
	if err := c.decode(op, data, &di); err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.info = &di
	c.mu.Unlock()
	c.SetVendor(di.Vendor(c.opts.USBVendorID))
	return &di, nil
}

// GetStorageIDs lists the device's stores. A StorageID whose low 16 bits
// are 0 stands for an empty slot (no card inserted).
func (c *Conn) GetStorageIDs(ctx context.Context) ([]uint32, error) {
	return c.getArray(ctx, Operation{Code: OpGetStorageIDs})
}

func (c *Conn) getArray(ctx context.Context, op Operation) ([]uint32, error) {
	data, _, err := c.get(ctx, op)
	if err != nil {
		return nil, err
	}
	a, err := DecodeUint32Array(data)
	if err != nil {
		return nil, c.opError(op, err)
	}
	return a, nil
}

// GetStorageInfo reads the StorageInfo of store id.
func (c *Conn) GetStorageInfo(ctx context.Context, id uint32) (*StorageInfo, error) {
	op := Operation{Code: OpGetStorageInfo, Params: []uint32{id}}
	data, _, err := c.get(ctx, op)
	if err != nil {
		return nil, err
	}
	var si StorageInfo
	if err := c.decode(op, data, &si); err != nil {
		return nil, err
	}
	return &si, nil
}

// Arguments of GetObjectHandles and GetNumObjects.
const (
	AllStorages = 0xFFFFFFFF // storage: every store
	AllFormats  = 0          // format: every format
	AllImages   = 0xFFFFFFFF // format: every image format
	AllObjects  = 0          // parent: every object of the store, flat
	RootObjects = 0xFFFFFFFF // parent: objects in the root only
	ToEnd       = 0xFFFFFFFF // GetPartialObject max: up to the end
)

// GetNumObjects counts the objects of storage with format under parent
// (see GetObjectHandles for the special values).
func (c *Conn) GetNumObjects(ctx context.Context, storage, format, parent uint32) (uint32, error) {
	resp, err := c.Do(ctx, Operation{Code: OpGetNumObjects, Params: []uint32{storage, format, parent}}, nil, nil)
	if err != nil {
		return 0, err
	}
	if len(resp.Params) < 1 {
		return 0, c.opError(Operation{Code: OpGetNumObjects}, protocolError("response without a count"))
	}
	return resp.Params[0], nil
}

// GetObjectHandles lists the objects of storage (AllStorages for every
// store) of format (AllFormats, AllImages, or a FormatCode; devices may
// refuse a filter with SpecificationByFormatUnsupported) under parent (AllObjects
// for the whole store flat, RootObjects for the root, or an association's
// handle for its children). Devices differ: QEMU lists only the root for
// both AllObjects and RootObjects.
func (c *Conn) GetObjectHandles(ctx context.Context, storage, format, parent uint32) ([]uint32, error) {
	return c.getArray(ctx, Operation{Code: OpGetObjectHandles, Params: []uint32{storage, format, parent}})
}

// GetObjectInfo reads the ObjectInfo of object h.
func (c *Conn) GetObjectInfo(ctx context.Context, h uint32) (*ObjectInfo, error) {
	op := Operation{Code: OpGetObjectInfo, Params: []uint32{h}}
	data, _, err := c.get(ctx, op)
	if err != nil {
		return nil, err
	}
	var oi ObjectInfo
	if err := c.decode(op, data, &oi); err != nil {
		return nil, err
	}
	return &oi, nil
}

// GetObject copies object h to w as it arrives.
func (c *Conn) GetObject(ctx context.Context, h uint32, w io.Writer) error {
	_, err := c.Do(ctx, Operation{Code: OpGetObject, Params: []uint32{h}}, nil, w)
	return err
}

// GetThumb copies the thumbnail of object h to w.
func (c *Conn) GetThumb(ctx context.Context, h uint32, w io.Writer) error {
	_, err := c.Do(ctx, Operation{Code: OpGetThumb, Params: []uint32{h}}, nil, w)
	return err
}

// GetPartialObject copies at most max bytes (ToEnd: to the end) of
// object h from offset to w, and returns how many bytes the device says it
// sent. Large objects are best read in 1 MiB pieces (some Canon bodies
// fail on larger ones).
func (c *Conn) GetPartialObject(ctx context.Context, h, offset, max uint32, w io.Writer) (uint32, error) {
	op := Operation{Code: OpGetPartialObject, Params: []uint32{h, offset, max}}
	cw := &countingWriter{w: w}
	resp, err := c.Do(ctx, op, nil, cw)
	if err != nil {
		return 0, err
	}
	if len(resp.Params) > 0 {
		return resp.Params[0], nil
	}
	return uint32(cw.n), nil
}

// DeleteObject deletes object h (with its children, for an association).
// Handle 0xFFFFFFFF deletes every object; format then restricts the delete
// to one format (0: any).
func (c *Conn) DeleteObject(ctx context.Context, h uint32, format FormatCode) error {
	params := []uint32{h}
	if format != 0 {
		params = append(params, uint32(format))
	}
	_, err := c.Do(ctx, Operation{Code: OpDeleteObject, Params: params}, nil, nil)
	return err
}

// InitiateCapture starts a capture to storage (0: the device chooses) in
// format (0: the default). It returns when the device accepts the request;
// ObjectAdded and CaptureComplete events report the result, with this
// transaction's ID. Canon EOS bodies do not support it.
func (c *Conn) InitiateCapture(ctx context.Context, storage uint32, format FormatCode) error {
	_, err := c.Do(ctx, Operation{Code: OpInitiateCapture, Params: []uint32{storage, uint32(format)}}, nil, nil)
	return err
}

// GetDevicePropDesc reads the description of property p: its type,
// current and default values and allowed values.
func (c *Conn) GetDevicePropDesc(ctx context.Context, p PropCode) (*DevicePropDesc, error) {
	op := Operation{Code: OpGetDevicePropDesc, Params: []uint32{uint32(p)}}
	data, _, err := c.get(ctx, op)
	if err != nil {
		return nil, err
	}
	var pd DevicePropDesc
	if err := c.decode(op, data, &pd); err != nil {
		return nil, err
	}
	return &pd, nil
}

// GetDevicePropValue reads the current value of property p, which has
// type t (from its DevicePropDesc). See DecodeValue for the Go types.
func (c *Conn) GetDevicePropValue(ctx context.Context, p PropCode, t DataType) (any, error) {
	op := Operation{Code: OpGetDevicePropValue, Params: []uint32{uint32(p)}}
	data, _, err := c.get(ctx, op)
	if err != nil {
		return nil, err
	}
	v, _, err := DecodeValue(t, data)
	if err != nil {
		return nil, c.opError(op, err)
	}
	return v, nil
}

// SetDevicePropValue sets property p, of type t, to v (of the Go type
// matching t).
func (c *Conn) SetDevicePropValue(ctx context.Context, p PropCode, t DataType, v any) error {
	op := Operation{Code: OpSetDevicePropValue, Params: []uint32{uint32(p)}}
	data, err := AppendValue(nil, t, v)
	if err != nil {
		return c.opError(op, err)
	}
	if data == nil {
		data = []byte{}
	}
	_, err = c.Do(ctx, op, data, nil)
	return err
}
