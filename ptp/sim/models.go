package sim

import (
	"slices"

	"github.com/lapsebox/lapsebox/ptp"
)

// deviceInfo returns the model's DeviceInfo.
func deviceInfo(cfg Config) *ptp.DeviceInfo {
	std := []ptp.OpCode{
		ptp.OpGetDeviceInfo, ptp.OpOpenSession, ptp.OpCloseSession, ptp.OpGetStorageIDs,
		ptp.OpGetStorageInfo, ptp.OpGetNumObjects, ptp.OpGetObjectHandles, ptp.OpGetObjectInfo,
		ptp.OpGetObject, ptp.OpGetThumb, ptp.OpDeleteObject,
	}
	props := []ptp.OpCode{ptp.OpGetDevicePropDesc, ptp.OpGetDevicePropValue, ptp.OpSetDevicePropValue}
	switch cfg.Model {
	case CanonEOS600D:
		// The 600D's lists (docs/ptp.md §2.5, §2.6, §3.1; testdata/deviceinfo_eos600d.hex).
		ops := slices.Concat(std, []ptp.OpCode{ptp.OpSendObjectInfo, ptp.OpSendObject}, props, []ptp.OpCode{
			ptp.OpGetPartialObject,
			ptp.OpEOSGetStorageIDs, ptp.OpEOSGetStorageInfo, ptp.OpEOSGetPartialObject,
			ptp.OpEOSGetDeviceInfoEx, ptp.OpEOSGetObjectInfoEx, ptp.OpEOSRemoteRelease,
			ptp.OpEOSSetDevicePropValueEx, ptp.OpEOSSetRemoteMode, ptp.OpEOSSetEventMode,
			ptp.OpEOSGetEvent, ptp.OpEOSTransferComplete, ptp.OpEOSPCHDDCapacity,
			ptp.OpEOSSetUILock, ptp.OpEOSResetUILock, ptp.OpEOSKeepDeviceOn,
			ptp.OpEOSRequestDevicePropValue, ptp.OpEOSRemoteReleaseOn, ptp.OpEOSRemoteReleaseOff,
			ptp.OpEOSAfCancel,
		})
		return &ptp.DeviceInfo{
			StandardVersion: 100, VendorExtensionID: ptp.VendorCanon, VendorExtensionVersion: 100,
			OperationsSupported: ops,
			EventsSupported: []ptp.EventCode{ptp.EventRequestObjectTransfer, ptp.EventStoreAdded,
				ptp.EventStoreRemoved, ptp.EventObjectRemoved, ptp.EventObjectAdded,
				ptp.EventObjectInfoChanged, ptp.EventEOSRequestGetEvent},
			DevicePropertiesSupported: []ptp.PropCode{ptp.PropBatteryLevel, ptp.PropMTPDeviceFriendlyName,
				ptp.PropMTPSessionInitiatorInfo, ptp.PropMTPPerceivedDeviceType, ptp.PropMTPUseDeviceStage},
			CaptureFormats: []ptp.FormatCode{ptp.FormatEXIFJPEG},
			ImageFormats: []ptp.FormatCode{ptp.FormatAssociation, ptp.FormatScript, ptp.FormatDPOF,
				ptp.FormatAVI, ptp.FormatEXIFJPEG, ptp.FormatCanonCR2, ptp.FormatCanonMOV},
			Manufacturer: "Canon Inc.", Model: "Canon EOS 600D", DeviceVersion: "3-1.0.2",
			SerialNumber: cfg.SerialNumber,
		}
	case NikonD7000:
		ops := slices.Concat(std, []ptp.OpCode{ptp.OpInitiateCapture}, props, []ptp.OpCode{
			ptp.OpGetPartialObject,
			ptp.OpNikonInitiateCaptureRecInSdram, ptp.OpNikonChangeCameraMode,
			ptp.OpNikonDeleteImagesInSdram, ptp.OpNikonGetEvent, ptp.OpNikonDeviceReady,
			ptp.OpNikonAfCaptureSDRAM,
		})
		return &ptp.DeviceInfo{
			StandardVersion: 100, VendorExtensionID: ptp.VendorNikon, VendorExtensionVersion: 100,
			VendorExtensionDesc: "Nikon PTP Extensions",
			OperationsSupported: ops,
			EventsSupported: []ptp.EventCode{ptp.EventObjectAdded, ptp.EventDevicePropChanged,
				ptp.EventDeviceInfoChanged, ptp.EventCaptureComplete,
				ptp.EventNikonObjectAddedInSDRAM, ptp.EventNikonCaptureCompleteRecInSdram},
			DevicePropertiesSupported: []ptp.PropCode{ptp.PropBatteryLevel, ptp.PropCompressionSetting,
				ptp.PropWhiteBalance, ptp.PropFNumber, ptp.PropExposureTime, ptp.PropExposureIndex},
			CaptureFormats: []ptp.FormatCode{ptp.FormatEXIFJPEG, ptp.FormatUndefined},
			ImageFormats:   []ptp.FormatCode{ptp.FormatAssociation, ptp.FormatEXIFJPEG, ptp.FormatUndefined},
			Manufacturer:   "Nikon Corporation", Model: "D7000", DeviceVersion: "V1.03",
			SerialNumber: cfg.SerialNumber,
		}
	case Generic:
		return &ptp.DeviceInfo{
			StandardVersion:     100,
			OperationsSupported: slices.Concat(std, []ptp.OpCode{ptp.OpInitiateCapture}, props, []ptp.OpCode{ptp.OpGetPartialObject}),
			EventsSupported: []ptp.EventCode{ptp.EventObjectAdded, ptp.EventCaptureComplete,
				ptp.EventStoreFull, ptp.EventDevicePropChanged},
			DevicePropertiesSupported: []ptp.PropCode{ptp.PropBatteryLevel, ptp.PropWhiteBalance,
				ptp.PropFNumber, ptp.PropExposureTime, ptp.PropExposureIndex, ptp.PropArtist},
			CaptureFormats: []ptp.FormatCode{ptp.FormatEXIFJPEG, ptp.FormatDNG},
			ImageFormats:   []ptp.FormatCode{ptp.FormatAssociation, ptp.FormatEXIFJPEG, ptp.FormatDNG},
			Manufacturer:   "Acme Optics", Model: "PTP-1", DeviceVersion: "1.0",
			SerialNumber: cfg.SerialNumber,
		}
	}
	// DownloadOnly: QEMU usb-mtp's lists (docs/ptp.md §4.1).
	return &ptp.DeviceInfo{
		StandardVersion: 100, VendorExtensionID: ptp.VendorMicrosoft, VendorExtensionVersion: 100,
		OperationsSupported: slices.Concat(std[:9], []ptp.OpCode{ptp.OpDeleteObject, ptp.OpSendObjectInfo,
			ptp.OpSendObject, ptp.OpGetPartialObject, ptp.OpMTPGetObjectPropsSupported,
			ptp.OpMTPGetObjectPropDesc, ptp.OpMTPGetObjectPropValue}),
		ImageFormats: []ptp.FormatCode{ptp.FormatUndefined, ptp.FormatAssociation},
		Manufacturer: "QEMU", Model: "QEMU filesharing", DeviceVersion: "0.1",
		SerialNumber: cfg.SerialNumber,
	}
}

