package sim

import (
	"encoding/binary"
	"slices"

	"github.com/lapsebox/lapsebox/ptp"
)

// Canon EOS capture destinations (property 0xD11C): the 600D lists 2, 4
// and 6; 4 is the host ("HD"), the others the card (docs/ptp.md §3.2).
const (
	eosDestCard = 2
	eosDestHost = 4
)

// eosHostHandles is the first handle of host-target pictures.
const eosHostHandles = 0x92000001

// eosState is the Canon EOS side of the simulator.
type eosState struct {
	remote, eventMode bool
	values            map[ptp.PropCode]uint32
	strs              map[ptp.PropCode]string
	lists             map[ptp.PropCode][]uint32
	queue             []ptp.EOSEvent
	deferred          []deferredEvents
	pressed           uint32
	pcHDD             bool
	transfers         map[uint32]*object
	nextXfer          uint32
}

// deferredEvents are records that join the queue after polls more GetEvents.
type deferredEvents struct {
	polls int
	evs   []ptp.EOSEvent
}

// Property values of the 600D (codes from docs/ptp.md §3.2; libgphoto2
// config.c tables).
var (
	eosApertures = []uint32{0x20, 0x23, 0x25, 0x28, 0x2b, 0x2d, 0x30, 0x33, 0x35, 0x38, 0x3b, 0x3d,
		0x40, 0x43, 0x45, 0x48, 0x4b, 0x4d, 0x50, 0x53, 0x55, 0x58}
	eosISOs          = []uint32{0, 0x48, 0x50, 0x58, 0x60, 0x68, 0x70, 0x78}
	eosWhiteBalances = []uint32{0, 1, 2, 3, 4, 5, 6, 8, 9}
	eosDestinations  = []uint32{eosDestCard, eosDestHost, 6}
)

// eosShutterSpeeds: bulb, then 30" … 1/4000 in thirds of a stop.
func eosShutterSpeeds() []uint32 {
	s := []uint32{0x0c}
	for base := uint32(0x10); base <= 0x98; base += 8 {
		s = append(s, base, base+3, base+5)
	}
	return s
}

// eosImageFormat returns the ImageFormat value for q.
func eosImageFormat(q Quality) ptp.EOSImageFormat {
	jpg := ptp.EOSImageFile{Kind: ptp.EOSImageJPEG, Size: 0, Compression: 3}
	raw := ptp.EOSImageFile{Kind: ptp.EOSImageRAW, Size: 0, Compression: 4}
	switch q {
	case RAW:
		return ptp.EOSImageFormat{raw}
	case RAWAndJPEG:
		return ptp.EOSImageFormat{raw, jpg}
	}
	return ptp.EOSImageFormat{jpg}
}

// eosBattery maps a percentage to the 600D's BatteryPower code: 0 low,
// 5 25 %, 1 50 %, 4 75 %, 2 100 %.
func eosBattery(percent int) uint32 {
	switch {
	case percent >= 88:
		return 2
	case percent >= 63:
		return 4
	case percent >= 38:
		return 1
	case percent >= 13:
		return 5
	}
	return 0
}

func (e *eosState) init(d *Device) {
	e.values = map[ptp.PropCode]uint32{
		ptp.PropEOSAperture: 0x30, ptp.PropEOSShutterSpeed: 0x68, ptp.PropEOSISOSpeed: 0x48,
		ptp.PropEOSWhiteBalance: 0, ptp.PropEOSFocusMode: 0, ptp.PropEOSAutoPowerOff: 0,
		ptp.PropEOSBatteryPower: eosBattery(d.battery), ptp.PropEOSCaptureDestination: eosDestCard,
		ptp.PropEOSEVFOutputDevice: 1,
	}
	e.strs = map[ptp.PropCode]string{ptp.PropEOSOwner: d.cfg.Owner, ptp.PropEOSSerialNumber: d.cfg.SerialNumber}
	e.lists = map[ptp.PropCode][]uint32{
		ptp.PropEOSAperture: eosApertures, ptp.PropEOSShutterSpeed: eosShutterSpeeds(),
		ptp.PropEOSISOSpeed: eosISOs, ptp.PropEOSWhiteBalance: eosWhiteBalances,
		ptp.PropEOSCaptureDestination: eosDestinations,
	}
	e.transfers = map[uint32]*object{}
	e.nextXfer = eosHostHandles
}

