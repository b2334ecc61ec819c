package camera

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/lapsebox/lapsebox/ptp"
)

// eosCache holds what Canon EOS GetEvent records reported: property
// values, their allowed values, the camera status and the object records
// not yet downloaded.
type eosCache struct {
	values  map[ptp.PropCode]uint32
	data    map[ptp.PropCode][]byte
	lists   map[ptp.PropCode][]uint32
	status  uint32
	objects []ptp.EOSEvent
}

// Canon EOS capture destinations (docs/ptp.md §3.2: 4 is the host).
const eosDestHost = 4

// eosPoll runs GetEvent once and records what it reports; it returns the
// number of records.
func (c *Camera) eosPoll(ctx context.Context) (int, error) {
	var evs []ptp.EOSEvent
	err := c.try(ctx, "GetEvent", func(ctx context.Context) (err error) {
		evs, err = c.conn.EOSGetEvent(ctx)
		return err
	})
	if err != nil {
		return 0, err
	}
	e := &c.eos
	for _, ev := range evs {
		switch ev.Code {
		case ptp.EventEOSPropValueChanged:
			e.values[ev.Prop] = ev.Value
			e.data[ev.Prop] = ev.ValueData
		case ptp.EventEOSAvailListChanged:
			if ev.Values != nil {
				e.lists[ev.Prop] = ev.Values
			}
		case ptp.EventEOSCameraStatusChanged:
			e.status = ev.Value
		case ptp.EventEOSObjectAddedEx, ptp.EventEOSRequestObjectTransfer:
			if ev.Format != ptp.FormatAssociation {
				e.objects = append(e.objects, ev)
			}
		}
	}
	return len(evs), nil
}

// maxDrainPolls bounds the GetEvent polls of a drain.
const maxDrainPolls = 64

// eosDrain polls GetEvent until it reports nothing.
func (c *Camera) eosDrain(ctx context.Context) error {
	for i := 0; i < maxDrainPolls; i++ {
		n, err := c.eosPoll(ctx)
		if err != nil || n == 0 {
			return err
		}
	}
	return nil
}

func (c *Camera) eosDo(ctx context.Context, code ptp.OpCode, params ...uint32) error {
	octx, cancel := c.opContext(ctx)
	defer cancel()
	_, err := c.conn.Do(octx, ptp.Operation{Code: code, Params: params}, nil, nil)
	return wrap(code.Name(ptp.VendorCanon), err)
}

func (c *Camera) keepDeviceOn(ctx context.Context) error {
	c.lastKeep = time.Now()
	_, err := c.conn.Do(ctx, ptp.Operation{Code: ptp.OpEOSKeepDeviceOn}, nil, nil)
	return err
}

// eosPrepare puts the camera in remote mode, reads every property, learns
// the owner and sets the capture target (docs/ptp.md §3.3 steps 1–5).
func (c *Camera) eosPrepare(ctx context.Context) error {
	if err := c.eosDo(ctx, ptp.OpEOSSetRemoteMode, 1); err != nil {
		return err
	}
	if err := c.eosDo(ctx, ptp.OpEOSSetEventMode, 1); err != nil {
		return err
	}
	if err := c.eosDrain(ctx); err != nil {
		return err
	}
	if c.info.Supports(ptp.OpEOSRequestDevicePropValue) {
		// Errors are normal: a camera without an owner name says GeneralError.
		_ = c.eosDo(ctx, ptp.OpEOSRequestDevicePropValue, uint32(ptp.PropEOSOwner))
		if err := c.eosDrain(ctx); err != nil {
			return err
		}
		c.id.Owner = cString(c.eos.data[ptp.PropEOSOwner])
	}
	return c.eosSetTarget(ctx, c.opts.Target)
}

// eosSetTarget sets CaptureDestination, only if it differs (the camera
// answers DeviceBusy otherwise), and for the host announces free space
// with PCHDDCapacity, waiting for AvailableShots to become positive.
func (c *Camera) eosSetTarget(ctx context.Context, t Target) error {
	want := uint32(2)
	if t == Host {
		want = eosDestHost
	} else {
		for _, v := range c.eos.lists[ptp.PropEOSCaptureDestination] {
			if v != eosDestHost {
				want = v // libgphoto2: the first value that is not the host
				break
			}
		}
	}
	if cur, ok := c.eos.values[ptp.PropEOSCaptureDestination]; !ok || cur != want {
		octx, cancel := c.opContext(ctx)
		err := c.conn.EOSSetDevicePropValueEx(octx, ptp.PropEOSCaptureDestination, binary.LittleEndian.AppendUint32(nil, want))
		cancel()
		if err != nil {
			return wrap("set capture target", err)
		}
		c.eos.values[ptp.PropEOSCaptureDestination] = want
		if err := c.eosDrain(ctx); err != nil {
			return err
		}
	}
	c.opts.Target = t
	if t == Host {
		return c.eosHostCapacity(ctx)
	}
	return nil
}

