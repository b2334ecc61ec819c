package sim

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/lapsebox/lapsebox/ptp"
)

// Model selects the camera the simulator plays.
type Model int

// Models. See the package documentation for what each does.
const (
	CanonEOS600D Model = iota
	NikonD7000
	Generic
	DownloadOnly
)

// String returns the model's name.
func (m Model) String() string {
	switch m {
	case CanonEOS600D:
		return "Canon EOS 600D"
	case NikonD7000:
		return "Nikon D7000"
	case Generic:
		return "Generic PTP camera"
	case DownloadOnly:
		return "Download-only PTP responder"
	}
	return fmt.Sprintf("Model(%d)", int(m))
}

// Quality is the camera's image quality setting: which files one picture
// makes.
type Quality int

// Qualities.
const (
	JPEG Quality = iota
	RAW
	RAWAndJPEG
)

// File is a file on the card when the simulator starts.
type File struct {
	Path string // "DCIM/100CANON/IMG_0001.JPG"; folders are created
	Data []byte
}

// Config describes the simulated camera. The zero value is a Canon EOS 600D
// with default sizes.
type Config struct {
	Model Model
	// Seed makes the generated images and garbage reproducible.
	Seed uint64
	// MaxPacketSize of the bulk endpoints. Default 512.
	MaxPacketSize int
	// NoZLP: a data phase ending on a packet boundary is not followed by a
	// zero-length packet (the response is glued on).
	NoZLP bool
	// SerialNumber and Owner identify the camera; defaults per model, Owner
	// empty.
	SerialNumber, Owner string
	// Quality at power-on. Default JPEG.
	Quality Quality
	// JPEGSize is the size of a captured JPEG file (approximately, if the
	// image does not compress below it). Default 300 000.
	JPEGSize int
	// JPEGWidth and JPEGHeight are the pixel size of captured JPEGs.
	// Default 640×426.
	JPEGWidth, JPEGHeight int
	// RAWSize is the size of a captured RAW file. Default 22 000 000.
	RAWSize int
	// CardCapacity and CardFree are the card's size and free bytes.
	// Defaults 16 GB and 8 GB.
	CardCapacity, CardFree uint64
	// Battery level in percent. Default 75.
	Battery int
	// Files on the card at start (download mode).
	Files []File
	// IdleSleep (EOS): the camera falls asleep when this long passes
	// without KeepDeviceOn or a release. 0: never.
	IdleSleep time.Duration
	// Now is the camera's clock. Default time.Now.
	Now func() time.Time
	// PairPolls (EOS): GetEvent polls between the two files of a RAW+JPG
	// pair. Default 2.
	PairPolls int
	// NikonBusyPolls: DeviceReady answers DeviceBusy this many times after
	// a capture. Default 3.
	NikonBusyPolls int
	// BufferShots (EOS, host target): pictures not acknowledged with
	// TransferComplete that the camera holds before refusing releases.
	// Default 4.
	BufferShots int
}

