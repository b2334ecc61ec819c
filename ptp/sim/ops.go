package sim

import (
	"bytes"
	"io"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/lapsebox/lapsebox/ptp"
)

// dataOutOps are the operations with a host-to-device data phase.
var dataOutOps = map[ptp.OpCode]bool{
	ptp.OpSetDevicePropValue: true, ptp.OpSendObjectInfo: true, ptp.OpSendObject: true,
	ptp.OpEOSSetDevicePropValueEx: true,
}

// request is an operation being answered.
type request struct {
	c    ptp.Container
	data []byte // the host's data phase
}

func (r *request) op() ptp.OpCode { return ptp.OpCode(r.c.Code) }

func (r *request) param(i int) uint32 {
	if i < len(r.c.Params) {
		return r.c.Params[i]
	}
	return 0
}

// run answers one operation; d.mu is held.
func (d *Device) run(c ptp.Container, dataOut []byte) error {
	op := ptp.OpCode(c.Code)
	d.ops = append(d.ops, op)
	d.checkSleep()
	if d.asleep {
		return nil // a sleeping camera takes the command and never answers
	}
	if op != ptp.OpOpenSession && op != ptp.OpGetDeviceInfo && d.sessionID != 0 {
		if c.TransactionID != d.wantTID {
			d.violate("%v: transaction %d, want %d", op, c.TransactionID, d.wantTID)
		}
		d.wantTID = c.TransactionID + 1
	}
	r := &request{c: c, data: dataOut}
	f := d.fault(op)
	if f != nil {
		switch f.Kind {
		case Disconnect:
			d.plugged = false
			d.broadcast()
			return d.reachable()
		case Busy:
			d.respond(r, ptp.RespDeviceBusy)
			return nil
		}
	}
	from := len(d.in)
	d.answer(r)
	if f != nil {
		d.damage(f, from, c.TransactionID)
	}
	d.broadcast()
	return nil
}

// answer runs the operation and queues its reply.
func (d *Device) answer(r *request) {
	op := r.op()
	if !d.supports(op) {
		d.respond(r, ptp.RespOperationNotSupported)
		return
	}
	if op != ptp.OpGetDeviceInfo && op != ptp.OpOpenSession && d.sessionID == 0 {
		d.respond(r, ptp.RespSessionNotOpen)
		return
	}
	switch op {
	case ptp.OpGetDeviceInfo:
		b, _ := d.info.MarshalBinary()
		d.dataBytes(r, b)
	case ptp.OpOpenSession:
		switch {
		case r.param(0) == 0:
			d.respond(r, ptp.RespInvalidParameter)
		case d.sessionID != 0:
			d.respond(r, ptp.RespSessionAlreadyOpen, d.sessionID)
		default:
			d.sessionID = r.param(0)
			d.wantTID = 1
			d.lastWake = d.cfg.Now()
			d.respond(r, ptp.RespOK)
		}
	case ptp.OpCloseSession, ptp.OpResetDevice, ptp.OpPowerDown:
		d.closeSession()
		d.respond(r, ptp.RespOK)
	case ptp.OpGetStorageIDs:
		d.dataBytes(r, ptp.AppendUint32Array(nil, []uint32{d.card.id}))
	case ptp.OpGetStorageInfo:
		if r.param(0) != d.card.id && r.param(0) != ptp.AllStorages {
			d.respond(r, ptp.RespInvalidStorageID)
			return
		}
		si := d.card.info()
		b, _ := si.MarshalBinary()
		d.dataBytes(r, b)
	case ptp.OpGetNumObjects, ptp.OpGetObjectHandles:
		hs, code := d.card.list(r.param(0), r.param(1), r.param(2))
		if code != ptp.RespOK {
			d.respond(r, code)
		} else if op == ptp.OpGetNumObjects {
			d.respond(r, ptp.RespOK, uint32(len(hs)))
		} else {
			d.dataBytes(r, ptp.AppendUint32Array(nil, hs))
		}
	case ptp.OpGetObjectInfo:
		o := d.object(r.param(0))
		if o == nil {
			d.respond(r, ptp.RespInvalidObjectHandle)
			return
		}
		oi := o.info(d)
		b, _ := oi.MarshalBinary()
		d.dataBytes(r, b)
	case ptp.OpGetObject:
		o := d.object(r.param(0))
		if o == nil || o.folder {
			d.respond(r, ptp.RespInvalidObjectHandle)
			return
		}
		d.dataReader(r, o.content, 0, o.size)
		d.respond(r, ptp.RespOK)
	case ptp.OpGetPartialObject:
		o := d.object(r.param(0))
		switch {
		case len(r.c.Params) < 3:
			d.respond(r, ptp.RespGeneralError)
		case o == nil || o.folder:
			d.respond(r, ptp.RespInvalidObjectHandle)
		default:
			off := min(int64(r.param(1)), o.size)
			n := min(int64(r.param(2)), o.size-off)
			d.dataReader(r, o.content, off, n)
			d.respond(r, ptp.RespOK, uint32(n))
		}
	case ptp.OpGetThumb:
		d.respond(r, ptp.RespNoThumbnailPresent)
	case ptp.OpDeleteObject:
		d.respond(r, d.deleteObject(r.param(0)))
	case ptp.OpGetDevicePropDesc, ptp.OpGetDevicePropValue, ptp.OpSetDevicePropValue:
		d.stdProp(r)
	case ptp.OpInitiateCapture:
		d.genericCapture(r)
	default:
		switch {
		case d.cfg.Model == CanonEOS600D:
			d.eos.answer(d, r)
		case d.cfg.Model == NikonD7000:
			d.nikon.answer(d, r)
		default:
			d.respond(r, ptp.RespOperationNotSupported)
		}
	}
}

