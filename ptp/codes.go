package ptp

import (
	"fmt"
	"strings"
)

// VendorExtension is the VendorExtensionID of a DeviceInfo. It scopes the
// meaning of vendor codes: 0xA001 is a different response from a Canon and
// from a Nikon camera.
type VendorExtension uint32

// Vendor extensions seen in practice.
const (
	VendorNone      VendorExtension = 0x00000000
	VendorKodak     VendorExtension = 0x00000001
	VendorMicrosoft VendorExtension = 0x00000006 // MTP
	VendorNikon     VendorExtension = 0x0000000A
	VendorCanon     VendorExtension = 0x0000000B
	VendorFuji      VendorExtension = 0x0000000E
	VendorSony      VendorExtension = 0x00000011
	VendorPanasonic VendorExtension = 0x0000001C
	VendorUnknown   VendorExtension = 0xFFFFFFFF
)

var vendorNames = map[VendorExtension]string{
	VendorNone: "None", VendorKodak: "Kodak", VendorMicrosoft: "Microsoft",
	VendorNikon: "Nikon", VendorCanon: "Canon", VendorFuji: "Fuji",
	VendorSony: "Sony", VendorPanasonic: "Panasonic", VendorUnknown: "Unknown",
}

// String returns the vendor's name, or its number in hex.
func (v VendorExtension) String() string {
	if s, ok := vendorNames[v]; ok {
		return s
	}
	return fmt.Sprintf("0x%08X", uint32(v))
}

// codeNames names 16-bit codes: standard ones first, then per vendor.
type codeNames struct {
	std    map[uint16]string
	vendor map[VendorExtension]map[uint16]string
}

// vendorOrder fixes the order in which ambiguous vendor names are listed.
var vendorOrder = []VendorExtension{VendorCanon, VendorNikon, VendorMicrosoft, VendorSony, VendorFuji}

// name returns the name of c for vendor v. With v == VendorNone it returns
// the standard name, or every vendor name for c joined by "/".
func (n *codeNames) name(c uint16, v VendorExtension) string {
	if s, ok := n.std[c]; ok {
		return s
	}
	if v != VendorNone {
		if s, ok := n.vendor[v][c]; ok {
			return s
		}
		return fmt.Sprintf("0x%04X", c)
	}
	var all []string
	for _, vv := range vendorOrder {
		if s, ok := n.vendor[vv][c]; ok {
			all = append(all, s)
		}
	}
	if len(all) == 0 {
		return fmt.Sprintf("0x%04X", c)
	}
	return strings.Join(all, "/")
}

// OpCode is a PTP OperationCode.
type OpCode uint16

// Standard operation codes (ISO 15740).
const (
	OpGetDeviceInfo        OpCode = 0x1001
	OpOpenSession          OpCode = 0x1002
	OpCloseSession         OpCode = 0x1003
	OpGetStorageIDs        OpCode = 0x1004
	OpGetStorageInfo       OpCode = 0x1005
	OpGetNumObjects        OpCode = 0x1006
	OpGetObjectHandles     OpCode = 0x1007
	OpGetObjectInfo        OpCode = 0x1008
	OpGetObject            OpCode = 0x1009
	OpGetThumb             OpCode = 0x100A
	OpDeleteObject         OpCode = 0x100B
	OpSendObjectInfo       OpCode = 0x100C
	OpSendObject           OpCode = 0x100D
	OpInitiateCapture      OpCode = 0x100E
	OpFormatStore          OpCode = 0x100F
	OpResetDevice          OpCode = 0x1010
	OpSelfTest             OpCode = 0x1011
	OpSetObjectProtection  OpCode = 0x1012
	OpPowerDown            OpCode = 0x1013
	OpGetDevicePropDesc    OpCode = 0x1014
	OpGetDevicePropValue   OpCode = 0x1015
	OpSetDevicePropValue   OpCode = 0x1016
	OpResetDevicePropValue OpCode = 0x1017
	OpTerminateOpenCapture OpCode = 0x1018
	OpMoveObject           OpCode = 0x1019
	OpCopyObject           OpCode = 0x101A
	OpGetPartialObject     OpCode = 0x101B
	OpInitiateOpenCapture  OpCode = 0x101C
)