func (c Config) withDefaults() Config {
	if c.MaxPacketSize <= 0 {
		c.MaxPacketSize = 512
	}
	if c.SerialNumber == "" {
		c.SerialNumber = map[Model]string{
			CanonEOS600D: "2c8f3a1e9b4d4f1a8c7e", NikonD7000: "3012345",
			Generic: "GEN0001", DownloadOnly: "0123456789abcdef0123456789abcdef",
		}[c.Model]
	}
	if c.JPEGSize <= 0 {
		c.JPEGSize = 300_000
	}
	if c.JPEGWidth <= 0 || c.JPEGHeight <= 0 {
		c.JPEGWidth, c.JPEGHeight = 640, 426
	}
	if c.RAWSize <= 0 {
		c.RAWSize = 22_000_000
	}
	if c.CardCapacity == 0 {
		c.CardCapacity = 16_000_000_000
	}
	if c.CardFree == 0 {
		c.CardFree = 8_000_000_000
	}
	if c.Battery == 0 {
		c.Battery = 75
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.PairPolls <= 0 {
		c.PairPolls = 2
	}
	if c.NikonBusyPolls < 0 {
		c.NikonBusyPolls = 0
	} else if c.NikonBusyPolls == 0 {
		c.NikonBusyPolls = 3
	}
	if c.BufferShots <= 0 {
		c.BufferShots = 4
	}
	return c
}

// USB identities of the models.
var usbIDs = map[Model][2]uint16{
	CanonEOS600D: {0x04A9, 0x3218},
	NikonD7000:   {0x04B0, 0x0428},
	Generic:      {0x1D6B, 0x0104},
	DownloadOnly: {0x46F4, 0x0004},
}

// ErrStall is returned by Send when the device stalls bulk OUT: a command
// arrived while the previous reply was still unread.
var ErrStall = errors.New("sim: bulk OUT stalled: transaction in flight")

// errControlTimeout is what a class request to a sleeping camera returns.
var errControlTimeout = errors.New("sim: control request timed out")

// Device is a simulated camera. It implements ptp.Transport.
type Device struct {
	cfg Config
	rnd *rand.Rand
	raw *rawSource

	mu      sync.Mutex
	changed chan struct{} // closed and replaced when a waiter may proceed
	plugged bool
	asleep  bool
	closed  bool

	// Bulk OUT parsing.
	out     []byte
	cmd     *ptp.Container // a command waiting for its data phase
	needZLP bool

	// Bulk IN and interrupt queues.
	in     []*phase
	events [][]byte
	status []ptp.ResponseCode

	// PTP state.
	info      *ptp.DeviceInfo
	sessionID uint32
	wantTID   uint32
	lastWake  time.Time
	card      *card
	quality   Quality
	focusFail bool
	shots     int
	battery   int
	props     map[ptp.PropCode]*ptp.DevicePropDesc
	faults    []*Fault
	eos       eosState
	nikon     nikonState

	// Records for tests.
	ops        []ptp.OpCode
	violations []string
	cancels    int
	resets     int
}

// New returns a simulated camera, plugged in and awake.
func New(cfg Config) *Device {
	cfg = cfg.withDefaults()
	d := &Device{
		cfg:      cfg,
		rnd:      rand.New(rand.NewPCG(cfg.Seed, 0x1a95eb0c)),
		changed:  make(chan struct{}),
		plugged:  true,
		quality:  cfg.Quality,
		battery:  cfg.Battery,
		lastWake: cfg.Now(),
	}
	d.info = deviceInfo(cfg)
	d.raw = newRawSource(d.rnd)
	d.card = newCard(d)
	for _, f := range cfg.Files {
		d.card.addFile(f.Path, f.Data)
	}
	d.props = stdProps(d)
	d.eos.init(d)
	return d
}

// USBVendorID and USBProductID return the model's USB IDs, as the USB layer
// would find them in the device descriptor.
func (d *Device) USBVendorID() uint16 { return usbIDs[d.cfg.Model][0] }

// USBProductID returns the model's USB product ID.
func (d *Device) USBProductID() uint16 { return usbIDs[d.cfg.Model][1] }

// Model returns the simulated model.
func (d *Device) Model() Model { return d.cfg.Model }

// broadcast wakes every waiter; d.mu must be held.
func (d *Device) broadcast() {
	close(d.changed)
	d.changed = make(chan struct{})
}

func (d *Device) violate(format string, args ...any) {
	d.violations = append(d.violations, fmt.Sprintf(format, args...))
}

// reachable returns the error every call gets while the device is gone.
func (d *Device) reachable() error {
	if d.closed {
		return fmt.Errorf("sim: %w", ptp.ErrClosed)
	}
	if !d.plugged {
		return fmt.Errorf("sim: %w", ptp.ErrNoDevice)
	}
	return nil
}

// phase is one container the device sends on bulk IN: head (the header and
// any payload held in memory), then bodyLen bytes of body.
type phase struct {
	head    []byte
	body    io.ReaderAt
	bodyOff int64
	bodyLen int64
	sent    int64
	zlp     bool  // a ZLP follows if the container ends on a packet boundary
	stallAt int64 // -1, or stop sending after this many bytes
}

func (p *phase) size() int64 { return int64(len(p.head)) + p.bodyLen }

// read copies bytes of the phase from offset p.sent into b.
func (p *phase) read(b []byte) {
	n := 0
	if p.sent < int64(len(p.head)) {
		n = copy(b, p.head[p.sent:])
	}
	if n < len(b) {
		off := p.sent + int64(n) - int64(len(p.head))
		if _, err := p.body.ReadAt(b[n:], p.bodyOff+off); err != nil && err != io.EOF {
			panic(fmt.Sprintf("sim: reading object: %v", err))
		}
	}
	p.sent += int64(len(b))
}

// Send implements ptp.Transport: it takes bytes of bulk OUT.
func (d *Device) Send(ctx context.Context, p []byte) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("sim: send: %w", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.reachable(); err != nil {
		return err
	}
	mps := d.cfg.MaxPacketSize
	if len(p) == 0 {
		if !d.needZLP {
			d.violate("unexpected zero-length packet")
			return nil
		}
		d.needZLP = false
		return d.runData()
	}
	if d.needZLP {
		d.violate("data container ended on a packet boundary without a ZLP")
		d.needZLP = false
	}
	if d.inFlight() && len(d.out) == 0 && d.cmd == nil {
		return ErrStall
	}
	if len(p)%mps != 0 && len(d.out)+len(p) < containerLen(append(d.out, p...)) {
		d.violate("short packet (%d bytes) inside a container", len(p))
	}
	d.out = append(d.out, p...)
	n := containerLen(d.out)
	if len(d.out) < n {
		return nil
	}
	if len(d.out) > n {
		d.violate("%d bytes after a container", len(d.out)-n)
	}
	c, _, err := ptp.ParseContainer(d.out[:n])
	d.out = nil
	if err != nil {
		d.violate("bad container from host: %v", err)
		return nil
	}
	switch c.Type {
	case ptp.ContainerCommand:
		if d.cmd != nil {
			d.violate("command while waiting for data")
			d.cmd = nil
		}
		if dataOutOps[ptp.OpCode(c.Code)] {
			d.cmd = &c
			return nil
		}
		return d.run(c, nil)
	case ptp.ContainerData:
		if d.cmd == nil || c.TransactionID != d.cmd.TransactionID || c.Code != d.cmd.Code {
			d.violate("unexpected data container %v tid %d", ptp.OpCode(c.Code), c.TransactionID)
			return nil
		}
		d.cmd.Data = append([]byte{}, c.Data...)
		if n%mps == 0 {
			d.needZLP = true // the device waits for the end of the transfer
			return nil
		}
		return d.runData()
	default:
		d.violate("%v container from host", c.Type)
	}
	return nil
}

// inFlight reports whether bytes of a reply are still unread.
func (d *Device) inFlight() bool {
	for _, ph := range d.in {
		if ph.sent < ph.size() {
			return true
		}
	}
	return false
}

func containerLen(b []byte) int {
	if len(b) < ptp.HeaderSize {
		return 1 << 30
	}
	return int(binary.LittleEndian.Uint32(b))
}

func (d *Device) runData() error {
	c := *d.cmd
	d.cmd = nil
	return d.run(c, c.Data)
}

// Receive implements ptp.Transport: one bulk IN transfer into p.
func (d *Device) Receive(ctx context.Context, p []byte) (int, error) {
	n := 0
	for {
		d.mu.Lock()
		if err := d.reachable(); err != nil {
			d.mu.Unlock()
			return n, err
		}
		k, done := d.fill(p[n:])
		n += k
		ch := d.changed
		d.mu.Unlock()
		if done {
			return n, nil
		}
		// Nothing (more) to send: NAK until something changes.
		select {
		case <-ctx.Done():
			return n, fmt.Errorf("sim: receive: %w", ctx.Err())
		case <-ch:
		}
	}
}

// fill copies queued IN bytes into p, packet by packet, and reports whether
// the transfer ended (p full, a short packet or a ZLP).
func (d *Device) fill(p []byte) (int, bool) {
	mps := int64(d.cfg.MaxPacketSize)
	n := 0
	for n < len(p) && len(d.in) > 0 && !d.asleep {
		ph := d.in[0]
		total := ph.size()
		if ph.sent == total {
			d.in = d.in[1:]
			if ph.zlp && total%mps == 0 {
				return n, true // the ZLP ends the transfer
			}
			continue // no ZLP: the next container follows in the same transfer
		}
		limit := total
		if ph.stallAt >= 0 && ph.stallAt < limit {
			limit = ph.stallAt
		}
		if ph.sent >= limit {
			return n, false // stalled: NAK
		}
		k := min(int64(len(p)-n), limit-ph.sent)
		ph.read(p[n : n+int(k)])
		n += int(k)
		if ph.sent == total && total%mps != 0 {
			d.in = d.in[1:]
			return n, true // short packet
		}
	}
	return n, n == len(p) && n > 0
}

// Interrupt implements ptp.Transport: it waits for the next event.
func (d *Device) Interrupt(ctx context.Context, p []byte) (int, error) {
	for {
		d.mu.Lock()
		if err := d.reachable(); err != nil {
			d.mu.Unlock()
			return 0, err
		}
		if len(d.events) > 0 && !d.asleep {
			ev := d.events[0]
			d.events = d.events[1:]
			d.mu.Unlock()
			return copy(p, ev), nil
		}
		ch := d.changed
		d.mu.Unlock()
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("sim: interrupt: %w", ctx.Err())
		case <-ch:
		}
	}
}