// respond queues a response container.
func (d *Device) respond(r *request, code ptp.ResponseCode, params ...uint32) {
	c := ptp.Container{Type: ptp.ContainerResponse, Code: uint16(code), TransactionID: r.c.TransactionID, Params: params}
	b, _ := c.MarshalBinary()
	d.in = append(d.in, &phase{head: b, stallAt: -1})
}

// dataBytes queues a data phase holding b and an OK response.
func (d *Device) dataBytes(r *request, b []byte) {
	d.dataReader(r, bytes.NewReader(b), 0, int64(len(b)))
	d.respond(r, ptp.RespOK)
}

// dataReader queues a data phase holding n bytes of body from off. The
// caller queues the response.
func (d *Device) dataReader(r *request, body io.ReaderAt, off, n int64) {
	c := ptp.Container{Type: ptp.ContainerData, Code: r.c.Code, TransactionID: r.c.TransactionID}
	head, _ := c.MarshalBinary()
	ln := uint64(ptp.HeaderSize) + uint64(n)
	if ln >= ptp.UnknownLength {
		ln = ptp.UnknownLength
	}
	head[0], head[1], head[2], head[3] = byte(ln), byte(ln>>8), byte(ln>>16), byte(ln>>24)
	d.in = append(d.in, &phase{head: head, body: body, bodyOff: off, bodyLen: n, zlp: !d.cfg.NoZLP, stallAt: -1})
}

// supports reports whether the model lists op in its DeviceInfo.
func (d *Device) supports(op ptp.OpCode) bool {
	for _, o := range d.info.OperationsSupported {
		if o == op {
			return true
		}
	}
	return op == ptp.OpNikonInitiateCaptureRecInMedia && d.cfg.Model == NikonD7000 && d.nikon.recInMedia
}

// object returns the object with handle h, on the card or in a buffer.
func (d *Device) object(h uint32) *object {
	if o := d.card.objects[h]; o != nil {
		return o
	}
	if o := d.eos.transfers[h]; o != nil {
		return o
	}
	return d.nikon.sdram[h]
}

func (d *Device) deleteObject(h uint32) ptp.ResponseCode {
	if _, ok := d.nikon.sdram[h]; ok {
		delete(d.nikon.sdram, h)
		return ptp.RespOK
	}
	if h == 0xFFFFFFFF {
		for _, o := range d.card.sorted() {
			if o.parent == 0 {
				d.card.remove(o)
			}
		}
		return ptp.RespOK
	}
	o := d.card.objects[h]
	if o == nil {
		return ptp.RespInvalidObjectHandle
	}
	d.card.remove(o)
	return ptp.RespOK
}

// object is a file or folder.
type object struct {
	handle   uint32
	parent   uint32 // 0: in the root
	storage  uint32
	name     string
	format   ptp.FormatCode
	folder   bool
	content  io.ReaderAt
	size     int64
	captured time.Time
	seq      uint32
}