// reset is what a closed session forgets.
func (e *eosState) reset() {
	e.remote, e.eventMode, e.pressed = false, false, 0
	e.queue, e.deferred = nil, nil
}

// dropTransfers forgets host-target pictures, as a camera restart does.
func (e *eosState) dropTransfers(d *Device) {
	clear(e.transfers)
	e.pcHDD = false
}

func (e *eosState) push(evs ...ptp.EOSEvent) {
	if e.eventMode {
		e.queue = append(e.queue, evs...)
	}
}

func (e *eosState) pushLater(polls int, evs ...ptp.EOSEvent) {
	if e.eventMode {
		e.deferred = append(e.deferred, deferredEvents{polls: polls, evs: evs})
	}
}

// propEvent returns the PropValueChanged record for p's current value.
func (e *eosState) propEvent(d *Device, p ptp.PropCode) ptp.EOSEvent {
	ev := ptp.EOSEvent{Code: ptp.EventEOSPropValueChanged, Prop: p}
	switch p {
	case ptp.PropEOSImageFormat:
		ev.ValueData = eosImageFormat(d.quality).AppendBinary(nil)
	case ptp.PropEOSOwner, ptp.PropEOSSerialNumber:
		ev.ValueData = append([]byte(e.strs[p]), 0)
	case ptp.PropEOSAvailableShots:
		ev.ValueData = binary.LittleEndian.AppendUint32(nil, e.availableShots(d))
	default:
		ev.ValueData = binary.LittleEndian.AppendUint32(nil, e.values[p])
	}
	return ev
}

func (e *eosState) availableShots(d *Device) uint32 {
	if e.values[ptp.PropEOSCaptureDestination] == eosDestHost {
		if e.pcHDD {
			return 9999
		}
		return 0
	}
	return uint32(min(d.card.free()/uint64(d.shotSize()), 0xFFFFFFFF))
}

func (e *eosState) setBattery(d *Device) {
	e.values[ptp.PropEOSBatteryPower] = eosBattery(d.battery)
	e.push(e.propEvent(d, ptp.PropEOSBatteryPower))
}

// initialEvents is the bulk of records after SetEventMode(1): every
// property value and every list of allowed values.
func (e *eosState) initialEvents(d *Device) []ptp.EOSEvent {
	var evs []ptp.EOSEvent
	codes := []ptp.PropCode{ptp.PropEOSAperture, ptp.PropEOSShutterSpeed, ptp.PropEOSISOSpeed,
		ptp.PropEOSWhiteBalance, ptp.PropEOSFocusMode, ptp.PropEOSBatteryPower, ptp.PropEOSAutoPowerOff,
		ptp.PropEOSCaptureDestination, ptp.PropEOSImageFormat, ptp.PropEOSAvailableShots,
		ptp.PropEOSEVFOutputDevice}
	for _, p := range codes {
		evs = append(evs, e.propEvent(d, p))
		if l, ok := e.lists[p]; ok {
			evs = append(evs, ptp.EOSEvent{Code: ptp.EventEOSAvailListChanged, Prop: p, ListType: 3, Values: slices.Clone(l)})
		}
	}
	return evs
}