// MTP operation codes (VendorMicrosoft) that plain PTP responders such as
// QEMU's usb-mtp advertise.
const (
	OpMTPGetObjectPropsSupported OpCode = 0x9801
	OpMTPGetObjectPropDesc       OpCode = 0x9802
	OpMTPGetObjectPropValue      OpCode = 0x9803
)

// Canon EOS operation codes (VendorCanon).
const (
	OpEOSGetStorageIDs          OpCode = 0x9101
	OpEOSGetStorageInfo         OpCode = 0x9102
	OpEOSGetPartialObject       OpCode = 0x9107
	OpEOSGetDeviceInfoEx        OpCode = 0x9108
	OpEOSGetObjectInfoEx        OpCode = 0x9109
	OpEOSRemoteRelease          OpCode = 0x910F
	OpEOSSetDevicePropValueEx   OpCode = 0x9110
	OpEOSSetRemoteMode          OpCode = 0x9114
	OpEOSSetEventMode           OpCode = 0x9115
	OpEOSGetEvent               OpCode = 0x9116
	OpEOSTransferComplete       OpCode = 0x9117
	OpEOSPCHDDCapacity          OpCode = 0x911A
	OpEOSSetUILock              OpCode = 0x911B
	OpEOSResetUILock            OpCode = 0x911C
	OpEOSKeepDeviceOn           OpCode = 0x911D
	OpEOSRequestDevicePropValue OpCode = 0x9127
	OpEOSRemoteReleaseOn        OpCode = 0x9128
	OpEOSRemoteReleaseOff       OpCode = 0x9129
	OpEOSGetPartialObjectEx     OpCode = 0x912C
	OpEOSAfCancel               OpCode = 0x9160
)

// Nikon operation codes (VendorNikon).
const (
	OpNikonInitiateCaptureRecInSdram OpCode = 0x90C0
	OpNikonChangeCameraMode          OpCode = 0x90C2
	OpNikonDeleteImagesInSdram       OpCode = 0x90C3
	OpNikonGetEvent                  OpCode = 0x90C7
	OpNikonDeviceReady               OpCode = 0x90C8
	OpNikonAfCaptureSDRAM            OpCode = 0x90CB
	OpNikonInitiateCaptureRecInMedia OpCode = 0x9207
	OpNikonGetEventEx                OpCode = 0x941C
)

var opNames = codeNames{
	std: map[uint16]string{
		0x1001: "GetDeviceInfo", 0x1002: "OpenSession", 0x1003: "CloseSession",
		0x1004: "GetStorageIDs", 0x1005: "GetStorageInfo", 0x1006: "GetNumObjects",
		0x1007: "GetObjectHandles", 0x1008: "GetObjectInfo", 0x1009: "GetObject",
		0x100A: "GetThumb", 0x100B: "DeleteObject", 0x100C: "SendObjectInfo",
		0x100D: "SendObject", 0x100E: "InitiateCapture", 0x100F: "FormatStore",
		0x1010: "ResetDevice", 0x1011: "SelfTest", 0x1012: "SetObjectProtection",
		0x1013: "PowerDown", 0x1014: "GetDevicePropDesc", 0x1015: "GetDevicePropValue",
		0x1016: "SetDevicePropValue", 0x1017: "ResetDevicePropValue",
		0x1018: "TerminateOpenCapture", 0x1019: "MoveObject", 0x101A: "CopyObject",
		0x101B: "GetPartialObject", 0x101C: "InitiateOpenCapture",
	},
	vendor: map[VendorExtension]map[uint16]string{
		VendorMicrosoft: {
			0x9801: "MTPGetObjectPropsSupported", 0x9802: "MTPGetObjectPropDesc",
			0x9803: "MTPGetObjectPropValue",
		},
		VendorCanon: {
			0x9101: "EOSGetStorageIDs", 0x9102: "EOSGetStorageInfo",
			0x9107: "EOSGetPartialObject", 0x9108: "EOSGetDeviceInfoEx",
			0x9109: "EOSGetObjectInfoEx", 0x910F: "EOSRemoteRelease",
			0x9110: "EOSSetDevicePropValueEx", 0x9114: "EOSSetRemoteMode",
			0x9115: "EOSSetEventMode", 0x9116: "EOSGetEvent",
			0x9117: "EOSTransferComplete", 0x911A: "EOSPCHDDCapacity",
			0x911B: "EOSSetUILock", 0x911C: "EOSResetUILock",
			0x911D: "EOSKeepDeviceOn", 0x9127: "EOSRequestDevicePropValue",
			0x9128: "EOSRemoteReleaseOn", 0x9129: "EOSRemoteReleaseOff",
			0x912C: "EOSGetPartialObjectEx", 0x9160: "EOSAfCancel",
		},
		VendorNikon: {
			0x90C0: "NikonInitiateCaptureRecInSdram", 0x90C2: "NikonChangeCameraMode",
			0x90C3: "NikonDeleteImagesInSdram", 0x90C7: "NikonGetEvent",
			0x90C8: "NikonDeviceReady", 0x90CB: "NikonAfCaptureSDRAM",
			0x9207: "NikonInitiateCaptureRecInMedia", 0x941C: "NikonGetEventEx",
		},
	},
}