// Standard property values (docs/ptp.md §2.5).
var (
	// ExposureTime in 1/10000 s; 0xFFFFFFFF is bulb (Nikon).
	stdExposureTimes = []uint32{5, 10, 20, 40, 80, 167, 333, 667, 1250, 2500, 5000, 10000, 20000, 40000, 80000, 150000, 300000}
	stdFNumbers      = []uint16{280, 400, 560, 800, 1100, 1600, 2200}
	stdISOs          = []uint16{0xFFFF, 100, 200, 400, 800, 1600, 3200, 6400}
	stdWhiteBalances = []uint16{2, 4, 5, 6, 7, 1}
	// Nikon CompressionSetting: 0 JPEG Basic, 1 Normal, 2 Fine, 4 NEF,
	// 5–7 NEF+JPEG Basic/Normal/Fine (libgphoto2's Nikon table).
	nikonCompressions = []uint8{0, 1, 2, 4, 5, 6, 7}
)

func anys[T any](vs []T) []any {
	a := make([]any, len(vs))
	for i, v := range vs {
		a[i] = v
	}
	return a
}

func enumProp(code ptp.PropCode, t ptp.DataType, cur any, vals []any) *ptp.DevicePropDesc {
	return &ptp.DevicePropDesc{Code: code, Type: t, Writable: true, Default: vals[0], Current: cur, Form: ptp.FormEnumeration, Enum: vals}
}