func (o *object) info(d *Device) ptp.ObjectInfo {
	oi := ptp.ObjectInfo{
		StorageID:      o.storage,
		Format:         o.format,
		CompressedSize: uint32(min(o.size, 0xFFFFFFFF)),
		ParentObject:   o.parent,
		SequenceNumber: o.seq,
		Filename:       o.name,
	}
	if !o.captured.IsZero() {
		oi.CaptureDate = ptp.FormatDateTime(o.captured)
		oi.ModificationDate = oi.CaptureDate
	}
	if o.folder {
		oi.AssociationType = ptp.AssociationGenericFolder
		oi.AssociationDesc = 1
	}
	if o.format == ptp.FormatEXIFJPEG {
		oi.ImagePixWidth, oi.ImagePixHeight, oi.ImageBitDepth = uint32(d.cfg.JPEGWidth), uint32(d.cfg.JPEGHeight), 24
	}
	return oi
}

// card is the memory card: one store of folders and files.
type card struct {
	d       *Device
	id      uint32
	objects map[uint32]*object
	next    uint32
	used    uint64
}

func newCard(d *Device) *card {
	id := uint32(0x00010001)
	if d.cfg.Model == CanonEOS600D {
		id = 0x00020001 // the 600D's SD slot
	}
	return &card{d: d, id: id, objects: map[uint32]*object{}, next: 1}
}

func (c *card) info() ptp.StorageInfo {
	free := c.free()
	shot := uint64(c.d.shotSize())
	return ptp.StorageInfo{
		StorageType:        ptp.StorageRemovableRAM,
		FilesystemType:     ptp.FilesystemDCF,
		AccessCapability:   ptp.AccessReadWrite,
		MaxCapacity:        c.d.cfg.CardCapacity,
		FreeSpaceInBytes:   free,
		FreeSpaceInImages:  uint32(min(free/shot, 0xFFFFFFFE)),
		StorageDescription: "SD",
		VolumeLabel:        "EOS_DIGITAL",
	}
}

func (c *card) free() uint64 {
	if c.used >= c.d.cfg.CardFree {
		return 0
	}
	return c.d.cfg.CardFree - c.used
}

// folder returns the handle of folder dir ("DCIM/100CANON"), creating it.
func (c *card) folder(dir string) uint32 {
	if dir == "" || dir == "." {
		return 0
	}
	parent := c.folder(path.Dir(dir))
	name := path.Base(dir)
	for _, o := range c.objects {
		if o.folder && o.parent == parent && o.name == name {
			return o.handle
		}
	}
	return c.add(&object{parent: parent, name: name, format: ptp.FormatAssociation, folder: true}).handle
}

func (c *card) add(o *object) *object {
	o.handle = c.next
	c.next++
	o.storage = c.id
	c.objects[o.handle] = o
	c.used += uint64(o.size)
	return o
}

func (c *card) addFile(p string, data []byte) *object {
	p = strings.Trim(p, "/")
	return c.add(&object{
		parent:   c.folder(path.Dir(p)),
		name:     path.Base(p),
		format:   c.d.formatOf(path.Base(p)),
		content:  bytes.NewReader(data),
		size:     int64(len(data)),
		captured: c.d.cfg.Now(),
	})
}

func (c *card) remove(o *object) {
	for _, ch := range c.sorted() {
		if ch.parent == o.handle {
			c.remove(ch)
		}
	}
	delete(c.objects, o.handle)
	c.used -= uint64(o.size)
}

func (c *card) sorted() []*object {
	os := make([]*object, 0, len(c.objects))
	for _, o := range c.objects {
		os = append(os, o)
	}
	sort.Slice(os, func(i, j int) bool { return os[i].handle < os[j].handle })
	return os
}

// list answers GetObjectHandles(storage, format, parent).
func (c *card) list(storage, format, parent uint32) ([]uint32, ptp.ResponseCode) {
	if storage != c.id && storage != ptp.AllStorages {
		return nil, ptp.RespInvalidStorageID
	}
	if parent != 0 && parent != ptp.RootObjects {
		if p := c.objects[parent]; p == nil || !p.folder {
			return nil, ptp.RespInvalidParentObject
		}
	}
	hs := []uint32{}
	for _, o := range c.sorted() {
		switch {
		case parent == ptp.RootObjects && o.parent != 0:
			continue
		case parent != 0 && parent != ptp.RootObjects && o.parent != parent:
			continue
		case format == ptp.AllImages && o.folder:
			continue
		case format != 0 && format != ptp.AllImages && uint32(o.format) != format:
			continue
		}
		hs = append(hs, o.handle)
	}
	return hs, ptp.RespOK
}