// String returns the operation's name ("GetObjectInfo", "EOSGetEvent"), or
// its code in hex if unknown.
func (c OpCode) String() string { return opNames.name(uint16(c), VendorNone) }

// Name returns the operation's name as vendor v defines it.
func (c OpCode) Name(v VendorExtension) string { return opNames.name(uint16(c), v) }

// ResponseCode is a PTP ResponseCode.
type ResponseCode uint16

// Standard response codes (ISO 15740).
const (
	RespUndefined                             ResponseCode = 0x2000
	RespOK                                    ResponseCode = 0x2001
	RespGeneralError                          ResponseCode = 0x2002
	RespSessionNotOpen                        ResponseCode = 0x2003
	RespInvalidTransactionID                  ResponseCode = 0x2004
	RespOperationNotSupported                 ResponseCode = 0x2005
	RespParameterNotSupported                 ResponseCode = 0x2006
	RespIncompleteTransfer                    ResponseCode = 0x2007
	RespInvalidStorageID                      ResponseCode = 0x2008
	RespInvalidObjectHandle                   ResponseCode = 0x2009
	RespDevicePropNotSupported                ResponseCode = 0x200A
	RespInvalidObjectFormatCode               ResponseCode = 0x200B
	RespStoreFull                             ResponseCode = 0x200C
	RespObjectWriteProtected                  ResponseCode = 0x200D
	RespStoreReadOnly                         ResponseCode = 0x200E
	RespAccessDenied                          ResponseCode = 0x200F
	RespNoThumbnailPresent                    ResponseCode = 0x2010
	RespSelfTestFailed                        ResponseCode = 0x2011
	RespPartialDeletion                       ResponseCode = 0x2012
	RespStoreNotAvailable                     ResponseCode = 0x2013
	RespSpecificationByFormatUnsupported      ResponseCode = 0x2014
	RespNoValidObjectInfo                     ResponseCode = 0x2015
	RespInvalidCodeFormat                     ResponseCode = 0x2016
	RespUnknownVendorCode                     ResponseCode = 0x2017
	RespCaptureAlreadyTerminated              ResponseCode = 0x2018
	RespDeviceBusy                            ResponseCode = 0x2019
	RespInvalidParentObject                   ResponseCode = 0x201A
	RespInvalidDevicePropFormat               ResponseCode = 0x201B
	RespInvalidDevicePropValue                ResponseCode = 0x201C
	RespInvalidParameter                      ResponseCode = 0x201D
	RespSessionAlreadyOpen                    ResponseCode = 0x201E
	RespTransactionCancelled                  ResponseCode = 0x201F
	RespSpecificationOfDestinationUnsupported ResponseCode = 0x2020
)

// Canon EOS response codes (VendorCanon).
const (
	RespEOSUnknownCommand       ResponseCode = 0xA001
	RespEOSOperationRefused     ResponseCode = 0xA005
	RespEOSLensCoverClosed      ResponseCode = 0xA006
	RespEOSLowBattery           ResponseCode = 0xA101
	RespEOSObjectNotReady       ResponseCode = 0xA102
	RespEOSCannotMakeObject     ResponseCode = 0xA104
	RespEOSMemoryStatusNotReady ResponseCode = 0xA106
)

// Nikon response codes (VendorNikon).
const (
	RespNikonHardwareError          ResponseCode = 0xA001
	RespNikonOutOfFocus             ResponseCode = 0xA002
	RespNikonChangeCameraModeFailed ResponseCode = 0xA003
	RespNikonInvalidStatus          ResponseCode = 0xA004
	RespNikonShutterSpeedBulb       ResponseCode = 0xA008
	RespNikonMirrorUpSequence       ResponseCode = 0xA009
	RespNikonNotLiveView            ResponseCode = 0xA00B
	RespNikonBulbReleaseBusy        ResponseCode = 0xA200
	RespNikonSilentReleaseBusy      ResponseCode = 0xA201
	RespNikonWaiting2ndRelease      ResponseCode = 0xA207
)

