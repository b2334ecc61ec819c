// Package camera drives a still camera over PTP: it opens a session,
// picks a capture strategy from what the camera says it can do (Canon EOS,
// Nikon, a generic PTP camera, or none: download only), takes pictures and
// streams their files to the caller, and reads and sets the properties a
// time-lapse needs (exposure, aperture, ISO, white balance, image format,
// battery, free space).
//
// Every call takes a context and returns by its deadline; operations inside
// a capture have their own shorter timeout (Options.OpTimeout) and are
// retried after the connection recovers, when repeating them is safe.
// Errors name the step that failed: "camera: RemoteReleaseOn: focus
// failed", and wrap the sentinel errors below and ptp's errors
// (ptp.ErrNoDevice: re-open the camera).
package camera

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/lapsebox/lapsebox/ptp"
)

// Kind is the capture strategy the driver uses for a camera.
type Kind int

// Kinds of camera.
const (
	// DownloadOnly cameras cannot capture on request; their files can
	// still be listed and downloaded.
	DownloadOnly Kind = iota
	// Generic cameras capture with InitiateCapture and report the files
	// with ObjectAdded and CaptureComplete events.
	Generic
	// Nikon DSLRs capture into their SDRAM buffer, are polled with
	// DeviceReady and Nikon GetEvent, and the files are deleted from the
	// buffer after download.
	Nikon
	// CanonEOS bodies are driven in remote mode with RemoteReleaseOn/Off
	// and report everything through polled GetEvent records.
	CanonEOS
)