// eosHostCapacity tells the camera the host has room (PCHDDCapacity) and
// waits, a bounded while, for AvailableShots to say it understood.
func (c *Camera) eosHostCapacity(ctx context.Context) error {
	octx, cancel := c.opContext(ctx)
	_, err := c.conn.Do(octx, ptp.Operation{Code: ptp.OpEOSPCHDDCapacity, Params: []uint32{0x0FFFFFFF, 0x1000, 1}}, nil, nil)
	cancel()
	if err != nil && !ptp.IsResponse(err, ptp.RespDeviceBusy) {
		return wrap("PCHDDCapacity", err)
	}
	for i := 0; i < 20 && c.eos.values[ptp.PropEOSAvailableShots] == 0; i++ {
		if _, err := c.eosPoll(ctx); err != nil {
			return err
		}
		if c.eos.values[ptp.PropEOSAvailableShots] > 0 {
			break
		}
		if err := sleep(ctx, c.opts.PollInterval); err != nil {
			return wrap("PCHDDCapacity", err)
		}
	}
	return nil
}

// eosRelease leaves remote mode, best effort (docs/ptp.md §3.3, unprepare).
func (c *Camera) eosRelease(ctx context.Context) {
	_ = c.eosDo(ctx, ptp.OpEOSSetEventMode, 0)
	_ = c.eosDo(ctx, ptp.OpEOSSetRemoteMode, 0)
}

// eosFilesPerShot returns how many files one picture makes, from the image
// format (1 if unknown).
func (c *Camera) eosFilesPerShot() int {
	f, err := ptp.DecodeEOSImageFormat(c.eos.data[ptp.PropEOSImageFormat])
	if err != nil || len(f) == 0 {
		return 1
	}
	return len(f)
}

// eosCapture takes a picture with RemoteReleaseOn/Off (or RemoteRelease)
// and downloads its files as GetEvent reports them (docs/ptp.md §3.3 steps
// 7–14).
func (c *Camera) eosCapture(ctx context.Context, sink Sink) ([]File, error) {
	if err := c.eosDrain(ctx); err != nil {
		return nil, err
	}
	// Objects reported before this capture belong to an earlier one.
	late := len(c.eos.objects)
	if c.opts.Target == Host && c.eos.values[ptp.PropEOSAvailableShots] < 100 {
		if err := c.eosHostCapacity(ctx); err != nil {
			return nil, err
		}
	}
	if err := c.eosTrigger(ctx); err != nil {
		return nil, err
	}
	want := c.eosFilesPerShot()
	var files []File
	var errs []error
	got := 0
	var pairDeadline time.Time
	wait := c.opts.PollInterval
	for {
		for len(c.eos.objects) > 0 {
			rec := c.eos.objects[0]
			c.eos.objects = c.eos.objects[1:]
			f, err := c.eosFetch(ctx, rec, sink)
			if late > 0 {
				late--
				f.Late = true
			} else if err == nil {
				got++
			}
			if err != nil {
				if errors.Is(err, ptp.ErrNoDevice) || ctx.Err() != nil {
					return files, err
				}
				errs = append(errs, err)
				got++ // the file came, but could not be read
				continue
			}
			files = append(files, f)
		}
		if got >= want {
			break
		}
		if got > 0 && pairDeadline.IsZero() {
			pairDeadline = time.Now().Add(c.opts.PairTimeout)
		}
		if !pairDeadline.IsZero() && time.Now().After(pairDeadline) {
			errs = append(errs, wrap("capture", fmt.Errorf("%w: %d of %d files", ErrMissingFile, got, want)))
			break
		}
		if time.Since(c.lastKeep) > c.opts.KeepAliveInterval {
			octx, cancel := c.opContext(ctx)
			err := c.keepDeviceOn(octx)
			cancel()
			if err != nil {
				return files, wrap("KeepDeviceOn", err)
			}
		}
		n, err := c.eosPoll(ctx)
		if err != nil {
			return files, err
		}
		if n == 0 {
			if err := sleep(ctx, wait); err != nil {
				if got == 0 {
					return files, wrap("wait for the picture", fmt.Errorf("%w: %w", ErrNoPicture, err))
				}
				errs = append(errs, wrap("capture", fmt.Errorf("%w: %d of %d files: %w", ErrMissingFile, got, want, err)))
				break
			}
			wait = min(2*wait, c.opts.MaxPollInterval)
		} else {
			wait = c.opts.PollInterval
		}
	}
	return files, errors.Join(errs...)
}