// answer runs a Canon EOS operation.
func (e *eosState) answer(d *Device, r *request) {
	switch r.op() {
	case ptp.OpEOSSetRemoteMode:
		e.remote = r.param(0) != 0
		d.respond(r, ptp.RespOK)
	case ptp.OpEOSSetEventMode:
		e.eventMode = r.param(0) != 0
		if e.eventMode {
			e.queue = append(e.queue, e.initialEvents(d)...)
		}
		d.respond(r, ptp.RespOK)
	case ptp.OpEOSGetEvent:
		b, _ := ptp.AppendEOSEvents(nil, e.queue)
		e.queue = nil
		keep := e.deferred[:0]
		for _, df := range e.deferred {
			if df.polls--; df.polls <= 0 {
				e.queue = append(e.queue, df.evs...)
			} else {
				keep = append(keep, df)
			}
		}
		e.deferred = keep
		d.dataBytes(r, b)
	case ptp.OpEOSKeepDeviceOn:
		d.lastWake = d.cfg.Now()
		d.respond(r, ptp.RespOK)
	case ptp.OpEOSSetDevicePropValueEx:
		d.respond(r, e.setProp(d, r.data))
	case ptp.OpEOSRequestDevicePropValue:
		p := ptp.PropCode(r.param(0))
		s, isStr := e.strs[p]
		_, isValue := e.values[p]
		if isStr && s == "" || !isStr && !isValue && p != ptp.PropEOSAvailableShots {
			d.respond(r, ptp.RespGeneralError) // "if one of this is not present GeneralError will be returned"
			return
		}
		e.push(e.propEvent(d, p))
		d.respond(r, ptp.RespOK)
	case ptp.OpEOSRemoteReleaseOn:
		code := e.release(d, r.param(0), r.param(1) == 0)
		d.respond(r, code)
	case ptp.OpEOSRemoteReleaseOff:
		e.pressed &^= r.param(0)
		if r.param(0) == 3 {
			e.pressed = 0
		}
		d.respond(r, ptp.RespOK)
	case ptp.OpEOSRemoteRelease:
		// Results in response parameter 1 (docs/ptp.md §3.1).
		switch code := e.release(d, 3, true); code {
		case ptp.RespOK:
			e.pressed = 0
			d.respond(r, ptp.RespOK, 0)
		case ptp.RespDeviceBusy:
			if d.focusFail && e.values[ptp.PropEOSFocusMode] != 3 {
				d.respond(r, ptp.RespOK, 1) // no focus
				return
			}
			d.respond(r, code)
		case ptp.RespStoreFull:
			d.respond(r, ptp.RespOK, 7) // no more memory on card
		default:
			d.respond(r, code)
		}
	case ptp.OpEOSTransferComplete:
		if _, ok := e.transfers[r.param(0)]; !ok {
			d.respond(r, ptp.RespInvalidObjectHandle)
			return
		}
		delete(e.transfers, r.param(0))
		d.respond(r, ptp.RespOK)
	case ptp.OpEOSPCHDDCapacity:
		e.pcHDD = true
		if e.values[ptp.PropEOSCaptureDestination] == eosDestHost {
			e.pushLater(1, e.propEvent(d, ptp.PropEOSAvailableShots))
		}
		d.respond(r, ptp.RespOK)
	case ptp.OpEOSSetUILock, ptp.OpEOSResetUILock, ptp.OpEOSAfCancel:
		d.respond(r, ptp.RespOK)
	default:
		d.respond(r, ptp.RespOperationNotSupported)
	}
}