// String returns the kind's name.
func (k Kind) String() string {
	switch k {
	case DownloadOnly:
		return "download-only"
	case Generic:
		return "generic"
	case Nikon:
		return "Nikon"
	case CanonEOS:
		return "Canon EOS"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// KindOf chooses the capture strategy from a DeviceInfo: the operations
// the camera supports and its vendor extension. usbVendorID (0 if unknown)
// only breaks the tie when the camera reports no vendor or a generic one
// (MTP), as newer Canon and Nikon bodies do.
func KindOf(di *ptp.DeviceInfo, usbVendorID uint16) Kind {
	vendor := di.Vendor(usbVendorID)
	switch {
	case vendor == ptp.VendorCanon && di.Supports(ptp.OpEOSGetEvent) &&
		(di.Supports(ptp.OpEOSRemoteReleaseOn) || di.Supports(ptp.OpEOSRemoteRelease)):
		return CanonEOS
	case vendor == ptp.VendorNikon && di.Supports(ptp.OpNikonDeviceReady) && di.Supports(ptp.OpNikonGetEvent) &&
		(di.Supports(ptp.OpNikonInitiateCaptureRecInMedia) || di.Supports(ptp.OpNikonInitiateCaptureRecInSdram) ||
			di.Supports(ptp.OpNikonAfCaptureSDRAM)):
		return Nikon
	case di.Supports(ptp.OpInitiateCapture):
		return Generic
	}
	return DownloadOnly
}

// Target is where a Canon EOS body stores its pictures.
type Target int

// Capture targets.
const (
	// Card: the camera writes the files to its card and the driver copies
	// them; the card keeps a copy (and fills up).
	Card Target = iota
	// Host: the camera sends the files to the host only; nothing is left
	// on the card.
	Host
)

// String returns "card" or "host".
func (t Target) String() string {
	if t == Host {
		return "host"
	}
	return "card"
}

// Options tune a Camera. The zero value gives the defaults.
type Options struct {
	// Conn tunes the PTP connection. Conn.USBVendorID is the USB vendor
	// ID, used only to tell Canon and Nikon bodies that report a generic
	// vendor extension.
	Conn ptp.Options
	// Target (Canon EOS) is where pictures go. Default Card.
	Target Target
	// ManualFocus releases the shutter without autofocus (Canon EOS, Nikon).
	ManualFocus bool
	// CaptureTimeout bounds a capture whose context has no deadline.
	// Default 90 s (libgphoto2's EOS capture timeout).
	CaptureTimeout time.Duration
	// PairTimeout is how long a capture waits for the other files of a
	// picture (RAW+JPG) after the first arrived. Default 6 s.
	PairTimeout time.Duration
	// OpTimeout bounds each operation inside a capture or download; a
	// stalled transfer is abandoned, the connection recovered and the
	// operation retried. Default 10 s.
	OpTimeout time.Duration
	// Retries is how often an operation that is safe to repeat (a chunk
	// download, a GetEvent poll, GetObjectInfo) is retried after a
	// transport or protocol failure. Default 2; negative: never.
	Retries int
	// PollInterval is the first wait between event polls, doubled up to
	// MaxPollInterval. Defaults 50 ms and 200 ms.
	PollInterval, MaxPollInterval time.Duration
	// KeepAliveInterval (Canon EOS) is how often a capture waiting for its
	// files sends KeepDeviceOn. Default 10 s.
	KeepAliveInterval time.Duration
	// ChunkSize is the size of GetPartialObject reads. Default 1 MiB
	// (larger reads fail on some Canon bodies).
	ChunkSize int
}

func (o Options) withDefaults() Options {
	if o.CaptureTimeout <= 0 {
		o.CaptureTimeout = 90 * time.Second
	}
	if o.PairTimeout <= 0 {
		o.PairTimeout = 6 * time.Second
	}
	if o.OpTimeout <= 0 {
		o.OpTimeout = 10 * time.Second
	}
	if o.Retries == 0 {
		o.Retries = 2
	} else if o.Retries < 0 {
		o.Retries = 0
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 50 * time.Millisecond
	}
	if o.MaxPollInterval < o.PollInterval {
		o.MaxPollInterval = max(200*time.Millisecond, o.PollInterval)
	}
	if o.KeepAliveInterval <= 0 {
		o.KeepAliveInterval = 10 * time.Second
	}
	if o.ChunkSize <= 0 {
		o.ChunkSize = 1 << 20
	}
	return o
}

// Identity identifies a camera across re-enumerations of the USB bus.
type Identity struct {
	Manufacturer  string
	Model         string
	SerialNumber  string
	DeviceVersion string // firmware
	Owner         string // the owner name set in the camera, if it tells
}

// String returns e.g. "Canon EOS 600D #2c8f3a1e9b4d4f1a8c7e".
func (id Identity) String() string {
	s := id.Model
	if id.SerialNumber != "" {
		s += " #" + id.SerialNumber
	}
	return s
}

// Same reports whether id and o are the same camera: same model and serial
// number (the owner name can change).
func (id Identity) Same(o Identity) bool {
	return id.Model == o.Model && id.SerialNumber == o.SerialNumber
}

// Errors wrapped by the errors of this package.
var (
	// ErrFocus: the camera could not focus, and so did not take the picture.
	ErrFocus = errors.New("focus failed")
	// ErrBusy: the camera refused to capture because it is busy.
	ErrBusy = errors.New("camera busy")
	// ErrCardFull: the camera has no room for the picture.
	ErrCardFull = errors.New("no room for the picture")
	// ErrNoCapture: the camera cannot capture on request (download only).
	ErrNoCapture = errors.New("camera cannot capture")
	// ErrNoPicture: the camera took the picture but no file arrived in
	// time.
	ErrNoPicture = errors.New("no file arrived")
	// ErrMissingFile: some files of a picture (one of a RAW+JPG pair)
	// did not arrive in time; the others are returned.
	ErrMissingFile = errors.New("a file of the picture did not arrive")
	// ErrUnknownProperty: Set or Prop was given a name it does not know,
	// or one the camera does not have.
	ErrUnknownProperty = errors.New("unknown property")
	// ErrInvalidValue: the value is not one the property takes.
	ErrInvalidValue = errors.New("invalid value")
	// ErrReadOnly: the property cannot be set.
	ErrReadOnly = errors.New("read-only property")
)

// Error is an error of a camera step. Err wraps the cause.
type Error struct {
	Op  string // "RemoteReleaseOn", "Set iso", "download IMG_0001.CR2"…
	Err error
}

// Error returns e.g. "camera: RemoteReleaseOn: focus failed".
func (e *Error) Error() string { return "camera: " + e.Op + ": " + e.Err.Error() }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	var ce *Error
	if errors.As(err, &ce) {
		return err
	}
	return &Error{Op: op, Err: err}
}

// File is a file the camera made.
type File struct {
	Name   string         // as the camera names it: "IMG_0001.JPG"
	Format ptp.FormatCode // as the camera reports it (Nikon RAW: Undefined)
	Size   int64          // bytes
	Handle uint32         // the object handle; valid until the next capture
	RAW    bool           // a RAW file (by its name, or format)
	// Late marks a file of an earlier picture that arrived after that
	// capture returned.
	Late bool
	// Data holds the contents when Capture was given no Sink.
	Data []byte
}

// Sink returns the writer a file's contents go to, before its download
// starts. The driver writes each byte once, in order, and never keeps the
// contents itself. A file that fails midway is not in Capture's result, and
// its writer has seen a prefix of it.
type Sink func(f File) (io.Writer, error)

// Camera is an open camera. Its methods may be called from several
// goroutines; they run one at a time.
type Camera struct {
	conn   *ptp.Conn
	opts   Options
	info   *ptp.DeviceInfo
	kind   Kind
	vendor ptp.VendorExtension
	id     Identity

	mu       sync.Mutex
	eos      eosCache
	lastKeep time.Time
}

// Open opens a session with the camera on t, reads its DeviceInfo and
// chooses the capture strategy (see KindOf); a Canon EOS body is put in
// remote mode with the capture target of opts. If Open fails, the caller
// still owns t and should close it.
func Open(ctx context.Context, t ptp.Transport, opts Options) (*Camera, error) {
	opts = opts.withDefaults()
	conn, err := ptp.Open(ctx, t, &opts.Conn)
	if err != nil {
		return nil, wrap("open", err)
	}
	info := conn.DeviceInfo()
	c := &Camera{
		conn:   conn,
		opts:   opts,
		info:   info,
		kind:   KindOf(info, opts.Conn.USBVendorID),
		vendor: info.Vendor(opts.Conn.USBVendorID),
		id: Identity{
			Manufacturer:  info.Manufacturer,
			Model:         info.Model,
			SerialNumber:  info.SerialNumber,
			DeviceVersion: info.DeviceVersion,
		},
	}
	c.eos.values, c.eos.data, c.eos.lists = map[ptp.PropCode]uint32{}, map[ptp.PropCode][]byte{}, map[ptp.PropCode][]uint32{}
	switch c.kind {
	case CanonEOS:
		err = c.eosPrepare(ctx)
	case Nikon:
		if info.Supports(ptp.OpNikonChangeCameraMode) {
			// PC control; ChangeCameraModeFailed is harmless (docs/ptp.md §3.5).
			octx, cancel := c.opContext(ctx)
			_, err = conn.Do(octx, ptp.Operation{Code: ptp.OpNikonChangeCameraMode, Params: []uint32{1}}, nil, nil)
			cancel()
			if ptp.IsResponse(err, ptp.RespNikonChangeCameraModeFailed) {
				err = nil
			}
			err = wrap("ChangeCameraMode", err)
		}
	}
	if err != nil {
		return nil, err
	}
	if c.id.Owner == "" && info.SupportsProp(ptp.PropArtist) {
		octx, cancel := c.opContext(ctx)
		if v, err := conn.GetDevicePropValue(octx, ptp.PropArtist, ptp.TypeString); err == nil {
			c.id.Owner, _ = v.(string)
		}
		cancel()
	}
	return c, nil
}

// Kind returns the capture strategy in use.
func (c *Camera) Kind() Kind { return c.kind }

// Identity returns the camera's model, serial number and owner: the key to
// find the same camera again after a USB reset renumbers it.
func (c *Camera) Identity() Identity { return c.id }

// DeviceInfo returns the camera's DeviceInfo as read by Open.
func (c *Camera) DeviceInfo() *ptp.DeviceInfo { return c.info }

// Conn returns the PTP connection, for operations this package does not
// wrap (listing and downloading the card). Do not use it while a Camera
// method runs.
func (c *Camera) Conn() *ptp.Conn { return c.conn }

// KeepAlive keeps the camera from falling asleep and checks that it
// answers: KeepDeviceOn for Canon EOS, a cheap query for the others. Call
// it between captures more often than the camera's auto power off delay.
func (c *Camera) KeepAlive(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	ctx, cancel := c.opContext(ctx)
	defer cancel()
	if c.kind == CanonEOS {
		return wrap("KeepDeviceOn", c.keepDeviceOn(ctx))
	}
	_, err := c.conn.GetStorageIDs(ctx)
	return wrap("KeepAlive", err)
}

// Close leaves remote mode (Canon EOS), closes the session and the
// transport.
func (c *Camera) Close(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	ctx, cancel := c.opContext(ctx)
	defer cancel()
	if c.kind == CanonEOS {
		c.eosRelease(ctx)
	}
	return wrap("close", c.conn.Close(ctx))
}

// opContext bounds one operation by OpTimeout.
func (c *Camera) opContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.opts.OpTimeout)
}