// stdProps returns the standard properties of the model.
func stdProps(d *Device) map[ptp.PropCode]*ptp.DevicePropDesc {
	batt := &ptp.DevicePropDesc{Code: ptp.PropBatteryLevel, Type: ptp.TypeUint8, Default: uint8(100),
		Current: uint8(d.battery), Form: ptp.FormRange, Min: uint8(0), Max: uint8(100), Step: uint8(1)}
	switch d.cfg.Model {
	case CanonEOS600D:
		return map[ptp.PropCode]*ptp.DevicePropDesc{ptp.PropBatteryLevel: batt}
	case NikonD7000, Generic:
		times := stdExposureTimes
		if d.cfg.Model == NikonD7000 {
			times = append(slices.Clone(times), 0xFFFFFFFF)
		}
		m := map[ptp.PropCode]*ptp.DevicePropDesc{
			ptp.PropBatteryLevel:  batt,
			ptp.PropExposureTime:  enumProp(ptp.PropExposureTime, ptp.TypeUint32, uint32(40), anys(times)),
			ptp.PropFNumber:       enumProp(ptp.PropFNumber, ptp.TypeUint16, uint16(560), anys(stdFNumbers)),
			ptp.PropExposureIndex: enumProp(ptp.PropExposureIndex, ptp.TypeUint16, uint16(100), anys(stdISOs)),
			ptp.PropWhiteBalance:  enumProp(ptp.PropWhiteBalance, ptp.TypeUint16, uint16(2), anys(stdWhiteBalances)),
		}
		if d.cfg.Model == NikonD7000 {
			m[ptp.PropCompressionSetting] = enumProp(ptp.PropCompressionSetting, ptp.TypeUint8, nikonCompression(d.quality), anys(nikonCompressions))
		} else {
			m[ptp.PropArtist] = &ptp.DevicePropDesc{Code: ptp.PropArtist, Type: ptp.TypeString, Writable: true, Default: "", Current: d.cfg.Owner}
		}
		return m
	}
	return nil
}

func nikonCompression(q Quality) uint8 {
	switch q {
	case RAW:
		return 4
	case RAWAndJPEG:
		return 7
	}
	return 2
}

// stdProp answers GetDevicePropDesc, GetDevicePropValue and
// SetDevicePropValue.
func (d *Device) stdProp(r *request) {
	pd := d.props[ptp.PropCode(r.param(0))]
	if pd == nil {
		d.respond(r, ptp.RespDevicePropNotSupported)
		return
	}
	if pd.Code == ptp.PropBatteryLevel {
		pd.Current = uint8(d.battery)
	}
	switch r.op() {
	case ptp.OpGetDevicePropDesc:
		b, _ := pd.MarshalBinary()
		d.dataBytes(r, b)
	case ptp.OpGetDevicePropValue:
		b, _ := ptp.AppendValue(nil, pd.Type, pd.Current)
		d.dataBytes(r, b)
	case ptp.OpSetDevicePropValue:
		v, n, err := ptp.DecodeValue(pd.Type, r.data)
		switch {
		case !pd.Writable:
			d.respond(r, ptp.RespAccessDenied)
		case err != nil || n != len(r.data):
			d.respond(r, ptp.RespInvalidDevicePropFormat)
		case pd.Form == ptp.FormEnumeration && !slices.Contains(pd.Enum, v):
			d.respond(r, ptp.RespInvalidDevicePropValue)
		default:
			pd.Current = v
			if pd.Code == ptp.PropCompressionSetting {
				switch v.(uint8) {
				case 4:
					d.quality = RAW
				case 5, 6, 7:
					d.quality = RAWAndJPEG
				default:
					d.quality = JPEG
				}
			}
			d.respond(r, ptp.RespOK)
		}
	}
}
