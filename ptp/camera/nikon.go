package camera

import (
	"context"
	"fmt"

	"github.com/lapsebox/lapsebox/ptp"
)

// nikonCapture takes a picture into the camera's SDRAM, waits with
// DeviceReady, collects the files from Nikon GetEvent, downloads and
// deletes them (docs/ptp.md §3.5).
func (c *Camera) nikonCapture(ctx context.Context, sink Sink) ([]File, error) {
	// Drop stale events.
	for i := 0; i < 16; i++ {
		var evs []ptp.Event
		if err := c.try(ctx, "GetEvent", func(ctx context.Context) (err error) {
			evs, err = c.conn.NikonGetEvent(ctx)
			return err
		}); err != nil {
			return nil, err
		}
		if len(evs) == 0 {
			break
		}
	}
	af := !c.opts.ManualFocus
	var op ptp.Operation
	switch {
	case c.info.Supports(ptp.OpNikonInitiateCaptureRecInMedia):
		p1 := uint32(0xFFFFFFFF) // no AF
		if af {
			p1 = 0xFFFFFFFE
		}
		op = ptp.Operation{Code: ptp.OpNikonInitiateCaptureRecInMedia, Params: []uint32{p1, 1}} // 1: SDRAM
	case af && c.info.Supports(ptp.OpNikonAfCaptureSDRAM):
		op = ptp.Operation{Code: ptp.OpNikonAfCaptureSDRAM}
	default:
		op = ptp.Operation{Code: ptp.OpNikonInitiateCaptureRecInSdram, Params: []uint32{0xFFFFFFFF}}
	}
	name := op.Code.Name(ptp.VendorNikon)
	for try := 0; ; try++ {
		octx, cancel := c.opContext(ctx)
		_, err := c.conn.Do(octx, op, nil, nil) // retries DeviceBusy itself
		cancel()
		switch {
		case err == nil:
		case (ptp.IsResponse(err, ptp.RespNikonInvalidStatus) || ptp.IsResponse(err, ptp.RespNikonWaiting2ndRelease)) && try < 20:
			if err := sleep(ctx, c.opts.PollInterval); err != nil {
				return nil, wrap(name, err)
			}
			continue
		case ptp.IsResponse(err, ptp.RespNikonOutOfFocus):
			return nil, wrap(name, ErrFocus)
		case ptp.IsResponse(err, ptp.RespStoreFull):
			return nil, wrap(name, ErrCardFull)
		case ptp.IsResponse(err, ptp.RespDeviceBusy):
			return nil, wrap(name, fmt.Errorf("%w: %w", ErrBusy, err))
		default:
			return nil, wrap(name, err)
		}
		break
	}
	// DeviceReady until the camera has finished (long exposures included).
	for {
		octx, cancel := c.opContext(ctx)
		_, err := c.conn.DoOnce(octx, ptp.Operation{Code: ptp.OpNikonDeviceReady}, nil, nil)
		cancel()
		if err == nil || ptp.IsResponse(err, ptp.RespNikonSilentReleaseBusy) {
			break
		}
		if !ptp.IsResponse(err, ptp.RespDeviceBusy) && !ptp.IsResponse(err, ptp.RespNikonBulbReleaseBusy) && !retryable(err) {
			return nil, wrap("DeviceReady", err)
		}
		if err := sleep(ctx, c.opts.PollInterval); err != nil {
			return nil, wrap("DeviceReady", err)
		}
	}
	// The files, then CaptureComplete.
	var handles []uint32
	done, extra := false, 0
	wait := c.opts.PollInterval
	for !done || len(handles) == 0 && extra < 20 {
		if done {
			extra++
		}
		var evs []ptp.Event
		if err := c.try(ctx, "GetEvent", func(ctx context.Context) (err error) {
			evs, err = c.conn.NikonGetEvent(ctx)
			return err
		}); err != nil {
			return nil, err
		}
		for _, ev := range evs {
			p := uint32(0)
			if len(ev.Params) > 0 {
				p = ev.Params[0]
			}
			switch ev.Code {
			case ptp.EventNikonObjectAddedInSDRAM:
				if p == 0 {
					p = ptp.NikonSDRAMHandle
				}
				handles = append(handles, p)
			case ptp.EventObjectAdded:
				handles = append(handles, p)
			case ptp.EventNikonCaptureCompleteRecInSdram, ptp.EventCaptureComplete:
				done = true
			case ptp.EventStoreFull:
				return nil, wrap("capture", ErrCardFull)
			}
		}
		if done && len(handles) > 0 {
			break
		}
		if len(evs) == 0 {
			if err := sleep(ctx, wait); err != nil {
				return nil, wrap("wait for the files", fmt.Errorf("%w: %w", ErrNoPicture, err))
			}
			wait = min(2*wait, c.opts.MaxPollInterval)
		}
	}
	if len(handles) == 0 {
		return nil, wrap("capture", ErrNoPicture)
	}
	files, err := c.fetchHandles(ctx, sink, handles, true)
	if err != nil {
		// Free the buffer anyway, or the camera refuses the next capture.
		for _, h := range handles[len(files):] {
			_ = c.nikonDelete(ctx, h)
		}
	}
	return files, err
}

// nikonDelete frees an SDRAM object after its download: DeleteObject, or
// DeleteImagesInSdram if the camera refuses.
func (c *Camera) nikonDelete(ctx context.Context, h uint32) error {
	octx, cancel := c.opContext(ctx)
	defer cancel()
	err := c.conn.DeleteObject(octx, h, 0)
	if err == nil || ptp.IsResponse(err, ptp.RespInvalidObjectHandle) || ptp.IsResponse(err, ptp.RespStoreNotAvailable) {
		return nil
	}
	if !c.info.Supports(ptp.OpNikonDeleteImagesInSdram) {
		return wrap("DeleteObject", err)
	}
	_, err2 := c.conn.Do(octx, ptp.Operation{Code: ptp.OpNikonDeleteImagesInSdram}, nil, nil)
	return wrap("DeleteImagesInSdram", err2)
}