var respNames = codeNames{
	std: map[uint16]string{
		0x2000: "Undefined", 0x2001: "OK", 0x2002: "GeneralError",
		0x2003: "SessionNotOpen", 0x2004: "InvalidTransactionID",
		0x2005: "OperationNotSupported", 0x2006: "ParameterNotSupported",
		0x2007: "IncompleteTransfer", 0x2008: "InvalidStorageID",
		0x2009: "InvalidObjectHandle", 0x200A: "DevicePropNotSupported",
		0x200B: "InvalidObjectFormatCode", 0x200C: "StoreFull",
		0x200D: "ObjectWriteProtected", 0x200E: "StoreReadOnly",
		0x200F: "AccessDenied", 0x2010: "NoThumbnailPresent",
		0x2011: "SelfTestFailed", 0x2012: "PartialDeletion",
		0x2013: "StoreNotAvailable", 0x2014: "SpecificationByFormatUnsupported",
		0x2015: "NoValidObjectInfo", 0x2016: "InvalidCodeFormat",
		0x2017: "UnknownVendorCode", 0x2018: "CaptureAlreadyTerminated",
		0x2019: "DeviceBusy", 0x201A: "InvalidParentObject",
		0x201B: "InvalidDevicePropFormat", 0x201C: "InvalidDevicePropValue",
		0x201D: "InvalidParameter", 0x201E: "SessionAlreadyOpen",
		0x201F: "TransactionCancelled", 0x2020: "SpecificationOfDestinationUnsupported",
	},
	vendor: map[VendorExtension]map[uint16]string{
		VendorCanon: {
			0xA001: "EOSUnknownCommand", 0xA005: "EOSOperationRefused",
			0xA006: "EOSLensCoverClosed", 0xA101: "EOSLowBattery",
			0xA102: "EOSObjectNotReady", 0xA104: "EOSCannotMakeObject",
			0xA106: "EOSMemoryStatusNotReady",
		},
		VendorNikon: {
			0xA001: "NikonHardwareError", 0xA002: "NikonOutOfFocus",
			0xA003: "NikonChangeCameraModeFailed", 0xA004: "NikonInvalidStatus",
			0xA008: "NikonShutterSpeedBulb", 0xA009: "NikonMirrorUpSequence",
			0xA00B: "NikonNotLiveView", 0xA200: "NikonBulbReleaseBusy",
			0xA201: "NikonSilentReleaseBusy", 0xA207: "NikonWaiting2ndRelease",
		},
	},
}

// String returns the response's name ("DeviceBusy"). A vendor code that
// several vendors define lists every name ("EOSUnknownCommand/NikonHardwareError");
// use Name to pick one.
func (c ResponseCode) String() string { return respNames.name(uint16(c), VendorNone) }

// Name returns the response's name as vendor v defines it.
func (c ResponseCode) Name(v VendorExtension) string { return respNames.name(uint16(c), v) }

// EventCode is a PTP EventCode, from the interrupt endpoint or from a
// vendor's polled event list (Canon EOS GetEvent records use the same space).
type EventCode uint16

// Standard event codes (ISO 15740).
const (
	EventCancelTransaction     EventCode = 0x4001
	EventObjectAdded           EventCode = 0x4002
	EventObjectRemoved         EventCode = 0x4003
	EventStoreAdded            EventCode = 0x4004
	EventStoreRemoved          EventCode = 0x4005
	EventDevicePropChanged     EventCode = 0x4006
	EventObjectInfoChanged     EventCode = 0x4007
	EventDeviceInfoChanged     EventCode = 0x4008
	EventRequestObjectTransfer EventCode = 0x4009
	EventStoreFull             EventCode = 0x400A
	EventDeviceReset           EventCode = 0x400B
	EventStorageInfoChanged    EventCode = 0x400C
	EventCaptureComplete       EventCode = 0x400D
	EventUnreportedStatus      EventCode = 0x400E
)