// MaxPacketSize implements ptp.Transport.
func (d *Device) MaxPacketSize() int { return d.cfg.MaxPacketSize }

// control is the common start of the class requests.
func (d *Device) control(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := d.reachable(); err != nil {
		return err
	}
	if d.asleep {
		return errControlTimeout
	}
	return nil
}

// clearPipes drops everything in flight on the bulk pipes.
func (d *Device) clearPipes() {
	d.in, d.out, d.cmd, d.needZLP = nil, nil, nil, false
	d.broadcast()
}

// Cancel implements ptp.Transport: the Cancel Request drops the pending
// reply; the next Status reports TransactionCancelled.
func (d *Device) Cancel(ctx context.Context, tid uint32) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.control(ctx); err != nil {
		return err
	}
	d.cancels++
	d.clearPipes()
	d.status = append(d.status[:0], ptp.RespTransactionCancelled)
	return nil
}

// Reset implements ptp.Transport: the Device Reset Request closes the
// session.
func (d *Device) Reset(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.control(ctx); err != nil {
		return err
	}
	d.resets++
	d.clearPipes()
	d.status = nil
	d.closeSession()
	return nil
}

// Status implements ptp.Transport: Get Device Status.
func (d *Device) Status(ctx context.Context) (ptp.ResponseCode, []uint32, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.control(ctx); err != nil {
		return 0, nil, err
	}
	if len(d.status) > 0 {
		c := d.status[0]
		d.status = d.status[1:]
		return c, nil, nil
	}
	return ptp.RespOK, nil, nil
}