// retryable reports whether an operation that failed with err may be
// repeated: a transport, protocol or decoding failure, not a response code,
// not a gone device, not the caller's writer.
func retryable(err error) bool {
	var oe *ptp.OpError
	return errors.As(err, &oe) && !errors.Is(err, ptp.ErrNoDevice)
}

// try runs an operation that is safe to repeat, each attempt bounded by
// OpTimeout, retrying transport failures.
func (c *Camera) try(ctx context.Context, op string, fn func(ctx context.Context) error) error {
	for attempt := 0; ; attempt++ {
		octx, cancel := c.opContext(ctx)
		err := fn(octx)
		cancel()
		if err == nil {
			return nil
		}
		if !retryable(err) || attempt >= c.opts.Retries || ctx.Err() != nil {
			return wrap(op, err)
		}
	}
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// rawExts are the extensions of RAW files.
var rawExts = map[string]bool{".CR2": true, ".CR3": true, ".CRW": true, ".NEF": true, ".NRW": true,
	".DNG": true, ".ARW": true, ".RAF": true, ".ORF": true, ".RW2": true, ".PEF": true}

// isRAW tells a RAW file by its name, or its format if the name says
// nothing (docs/ptp.md §2.4: do not trust the format alone).
func isRAW(name string, f ptp.FormatCode, v ptp.VendorExtension) bool {
	ext := strings.ToUpper(path.Ext(name))
	if ext != "" {
		return rawExts[ext]
	}
	return f == ptp.FormatDNG || v == ptp.VendorCanon && (f == ptp.FormatCanonCR2 || f == ptp.FormatCanonCR3 || f == ptp.FormatCanonCRW)
}

// newFile returns a File for an object.
func (c *Camera) newFile(name string, f ptp.FormatCode, size int64, h uint32) File {
	if name == "" {
		ext := ".JPG"
		if isRAW("", f, c.vendor) {
			ext = ".RAW"
			if f == ptp.FormatCanonCR2 {
				ext = ".CR2"
			}
		}
		name = fmt.Sprintf("capt%08x%s", h, ext)
	}
	return File{Name: name, Format: f, Size: size, Handle: h, RAW: isRAW(name, f, c.vendor)}
}