// Canon EOS event codes (VendorCanon): 0xC101 on the interrupt endpoint, the
// rest as record codes in GetEvent (0x9116) data.
const (
	EventEOSRequestGetEvent       EventCode = 0xC101
	EventEOSObjectAddedEx         EventCode = 0xC181
	EventEOSObjectRemoved         EventCode = 0xC182
	EventEOSStorageStatusChanged  EventCode = 0xC184
	EventEOSStorageInfoChanged    EventCode = 0xC185
	EventEOSRequestObjectTransfer EventCode = 0xC186
	EventEOSObjectInfoChangedEx   EventCode = 0xC187
	EventEOSObjectContentChanged  EventCode = 0xC188
	EventEOSPropValueChanged      EventCode = 0xC189
	EventEOSAvailListChanged      EventCode = 0xC18A
	EventEOSCameraStatusChanged   EventCode = 0xC18B
	EventEOSWillSoonShutdown      EventCode = 0xC18D
	EventEOSShutdownTimerUpdated  EventCode = 0xC18E
	EventEOSOLCInfoChanged        EventCode = 0xC1A5
)

// Nikon event codes (VendorNikon).
const (
	EventNikonObjectAddedInSDRAM        EventCode = 0xC101
	EventNikonCaptureCompleteRecInSdram EventCode = 0xC102
)

var eventNames = codeNames{
	std: map[uint16]string{
		0x4001: "CancelTransaction", 0x4002: "ObjectAdded", 0x4003: "ObjectRemoved",
		0x4004: "StoreAdded", 0x4005: "StoreRemoved", 0x4006: "DevicePropChanged",
		0x4007: "ObjectInfoChanged", 0x4008: "DeviceInfoChanged",
		0x4009: "RequestObjectTransfer", 0x400A: "StoreFull", 0x400B: "DeviceReset",
		0x400C: "StorageInfoChanged", 0x400D: "CaptureComplete",
		0x400E: "UnreportedStatus",
	},
	vendor: map[VendorExtension]map[uint16]string{
		VendorCanon: {
			0xC101: "EOSRequestGetEvent", 0xC181: "EOSObjectAddedEx",
			0xC182: "EOSObjectRemoved", 0xC184: "EOSStorageStatusChanged",
			0xC185: "EOSStorageInfoChanged", 0xC186: "EOSRequestObjectTransfer",
			0xC187: "EOSObjectInfoChangedEx", 0xC188: "EOSObjectContentChanged",
			0xC189: "EOSPropValueChanged", 0xC18A: "EOSAvailListChanged",
			0xC18B: "EOSCameraStatusChanged", 0xC18D: "EOSWillSoonShutdown",
			0xC18E: "EOSShutdownTimerUpdated", 0xC1A5: "EOSOLCInfoChanged",
		},
		VendorNikon: {
			0xC101: "NikonObjectAddedInSDRAM", 0xC102: "NikonCaptureCompleteRecInSdram",
		},
	},
}

// String returns the event's name ("ObjectAdded"); ambiguous vendor codes
// list every vendor's name. Use Name to pick one.
func (c EventCode) String() string { return eventNames.name(uint16(c), VendorNone) }

// Name returns the event's name as vendor v defines it.
func (c EventCode) Name(v VendorExtension) string { return eventNames.name(uint16(c), v) }

// PropCode is a PTP DevicePropCode.
type PropCode uint16

// Standard device property codes (ISO 15740).
const (
	PropBatteryLevel             PropCode = 0x5001
	PropFunctionalMode           PropCode = 0x5002
	PropImageSize                PropCode = 0x5003
	PropCompressionSetting       PropCode = 0x5004
	PropWhiteBalance             PropCode = 0x5005
	PropRGBGain                  PropCode = 0x5006
	PropFNumber                  PropCode = 0x5007
	PropFocalLength              PropCode = 0x5008
	PropFocusDistance            PropCode = 0x5009
	PropFocusMode                PropCode = 0x500A
	PropExposureMeteringMode     PropCode = 0x500B
	PropFlashMode                PropCode = 0x500C
	PropExposureTime             PropCode = 0x500D
	PropExposureProgramMode      PropCode = 0x500E
	PropExposureIndex            PropCode = 0x500F
	PropExposureBiasCompensation PropCode = 0x5010
	PropDateTime                 PropCode = 0x5011
	PropCaptureDelay             PropCode = 0x5012
	PropStillCaptureMode         PropCode = 0x5013
	PropContrast                 PropCode = 0x5014
	PropSharpness                PropCode = 0x5015
	PropDigitalZoom              PropCode = 0x5016
	PropEffectMode               PropCode = 0x5017
	PropBurstNumber              PropCode = 0x5018
	PropBurstInterval            PropCode = 0x5019
	PropTimelapseNumber          PropCode = 0x501A
	PropTimelapseInterval        PropCode = 0x501B
	PropFocusMeteringMode        PropCode = 0x501C
	PropUploadURL                PropCode = 0x501D
	PropArtist                   PropCode = 0x501E
	PropCopyrightInfo            PropCode = 0x501F
)