// Close implements ptp.Transport. A closed Device answers nothing more;
// Replug opens it again, as a new USB handle would.
func (d *Device) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	d.broadcast()
	return nil
}

func (d *Device) closeSession() {
	d.sessionID = 0
	d.eos.reset()
}

// Unplug disconnects the camera: every call returns an error wrapping
// ptp.ErrNoDevice until Replug.
func (d *Device) Unplug() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.plugged = false
	d.broadcast()
}

// Replug connects the camera again, as after a USB re-enumeration: the
// session is closed, replies in flight and host-side buffers are lost,
// the card is kept, and the camera is awake.
func (d *Device) Replug() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.plugged, d.closed, d.asleep = true, false, false
	d.lastWake = d.cfg.Now()
	d.clearPipes()
	d.events, d.status = nil, nil
	d.closeSession()
	d.eos.dropTransfers(d)
	d.nikon = nikonState{}
}

// Asleep reports whether the camera has fallen asleep.
func (d *Device) Asleep() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.checkSleep()
	return d.asleep
}

// Wake wakes a sleeping camera, as a press of its shutter button or a
// power cycle would: its session is closed.
func (d *Device) Wake() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.asleep {
		d.asleep = false
		d.clearPipes()
		d.closeSession()
	}
	d.lastWake = d.cfg.Now()
}

func (d *Device) checkSleep() {
	if d.cfg.Model == CanonEOS600D && d.cfg.IdleSleep > 0 && !d.asleep &&
		d.cfg.Now().Sub(d.lastWake) > d.cfg.IdleSleep {
		d.asleep = true
		d.broadcast()
	}
}

// SetFocus makes autofocus succeed (true, the default) or fail.
func (d *Device) SetFocus(ok bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.focusFail = !ok
}

// SetBattery sets the battery level in percent.
func (d *Device) SetBattery(percent int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.battery = percent
	d.eos.setBattery(d)
}

// Ops returns the operations the device received, in order.
func (d *Device) Ops() []ptp.OpCode {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]ptp.OpCode(nil), d.ops...)
}

// Violations returns the ways the host broke the protocol (a missing ZLP,
// a wrong transaction ID…); a correct host causes none.
func (d *Device) Violations() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.violations...)
}

// Shots returns the number of pictures taken.
func (d *Device) Shots() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.shots
}

// Buffered returns the number of pictures held outside the card, waiting
// for the host: EOS host-target transfers not acknowledged, Nikon SDRAM
// objects not deleted.
func (d *Device) Buffered() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.eos.transfers) + len(d.nikon.sdram)
}

// Cancels and Resets return how many Cancel and Device Reset requests the
// device received.
func (d *Device) Cancels() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cancels
}

// Resets returns how many Device Reset requests the device received.
func (d *Device) Resets() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.resets
}
