package ptp

import "testing"

func TestCodeNames(t *testing.T) {
	tests := []struct {
		got, want string
	}{
		{OpGetObjectInfo.String(), "GetObjectInfo"},
		{OpEOSGetEvent.String(), "EOSGetEvent"},
		{OpNikonDeviceReady.String(), "NikonDeviceReady"},
		{OpCode(0x9999).String(), "0x9999"},
		{RespDeviceBusy.String(), "DeviceBusy"},
		{RespSessionAlreadyOpen.String(), "SessionAlreadyOpen"},
		{RespEOSUnknownCommand.String(), "EOSUnknownCommand/NikonHardwareError"},
		{RespEOSUnknownCommand.Name(VendorCanon), "EOSUnknownCommand"},
		{RespNikonHardwareError.Name(VendorNikon), "NikonHardwareError"},
		{ResponseCode(0xA001).Name(VendorSony), "0xA001"},
		{RespDeviceBusy.Name(VendorCanon), "DeviceBusy"},
		{RespEOSLowBattery.String(), "EOSLowBattery"},
		{EventObjectAdded.String(), "ObjectAdded"},
		{EventCode(0xC101).String(), "EOSRequestGetEvent/NikonObjectAddedInSDRAM"},
		{EventCode(0xC101).Name(VendorNikon), "NikonObjectAddedInSDRAM"},
		{EventEOSObjectAddedEx.String(), "EOSObjectAddedEx"},
		{PropBatteryLevel.String(), "BatteryLevel"},
		{PropEOSCaptureDestination.String(), "EOSCaptureDestination"},
		{PropMTPDeviceFriendlyName.Name(VendorCanon), "MTPDeviceFriendlyName"},
		{PropEOSAperture.Name(VendorCanon), "EOSAperture"},
		{FormatEXIFJPEG.String(), "EXIFJPEG"},
		{FormatCanonCR2.String(), "CanonCR2/FujiRAF"},
		{FormatCode(0xB101).Name(VendorSony), "SonyARW"},
		{TypeUint16.String(), "Uint16"},
		{(TypeArray | TypeUint8).String(), "ArrayUint8"},
		{TypeString.String(), "String"},
		{DataType(0x4020).String(), "0x4020"},
		{VendorCanon.String(), "Canon"},
		{VendorExtension(0x42).String(), "0x00000042"},
		{FormEnumeration.String(), "Enumeration"},
		{ContainerData.String(), "Data"},
		{Operation{Code: OpGetPartialObject, Params: []uint32{0x12, 0, 0x100000}}.String(), "GetPartialObject(0x12, 0x0, 0x100000)"},
		{Event{Code: EventObjectAdded, Params: []uint32{0x1f}}.String(), "ObjectAdded(0x1f)"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}