// MTP device property codes (VendorMicrosoft) that Canon EOS bodies list in
// their DeviceInfo.
const (
	PropMTPUseDeviceStage       PropCode = 0xD303
	PropMTPDeviceFriendlyName   PropCode = 0xD402
	PropMTPSessionInitiatorInfo PropCode = 0xD406
	PropMTPPerceivedDeviceType  PropCode = 0xD407
)

// Canon EOS device property codes (VendorCanon). Their values arrive in
// GetEvent records and are set with EOSSetDevicePropValueEx.
const (
	PropEOSAperture           PropCode = 0xD101
	PropEOSShutterSpeed       PropCode = 0xD102
	PropEOSISOSpeed           PropCode = 0xD103
	PropEOSAutoExposureMode   PropCode = 0xD105
	PropEOSDriveMode          PropCode = 0xD106
	PropEOSFocusMode          PropCode = 0xD108
	PropEOSWhiteBalance       PropCode = 0xD109
	PropEOSBatteryPower       PropCode = 0xD111
	PropEOSAutoPowerOff       PropCode = 0xD114
	PropEOSAvailableShots     PropCode = 0xD11B
	PropEOSCaptureDestination PropCode = 0xD11C
	PropEOSImageFormat        PropCode = 0xD120
	PropEOSImageFormatCF      PropCode = 0xD121
	PropEOSImageFormatSD      PropCode = 0xD122
	PropEOSMirrorUpSetting    PropCode = 0xD13A
	PropEOSEVFOutputDevice    PropCode = 0xD1B0
	PropEOSMirrorLockupState  PropCode = 0xD1BF
	PropEOSFocusInfoEx        PropCode = 0xD1D3
)

var propNames = codeNames{
	std: map[uint16]string{
		0x5001: "BatteryLevel", 0x5002: "FunctionalMode", 0x5003: "ImageSize",
		0x5004: "CompressionSetting", 0x5005: "WhiteBalance", 0x5006: "RGBGain",
		0x5007: "FNumber", 0x5008: "FocalLength", 0x5009: "FocusDistance",
		0x500A: "FocusMode", 0x500B: "ExposureMeteringMode", 0x500C: "FlashMode",
		0x500D: "ExposureTime", 0x500E: "ExposureProgramMode",
		0x500F: "ExposureIndex", 0x5010: "ExposureBiasCompensation",
		0x5011: "DateTime", 0x5012: "CaptureDelay", 0x5013: "StillCaptureMode",
		0x5014: "Contrast", 0x5015: "Sharpness", 0x5016: "DigitalZoom",
		0x5017: "EffectMode", 0x5018: "BurstNumber", 0x5019: "BurstInterval",
		0x501A: "TimelapseNumber", 0x501B: "TimelapseInterval",
		0x501C: "FocusMeteringMode", 0x501D: "UploadURL", 0x501E: "Artist",
		0x501F: "CopyrightInfo",
	},
	vendor: map[VendorExtension]map[uint16]string{
		VendorMicrosoft: {
			0xD303: "MTPUseDeviceStage", 0xD402: "MTPDeviceFriendlyName",
			0xD406: "MTPSessionInitiatorInfo", 0xD407: "MTPPerceivedDeviceType",
		},
		VendorCanon: {
			0xD101: "EOSAperture", 0xD102: "EOSShutterSpeed", 0xD103: "EOSISOSpeed",
			0xD105: "EOSAutoExposureMode", 0xD106: "EOSDriveMode",
			0xD108: "EOSFocusMode", 0xD109: "EOSWhiteBalance",
			0xD111: "EOSBatteryPower", 0xD114: "EOSAutoPowerOff",
			0xD11B: "EOSAvailableShots", 0xD11C: "EOSCaptureDestination",
			0xD120: "EOSImageFormat", 0xD121: "EOSImageFormatCF",
			0xD122: "EOSImageFormatSD", 0xD13A: "EOSMirrorUpSetting",
			0xD1B0: "EOSEVFOutputDevice", 0xD1BF: "EOSMirrorLockupState",
			0xD1D3: "EOSFocusInfoEx",
		},
	},
}