// CardFile describes a file on the simulated card.
type CardFile struct {
	Handle uint32
	Path   string
	Format ptp.FormatCode
	Size   int64
}

// Card lists the files on the card (not folders), in handle order.
func (d *Device) Card() []CardFile {
	d.mu.Lock()
	defer d.mu.Unlock()
	var fs []CardFile
	for _, o := range d.card.sorted() {
		if o.folder {
			continue
		}
		p := o.name
		for h := o.parent; h != 0; h = d.card.objects[h].parent {
			p = d.card.objects[h].name + "/" + p
		}
		fs = append(fs, CardFile{Handle: o.handle, Path: p, Format: o.format, Size: o.size})
	}
	return fs
}

// AddFile puts a file on the card, as if the camera had taken it by itself,
// and returns its handle. A Generic camera reports it with ObjectAdded.
func (d *Device) AddFile(p string, data []byte) uint32 {
	d.mu.Lock()
	defer d.mu.Unlock()
	o := d.card.addFile(p, data)
	if d.cfg.Model == Generic {
		d.event(ptp.EventObjectAdded, 0, o.handle)
	}
	return o.handle
}

// event queues an event on the interrupt pipe.
func (d *Device) event(code ptp.EventCode, tid uint32, params ...uint32) {
	b, _ := ptp.Event{Code: code, TransactionID: tid, Params: params}.AppendBinary(nil)
	d.events = append(d.events, b)
	d.broadcast()
}

// formatOf returns the object format the model reports for a file name.
func (d *Device) formatOf(name string) ptp.FormatCode {
	if d.cfg.Model == DownloadOnly {
		return ptp.FormatUndefined // QEMU's usb-mtp: every file
	}
	switch strings.ToUpper(path.Ext(name)) {
	case ".JPG", ".JPEG":
		return ptp.FormatEXIFJPEG
	case ".CR2":
		return ptp.FormatCanonCR2
	case ".DNG":
		return ptp.FormatDNG
	case ".NEF":
		return ptp.FormatUndefined // Nikon does not give NEF a format of its own
	}
	return ptp.FormatUndefined
}

// shotSize is the size of one picture at the current quality.
func (d *Device) shotSize() int {
	switch d.quality {
	case RAW:
		return d.cfg.RAWSize
	case RAWAndJPEG:
		return d.cfg.RAWSize + d.cfg.JPEGSize
	}
	return d.cfg.JPEGSize
}

// capture makes the files of one picture and returns them, not yet placed
// anywhere. JPEG is last: the camera writes the RAW first.
func (d *Device) capture(prefix, rawExt string) []*object {
	d.shots++
	n := d.shots
	now := d.cfg.Now()
	var os []*object
	mk := func(ext string, content io.ReaderAt, size int64) {
		name := prefix + pad4(n) + ext
		os = append(os, &object{name: name, format: d.formatOf(name), content: content, size: size, captured: now, seq: uint32(n)})
	}
	if d.quality != JPEG {
		mk(rawExt, d.raw.file(uint64(n), int64(d.cfg.RAWSize), rawExt), int64(d.cfg.RAWSize))
	}
	if d.quality != RAW {
		j := makeJPEG(d.rnd, n, now, d.cfg.JPEGWidth, d.cfg.JPEGHeight, d.cfg.JPEGSize)
		mk(".JPG", bytes.NewReader(j), int64(len(j)))
	}
	return os
}

func pad4(n int) string {
	s := "0000" + itoa(n%10000)
	return s[len(s)-4:]
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

// genericCapture answers InitiateCapture: the files go to the card, and
// ObjectAdded events then CaptureComplete report them with the capture's
// transaction ID.
func (d *Device) genericCapture(r *request) {
	if d.card.free() < uint64(d.shotSize()) {
		d.respond(r, ptp.RespOK)
		d.event(ptp.EventStoreFull, r.c.TransactionID)
		return
	}
	dir := d.card.folder("DCIM/100PTPCM")
	d.respond(r, ptp.RespOK)
	for _, o := range d.capture("IMG_", ".DNG") {
		o.parent = dir
		d.card.add(o)
		d.event(ptp.EventObjectAdded, r.c.TransactionID, o.handle)
	}
	d.event(ptp.EventCaptureComplete, r.c.TransactionID)
}