// setProp answers SetDevicePropValueEx.
func (e *eosState) setProp(d *Device, data []byte) ptp.ResponseCode {
	p, v, err := ptp.DecodeEOSSetPropValue(data)
	if err != nil {
		return ptp.RespInvalidDevicePropFormat
	}
	switch p {
	case ptp.PropEOSImageFormat, ptp.PropEOSImageFormatSD:
		f, err := ptp.DecodeEOSImageFormat(v)
		if err != nil || len(f) < 1 || len(f) > 2 {
			return ptp.RespInvalidDevicePropValue
		}
		q := JPEG
		for _, x := range f {
			if x.Kind == ptp.EOSImageRAW {
				q = RAW
			}
		}
		if q == RAW && len(f) == 2 {
			q = RAWAndJPEG
		}
		d.quality = q
		e.push(e.propEvent(d, ptp.PropEOSImageFormat), e.propEvent(d, ptp.PropEOSAvailableShots))
		return ptp.RespOK
	case ptp.PropEOSOwner:
		e.strs[p] = cString(v)
		e.push(e.propEvent(d, p))
		return ptp.RespOK
	case ptp.PropEOSBatteryPower, ptp.PropEOSAvailableShots, ptp.PropEOSFocusMode, ptp.PropEOSSerialNumber:
		return ptp.RespAccessDenied
	}
	if _, ok := e.values[p]; !ok {
		return ptp.RespDevicePropNotSupported
	}
	if len(v) != 4 {
		return ptp.RespInvalidDevicePropFormat
	}
	x := binary.LittleEndian.Uint32(v)
	if l, ok := e.lists[p]; ok && !slices.Contains(l, x) {
		return ptp.RespInvalidDevicePropValue
	}
	if p == ptp.PropEOSCaptureDestination && x == e.values[p] {
		return ptp.RespDeviceBusy // "only if it differs, otherwise we get DeviceBusy"
	}
	e.values[p] = x
	e.push(e.propEvent(d, p))
	if p == ptp.PropEOSCaptureDestination {
		e.pcHDD = false
		e.push(e.propEvent(d, ptp.PropEOSAvailableShots))
	}
	return ptp.RespOK
}

func cString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

// release answers a press of the shutter button: 1 half, 2 full, 3 both.
func (e *eosState) release(d *Device, press uint32, af bool) ptp.ResponseCode {
	if !e.remote {
		return ptp.RespEOSOperationRefused
	}
	if len(e.queue) > 0 {
		return ptp.RespDeviceBusy // undrained events: "otherwise capture might return busy"
	}
	if press == 1 {
		e.pressed |= 1
		return ptp.RespOK
	}
	if press != 2 && press != 3 {
		return ptp.RespInvalidParameter
	}
	if af && e.values[ptp.PropEOSFocusMode] != 3 && d.focusFail {
		return ptp.RespDeviceBusy // autofocus failed (gphoto2 #382)
	}
	host := e.values[ptp.PropEOSCaptureDestination] == eosDestHost
	switch {
	case host && len(e.transfers) >= d.cfg.BufferShots:
		return ptp.RespDeviceBusy // buffer full of unacknowledged pictures
	case host && !e.pcHDD, !host && d.card.free() < uint64(d.shotSize()):
		return ptp.RespStoreFull
	}
	e.pressed |= press
	d.lastWake = d.cfg.Now()
	var recs []ptp.EOSEvent
	for _, o := range d.capture("IMG_", ".CR2") {
		if host {
			o.handle = e.nextXfer
			e.nextXfer++
			e.transfers[o.handle] = o
			recs = append(recs, ptp.EOSEvent{Code: ptp.EventEOSRequestObjectTransfer, Handle: o.handle,
				Format: o.format, Size: uint32(o.size), Filename: o.name})
			continue
		}
		o.parent = d.card.folder("DCIM/100CANON")
		d.card.add(o)
		recs = append(recs, ptp.EOSEvent{Code: ptp.EventEOSObjectAddedEx, Handle: o.handle, StorageID: o.storage,
			Format: o.format, Size: uint32(o.size), Parent: o.parent, Filename: o.name})
	}
	busy := ptp.EOSEvent{Code: ptp.EventEOSCameraStatusChanged, Value: 1}
	idle := ptp.EOSEvent{Code: ptp.EventEOSCameraStatusChanged, Value: 0}
	e.pushLater(1, busy, recs[0])
	if len(recs) > 1 {
		e.pushLater(1+d.cfg.PairPolls, recs[1])
	}
	e.pushLater(1+d.cfg.PairPolls, idle, e.propEvent(d, ptp.PropEOSAvailableShots))
	return ptp.RespOK
}