// String returns the property's name ("BatteryLevel", "EOSCaptureDestination").
func (c PropCode) String() string { return propNames.name(uint16(c), VendorNone) }

// Name returns the property's name as vendor v defines it. Canon EOS bodies
// list MTP properties (0xD3xx, 0xD4xx) too, so an unknown Canon code falls
// back to the MTP name.
func (c PropCode) Name(v VendorExtension) string {
	if v == VendorCanon {
		if _, ok := propNames.vendor[VendorCanon][uint16(c)]; !ok {
			if s, ok := propNames.vendor[VendorMicrosoft][uint16(c)]; ok {
				return s
			}
		}
	}
	return propNames.name(uint16(c), v)
}

// FormatCode is a PTP ObjectFormatCode.
type FormatCode uint16

// Standard object format codes (ISO 15740).
const (
	FormatUndefined   FormatCode = 0x3000
	FormatAssociation FormatCode = 0x3001 // a folder
	FormatScript      FormatCode = 0x3002
	FormatExecutable  FormatCode = 0x3003
	FormatText        FormatCode = 0x3004
	FormatHTML        FormatCode = 0x3005
	FormatDPOF        FormatCode = 0x3006
	FormatAIFF        FormatCode = 0x3007
	FormatWAV         FormatCode = 0x3008
	FormatMP3         FormatCode = 0x3009
	FormatAVI         FormatCode = 0x300A
	FormatMPEG        FormatCode = 0x300B
	FormatASF         FormatCode = 0x300C
	FormatQuickTime   FormatCode = 0x300D
	FormatEXIFJPEG    FormatCode = 0x3801
	FormatTIFFEP      FormatCode = 0x3802
	FormatFlashPix    FormatCode = 0x3803
	FormatBMP         FormatCode = 0x3804
	FormatCIFF        FormatCode = 0x3805
	FormatGIF         FormatCode = 0x3807
	FormatJFIF        FormatCode = 0x3808
	FormatPCD         FormatCode = 0x3809
	FormatPICT        FormatCode = 0x380A
	FormatPNG         FormatCode = 0x380B
	FormatTIFF        FormatCode = 0x380D
	FormatTIFFIT      FormatCode = 0x380E
	FormatJP2         FormatCode = 0x380F
	FormatJPX         FormatCode = 0x3810
	FormatDNG         FormatCode = 0x3811
)

// Vendor object format codes. They overlap across vendors (0xB101 is a Canon
// CRW and a Sony ARW); the name of the file is the safer guide.
const (
	FormatCanonCRW  FormatCode = 0xB101
	FormatCanonCR2  FormatCode = 0xB103
	FormatCanonMOV  FormatCode = 0xB104
	FormatCanonMOV2 FormatCode = 0xB105
	FormatCanonCR3  FormatCode = 0xB108
	FormatSonyARW   FormatCode = 0xB101
	FormatFujiRAF   FormatCode = 0xB103
)

var formatNames = codeNames{
	std: map[uint16]string{
		0x3000: "Undefined", 0x3001: "Association", 0x3002: "Script",
		0x3003: "Executable", 0x3004: "Text", 0x3005: "HTML", 0x3006: "DPOF",
		0x3007: "AIFF", 0x3008: "WAV", 0x3009: "MP3", 0x300A: "AVI",
		0x300B: "MPEG", 0x300C: "ASF", 0x300D: "QuickTime", 0x3801: "EXIFJPEG",
		0x3802: "TIFFEP", 0x3803: "FlashPix", 0x3804: "BMP", 0x3805: "CIFF",
		0x3807: "GIF", 0x3808: "JFIF", 0x3809: "PCD", 0x380A: "PICT",
		0x380B: "PNG", 0x380D: "TIFF", 0x380E: "TIFFIT", 0x380F: "JP2",
		0x3810: "JPX", 0x3811: "DNG",
	},
	vendor: map[VendorExtension]map[uint16]string{
		VendorCanon: {
			0xB101: "CanonCRW", 0xB103: "CanonCR2", 0xB104: "CanonMOV",
			0xB105: "CanonMOV2", 0xB108: "CanonCR3",
		},
		VendorSony: {0xB101: "SonyARW"},
		VendorFuji: {0xB103: "FujiRAF"},
	},
}