// eosTrigger presses the shutter button: half, then full (a DeviceBusy
// here means autofocus failed), then releases it.
func (c *Camera) eosTrigger(ctx context.Context) error {
	// Still busy with the last picture: give it a moment.
	for i := 0; c.eos.status == 1; i++ {
		if i >= 20 {
			return wrap("capture", ErrBusy)
		}
		if err := sleep(ctx, c.opts.PollInterval); err != nil {
			return wrap("capture", fmt.Errorf("%w: %w", ErrBusy, err))
		}
		if _, err := c.eosPoll(ctx); err != nil {
			return err
		}
	}
	af := uint32(0)
	if c.opts.ManualFocus {
		af = 1
	}
	if !c.info.Supports(ptp.OpEOSRemoteReleaseOn) {
		return c.eosRemoteRelease(ctx)
	}
	// Half press. DeviceBusy here is mostly events that arrived since the
	// drain: drain again and retry.
	for try := 0; ; try++ {
		octx, cancel := c.opContext(ctx)
		_, err := c.conn.DoOnce(octx, ptp.Operation{Code: ptp.OpEOSRemoteReleaseOn, Params: []uint32{1, af}}, nil, nil)
		cancel()
		if err == nil {
			break
		}
		if !ptp.IsResponse(err, ptp.RespDeviceBusy) || try >= 5 {
			if ptp.IsResponse(err, ptp.RespDeviceBusy) {
				err = fmt.Errorf("%w: %w", ErrBusy, err)
			}
			return wrap("RemoteReleaseOn", err)
		}
		if err := c.eosDrain(ctx); err != nil {
			return err
		}
		if err := sleep(ctx, c.opts.PollInterval); err != nil {
			return wrap("RemoteReleaseOn", err)
		}
	}
	octx, cancel := c.opContext(ctx)
	_, err := c.conn.DoOnce(octx, ptp.Operation{Code: ptp.OpEOSRemoteReleaseOn, Params: []uint32{2, af}}, nil, nil)
	cancel()
	if err != nil {
		// Let go of the button whatever happened (docs/ptp.md §3.3 step 11).
		_, _ = c.eosPoll(ctx)
		_ = c.eosDo(ctx, ptp.OpEOSRemoteReleaseOff, 1)
		_, _ = c.eosPoll(ctx)
		switch {
		case ptp.IsResponse(err, ptp.RespDeviceBusy):
			return wrap("RemoteReleaseOn", ErrFocus)
		case ptp.IsResponse(err, ptp.RespStoreFull):
			return wrap("RemoteReleaseOn", ErrCardFull)
		}
		return wrap("RemoteReleaseOn", err)
	}
	if err := c.eosDo(ctx, ptp.OpEOSRemoteReleaseOff, 2); err != nil {
		return err
	}
	if _, err := c.eosPoll(ctx); err != nil {
		return err
	}
	return c.eosDo(ctx, ptp.OpEOSRemoteReleaseOff, 1)
}

// eosRemoteRelease is the release of bodies without RemoteReleaseOn: its
// result is in the response's first parameter (docs/ptp.md §3.1).
func (c *Camera) eosRemoteRelease(ctx context.Context) error {
	octx, cancel := c.opContext(ctx)
	resp, err := c.conn.DoOnce(octx, ptp.Operation{Code: ptp.OpEOSRemoteRelease}, nil, nil)
	cancel()
	if err != nil {
		return wrap("RemoteRelease", err)
	}
	if len(resp.Params) == 0 {
		return nil
	}
	switch r := resp.Params[0]; {
	case r == 0:
		return nil
	case r == 1:
		return wrap("RemoteRelease", ErrFocus)
	case r == 7:
		return wrap("RemoteRelease", ErrCardFull)
	case r == 8:
		return wrap("RemoteRelease", errors.New("card read-only"))
	case r&0x7000 == 0x2000:
		return wrap("RemoteRelease", fmt.Errorf("%v", ptp.ResponseCode(r).Name(ptp.VendorCanon)))
	default:
		return wrap("RemoteRelease", fmt.Errorf("result %#x", r))
	}
}

// eosFetch downloads the file of an object record; a host-target file is
// then acknowledged with TransferComplete.
func (c *Camera) eosFetch(ctx context.Context, rec ptp.EOSEvent, sink Sink) (File, error) {
	f := c.newFile(rec.Filename, rec.Format, int64(rec.Size), rec.Handle)
	if err := c.download(ctx, &f, sink); err != nil {
		return f, err
	}
	if rec.Code == ptp.EventEOSRequestObjectTransfer {
		err := c.try(ctx, "TransferComplete", func(ctx context.Context) error {
			_, err := c.conn.Do(ctx, ptp.Operation{Code: ptp.OpEOSTransferComplete, Params: []uint32{rec.Handle}}, nil, nil)
			if ptp.IsResponse(err, ptp.RespInvalidObjectHandle) {
				return nil // acknowledged already, by an attempt whose answer was lost
			}
			return err
		})
		if err != nil {
			return f, err
		}
	}
	return f, nil
}

func cString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}
