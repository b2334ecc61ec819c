package sim

import (
	"github.com/lapsebox/lapsebox/ptp"
)

// nikonState is the Nikon side of the simulator (docs/ptp.md §3.5).
type nikonState struct {
	sdram      map[uint32]*object // pictures in the camera's SDRAM buffer
	events     []ptp.Event        // for the polled GetEvent
	ready      []ptp.Event        // events that appear once DeviceReady is OK
	readyBusy  int
	recInMedia bool // the body has InitiateCaptureRecInMedia (0x9207)
}

// EnableRecInMedia makes a NikonD7000 behave like a newer body with
// InitiateCaptureRecInMedia (0x9207) in its operations.
func (d *Device) EnableRecInMedia() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.nikon.recInMedia = true
	d.info.OperationsSupported = append(d.info.OperationsSupported, ptp.OpNikonInitiateCaptureRecInMedia)
}

func (n *nikonState) answer(d *Device, r *request) {
	switch r.op() {
	case ptp.OpNikonChangeCameraMode:
		d.respond(r, ptp.RespOK)
	case ptp.OpNikonInitiateCaptureRecInSdram:
		d.respond(r, n.capture(d, r.param(0) != 0xFFFFFFFF, true))
	case ptp.OpNikonAfCaptureSDRAM:
		d.respond(r, n.capture(d, true, true))
	case ptp.OpNikonInitiateCaptureRecInMedia:
		d.respond(r, n.capture(d, r.param(0) == 0xFFFFFFFE, r.param(1) == 1))
	case ptp.OpNikonDeviceReady:
		if n.readyBusy > 0 {
			n.readyBusy--
			d.respond(r, ptp.RespDeviceBusy)
			return
		}
		n.events = append(n.events, n.ready...)
		n.ready = nil
		d.respond(r, ptp.RespOK)
	case ptp.OpNikonGetEvent:
		b, _ := ptp.AppendNikonEvents(nil, n.events)
		n.events = nil
		d.dataBytes(r, b)
	case ptp.OpNikonDeleteImagesInSdram:
		clear(n.sdram)
		d.respond(r, ptp.RespOK)
	default:
		d.respond(r, ptp.RespOperationNotSupported)
	}
}

// capture takes a picture into SDRAM (or onto the card).
func (n *nikonState) capture(d *Device, af, sdram bool) ptp.ResponseCode {
	switch {
	case len(n.sdram) > 0 || n.readyBusy > 0:
		return ptp.RespDeviceBusy
	case af && d.focusFail:
		return ptp.RespNikonOutOfFocus
	case !sdram && d.card.free() < uint64(d.shotSize()):
		return ptp.RespStoreFull
	}
	if n.sdram == nil {
		n.sdram = map[uint32]*object{}
	}
	for i, o := range d.capture("DSC_", ".NEF") {
		if sdram {
			o.handle = ptp.NikonSDRAMHandle + uint32(i)
			n.sdram[o.handle] = o
			n.ready = append(n.ready, ptp.Event{Code: ptp.EventNikonObjectAddedInSDRAM, Params: []uint32{o.handle}})
			continue
		}
		o.parent = d.card.folder("DCIM/100NIKON")
		d.card.add(o)
		n.ready = append(n.ready, ptp.Event{Code: ptp.EventObjectAdded, Params: []uint32{o.handle}})
	}
	if sdram {
		n.ready = append(n.ready, ptp.Event{Code: ptp.EventNikonCaptureCompleteRecInSdram, Params: []uint32{0}})
	} else {
		n.ready = append(n.ready, ptp.Event{Code: ptp.EventCaptureComplete, Params: []uint32{0}})
	}
	n.readyBusy = d.cfg.NikonBusyPolls
	return ptp.RespOK
}