// String returns the format's name ("EXIFJPEG"); ambiguous vendor codes
// list every vendor's name ("CanonCR2/FujiRAF").
func (c FormatCode) String() string { return formatNames.name(uint16(c), VendorNone) }

// Name returns the format's name as vendor v defines it.
func (c FormatCode) Name(v VendorExtension) string { return formatNames.name(uint16(c), v) }

// DataType is the type code of a device property value.
type DataType uint16

// Data types (ISO 15740 section 5.3). An array type is TypeArray|element.
const (
	TypeUndefined DataType = 0x0000
	TypeInt8      DataType = 0x0001
	TypeUint8     DataType = 0x0002
	TypeInt16     DataType = 0x0003
	TypeUint16    DataType = 0x0004
	TypeInt32     DataType = 0x0005
	TypeUint32    DataType = 0x0006
	TypeInt64     DataType = 0x0007
	TypeUint64    DataType = 0x0008
	TypeInt128    DataType = 0x0009
	TypeUint128   DataType = 0x000A
	TypeArray     DataType = 0x4000
	TypeString    DataType = 0xFFFF
)

var typeNames = [...]string{"Undefined", "Int8", "Uint8", "Int16", "Uint16",
	"Int32", "Uint32", "Int64", "Uint64", "Int128", "Uint128"}

// IsArray reports whether t is an array of integers.
func (t DataType) IsArray() bool { return t != TypeString && t&TypeArray != 0 }

// Elem returns the element type of an array type, or t itself otherwise.
func (t DataType) Elem() DataType {
	if t.IsArray() {
		return t &^ TypeArray
	}
	return t
}

// size returns the encoded size of one integer of type t, or 0 if t is not
// an integer type.
func (t DataType) size() int {
	switch t {
	case TypeInt8, TypeUint8:
		return 1
	case TypeInt16, TypeUint16:
		return 2
	case TypeInt32, TypeUint32:
		return 4
	case TypeInt64, TypeUint64:
		return 8
	case TypeInt128, TypeUint128:
		return 16
	}
	return 0
}

// String returns the type's name ("Uint16", "ArrayUint8", "String").
func (t DataType) String() string {
	switch {
	case t == TypeString:
		return "String"
	case t.IsArray() && int(t.Elem()) < len(typeNames) && t.Elem() != TypeUndefined:
		return "Array" + typeNames[t.Elem()]
	case int(t) < len(typeNames):
		return typeNames[t]
	}
	return fmt.Sprintf("0x%04X", uint16(t))
}

// StorageType is the kind of medium behind a StorageID.
type StorageType uint16

// Storage types.
const (
	StorageUndefined    StorageType = 0
	StorageFixedROM     StorageType = 1
	StorageRemovableROM StorageType = 2
	StorageFixedRAM     StorageType = 3
	StorageRemovableRAM StorageType = 4 // a memory card
)

// FilesystemType is the organisation of objects on a storage.
type FilesystemType uint16

// Filesystem types.
const (
	FilesystemUndefined           FilesystemType = 0
	FilesystemGenericFlat         FilesystemType = 1
	FilesystemGenericHierarchical FilesystemType = 2
	FilesystemDCF                 FilesystemType = 3
)

// AccessCapability says whether a storage can be written or objects deleted.
type AccessCapability uint16

// Access capabilities.
const (
	AccessReadWrite            AccessCapability = 0
	AccessReadOnly             AccessCapability = 1
	AccessReadOnlyWithDeletion AccessCapability = 2
)

// AssociationType is the kind of an association (folder) object.
type AssociationType uint16

// Association types.
const (
	AssociationUndefined     AssociationType = 0
	AssociationGenericFolder AssociationType = 1
)

// Form is the FormFlag of a DevicePropDesc: how the allowed values are described.
type Form uint8

// Forms of a DevicePropDesc.
const (
	FormNone        Form = 0
	FormRange       Form = 1
	FormEnumeration Form = 2
)

// String returns the form's name.
func (f Form) String() string {
	switch f {
	case FormNone:
		return "None"
	case FormRange:
		return "Range"
	case FormEnumeration:
		return "Enumeration"
	}
	return fmt.Sprintf("0x%02X", uint8(f))
}
