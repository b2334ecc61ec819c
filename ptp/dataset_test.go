package ptp

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// binaryCodec is what every dataset implements.
type binaryCodec interface {
	UnmarshalBinary([]byte) error
	MarshalBinary() ([]byte, error)
}

func TestDatasetFixtures(t *testing.T) {
	tests := []struct {
		file string
		got  binaryCodec // decoded into
		want binaryCodec
	}{
		{"deviceinfo_eos600d.hex", new(DeviceInfo), &DeviceInfo{
			StandardVersion: 100, VendorExtensionID: VendorCanon, VendorExtensionVersion: 100,
			OperationsSupported: []OpCode{
				OpGetDeviceInfo, OpOpenSession, OpCloseSession, OpGetStorageIDs, OpGetStorageInfo,
				OpGetNumObjects, OpGetObjectHandles, OpGetObjectInfo, OpGetObject, OpGetThumb,
				OpDeleteObject, OpSendObjectInfo, OpSendObject, OpGetDevicePropDesc,
				OpGetDevicePropValue, OpSetDevicePropValue, OpGetPartialObject,
				OpEOSGetStorageIDs, OpEOSGetStorageInfo, OpEOSGetPartialObject, OpEOSGetDeviceInfoEx,
				OpEOSGetObjectInfoEx, OpEOSRemoteRelease, OpEOSSetDevicePropValueEx,
				OpEOSSetRemoteMode, OpEOSSetEventMode, OpEOSGetEvent, OpEOSTransferComplete,
				OpEOSPCHDDCapacity, OpEOSSetUILock, OpEOSResetUILock, OpEOSKeepDeviceOn,
				OpEOSRequestDevicePropValue, OpEOSRemoteReleaseOn, OpEOSRemoteReleaseOff, OpEOSAfCancel,
			},
			EventsSupported: []EventCode{EventRequestObjectTransfer, EventStoreAdded, EventStoreRemoved,
				EventObjectRemoved, EventObjectAdded, EventObjectInfoChanged, EventEOSRequestGetEvent},
			DevicePropertiesSupported: []PropCode{PropBatteryLevel, PropMTPDeviceFriendlyName,
				PropMTPSessionInitiatorInfo, PropMTPPerceivedDeviceType, PropMTPUseDeviceStage},
			CaptureFormats: []FormatCode{FormatEXIFJPEG},
			ImageFormats: []FormatCode{FormatAssociation, FormatScript, FormatDPOF, FormatAVI,
				FormatEXIFJPEG, FormatCanonCR2, FormatCanonMOV},
			Manufacturer: "Canon Inc.", Model: "Canon EOS 600D", DeviceVersion: "3-1.0.2",
			SerialNumber: "2c8f3a1e9b4d4f1a8c7e",
		}},
		{"deviceinfo_qemu.hex", new(DeviceInfo), &DeviceInfo{
			StandardVersion: 100, VendorExtensionID: VendorMicrosoft, VendorExtensionVersion: 100,
			OperationsSupported: []OpCode{0x1001, 0x1002, 0x1003, 0x1004, 0x1005, 0x1006, 0x1007,
				0x1008, 0x100B, 0x100C, 0x100D, 0x1009, 0x101B, 0x9801, 0x9802, 0x9803},
			ImageFormats: []FormatCode{FormatUndefined, FormatAssociation},
			Manufacturer: "QEMU", Model: "QEMU filesharing", DeviceVersion: "0.1",
			SerialNumber: "0123456789abcdef0123456789abcdef",
		}},
		{"storageinfo_qemu.hex", new(StorageInfo), &StorageInfo{
			StorageType: StorageFixedROM, FilesystemType: FilesystemGenericHierarchical,
			AccessCapability: AccessReadOnly, MaxCapacity: 270000000000,
			FreeSpaceInBytes: 1300000000000000, FreeSpaceInImages: 0xFFFFFFFF,
			StorageDescription: "FakeCam", VolumeLabel: "123456789abcdef",
		}},
		{"storageinfo_sd.hex", new(StorageInfo), &StorageInfo{
			StorageType: StorageRemovableRAM, FilesystemType: FilesystemDCF,
			AccessCapability: AccessReadWrite, MaxCapacity: 31914983424,
			FreeSpaceInBytes: 30124343296, FreeSpaceInImages: 3402,
			StorageDescription: "SD", VolumeLabel: "EOS_DIGITAL",
		}},
		{"objectinfo_jpeg.hex", new(ObjectInfo), &ObjectInfo{
			StorageID: 0x00020001, Format: FormatEXIFJPEG, CompressedSize: 5123456,
			ThumbFormat: FormatJFIF, ThumbCompressedSize: 8000, ThumbPixWidth: 160, ThumbPixHeight: 120,
			ImagePixWidth: 5184, ImagePixHeight: 3456, ImageBitDepth: 24, ParentObject: 0x90000001,
			Filename: "IMG_0001.JPG", CaptureDate: "20261103T101500",
			ModificationDate: "20261103T101500.0",
		}},
		{"objectinfo_folder.hex", new(ObjectInfo), &ObjectInfo{
			StorageID: 0x00010001, Format: FormatAssociation, CompressedSize: 4096,
			AssociationType: AssociationGenericFolder, AssociationDesc: 1, Filename: "DCIM",
			CaptureDate: "20260101T000000Z", ModificationDate: "20261102T235959+0100",
		}},
		{"propdesc_battery.hex", new(DevicePropDesc), &DevicePropDesc{
			Code: PropBatteryLevel, Type: TypeUint8, Default: uint8(100), Current: uint8(75),
			Form: FormRange, Min: uint8(0), Max: uint8(100), Step: uint8(1),
		}},
		{"propdesc_whitebalance.hex", new(DevicePropDesc), &DevicePropDesc{
			Code: PropWhiteBalance, Type: TypeUint16, Writable: true, Default: uint16(2), Current: uint16(4),
			Form: FormEnumeration, Enum: []any{uint16(2), uint16(4), uint16(5), uint16(6), uint16(7)},
		}},
		{"propdesc_exposurebias.hex", new(DevicePropDesc), &DevicePropDesc{
			Code: PropExposureBiasCompensation, Type: TypeInt16, Writable: true,
			Default: int16(0), Current: int16(-333), Form: FormEnumeration,
			Enum: []any{int16(-1000), int16(-333), int16(0), int16(333), int16(1000)},
		}},
		{"propdesc_imagesize.hex", new(DevicePropDesc), &DevicePropDesc{
			Code: PropImageSize, Type: TypeString, Writable: true, Default: "5184x3456",
			Current: "3456x2304", Form: FormEnumeration,
			Enum: []any{"5184x3456", "3456x2304", "2592x1728"},
		}},
		{"propdesc_datetime.hex", new(DevicePropDesc), &DevicePropDesc{
			Code: PropDateTime, Type: TypeString, Writable: true, Default: "", Current: "20261103T101500",
		}},
		{"propdesc_exposuretime.hex", new(DevicePropDesc), &DevicePropDesc{
			Code: PropExposureTime, Type: TypeUint32, Writable: true, Default: uint32(10000),
			Current: uint32(125), Form: FormRange, Min: uint32(2), Max: uint32(300000), Step: uint32(1),
		}},
		{"propdesc_array.hex", new(DevicePropDesc), &DevicePropDesc{
			Code: PropEOSImageFormat, Type: TypeArray | TypeUint16,
			Default: []uint16{1, 0x10, 1, 2}, Current: []uint16{2, 0x10, 6},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			b := readHex(t, tt.file)
			if err := tt.got.UnmarshalBinary(b); err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !reflect.DeepEqual(tt.got, tt.want) {
				t.Fatalf("decode:\n got %+v\nwant %+v", tt.got, tt.want)
			}
			// The fixtures are canonical, so encoding gives them back;
			// the encoder writes the optional strings a device left out.
			enc, err := tt.want.MarshalBinary()
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			want := b
			if tt.file == "objectinfo_folder.hex" {
				want = append(b[:len(b):len(b)], 0) // Keywords ""
			}
			if !bytes.Equal(enc, want) {
				t.Fatalf("encode:\n got % x\nwant % x", enc, b)
			}
			// Bytes after the dataset are ignored (unless the dataset
			// left out optional strings: then they are read as those).
			if tt.file == "objectinfo_folder.hex" {
				return
			}
			if err := tt.got.UnmarshalBinary(append(b[:len(b):len(b)], 0xAA, 0xBB)); err != nil {
				t.Fatalf("decode with trailing bytes: %v", err)
			}
		})
	}
}

// TestDatasetTruncated cuts every fixture at every length and checks that
// the decoder either fails with a *DecodeError naming a field at an offset
// within the input, or (for the optional trailing strings) succeeds.
func TestDatasetTruncated(t *testing.T) {
	files := map[string]func() binaryCodec{
		"deviceinfo_eos600d.hex":    func() binaryCodec { return new(DeviceInfo) },
		"deviceinfo_qemu.hex":       func() binaryCodec { return new(DeviceInfo) },
		"storageinfo_qemu.hex":      func() binaryCodec { return new(StorageInfo) },
		"objectinfo_jpeg.hex":       func() binaryCodec { return new(ObjectInfo) },
		"propdesc_battery.hex":      func() binaryCodec { return new(DevicePropDesc) },
		"propdesc_whitebalance.hex": func() binaryCodec { return new(DevicePropDesc) },
		"propdesc_imagesize.hex":    func() binaryCodec { return new(DevicePropDesc) },
		"propdesc_array.hex":        func() binaryCodec { return new(DevicePropDesc) },
	}
	for file, mk := range files {
		b := readHex(t, file)
		for n := 0; n < len(b); n++ {
			err := mk().UnmarshalBinary(b[:n])
			if err == nil {
				if !strings.HasPrefix(file, "deviceinfo") && !strings.HasPrefix(file, "objectinfo") {
					t.Errorf("%s cut at %d: no error", file, n)
				}
				continue
			}
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("%s cut at %d: %T %v, want *DecodeError", file, n, err, err)
			}
			if de.Field == "" || de.Offset < 0 || de.Offset > n || !errors.Is(err, errTruncated) {
				t.Errorf("%s cut at %d: %v", file, n, err)
			}
		}
	}
}

func TestDatasetErrors(t *testing.T) {
	oi := readHex(t, "objectinfo_jpeg.hex")
	tests := []struct {
		name string
		v    binaryCodec
		b    []byte
		want string
	}{
		{"ObjectInfo filename cut", new(ObjectInfo), oi[:60],
			"ptp: ObjectInfo.Filename at offset 52: truncated: need 26 bytes, have 7"},
		{"ObjectInfo empty", new(ObjectInfo), nil,
			"ptp: ObjectInfo.StorageID at offset 0: truncated: need 4 bytes, have 0"},
		{"DeviceInfo huge array count", new(DeviceInfo),
			[]byte{100, 0, 0xB, 0, 0, 0, 100, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 1, 0},
			"ptp: DeviceInfo.OperationsSupported at offset 11: truncated: 4294967295 elements of 2 bytes, have 2 bytes"},
		{"DevicePropDesc unknown type", new(DevicePropDesc), []byte{1, 0x50, 0x0B, 0, 0, 0},
			"ptp: DevicePropDesc.Type at offset 2: unsupported data type 0x000B"},
		{"DevicePropDesc array of undefined", new(DevicePropDesc), []byte{1, 0x50, 0x00, 0x40, 0, 0},
			"ptp: DevicePropDesc.Type at offset 2: unsupported data type 0x4000"},
		{"DevicePropDesc unknown form", new(DevicePropDesc), []byte{1, 0x50, 2, 0, 0, 1, 1, 3},
			"ptp: DevicePropDesc.Form at offset 7: unknown form flag 3"},
		{"DevicePropDesc range of strings", new(DevicePropDesc), []byte{3, 0x50, 0xFF, 0xFF, 0, 0, 0, 1},
			"ptp: DevicePropDesc.Form at offset 7: range form for data type String"},
		{"DevicePropDesc enum count too large", new(DevicePropDesc), []byte{5, 0x50, 4, 0, 1, 2, 0, 2, 0, 2, 0xFF, 0xFF, 2, 0},
			"ptp: DevicePropDesc.EnumCount at offset 10: truncated: 65535 values, have 2 bytes"},
		{"DevicePropDesc enum element cut", new(DevicePropDesc), []byte{3, 0x50, 0xFF, 0xFF, 1, 0, 0, 2, 2, 0, 0, 2, 'a', 0},
			"ptp: DevicePropDesc.Enum[1] at offset 11: truncated: need 4 bytes, have 2"},
		{"StorageInfo string cut", new(StorageInfo), append(make([]byte, 26), 3, 'a', 0),
			"ptp: StorageInfo.StorageDescription at offset 26: truncated: need 6 bytes, have 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.v.UnmarshalBinary(tt.b)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("got  %v\nwant %s", err, tt.want)
			}
		})
	}
}

func TestDatasetRoundTrip(t *testing.T) {
	long := strings.Repeat("x", MaxStringLen)
	tests := []binaryCodec{
		&DeviceInfo{},
		&DeviceInfo{StandardVersion: 100, VendorExtensionID: VendorNikon, VendorExtensionDesc: "microsoft.com: 1.0",
			OperationsSupported: []OpCode{OpNikonGetEvent}, Model: long, SerialNumber: "Ω😀"},
		&StorageInfo{StorageDescription: "Ünïcode 📷", VolumeLabel: ""},
		&ObjectInfo{Filename: "DSC_0001.NEF", Keywords: "a b c", CompressedSize: 0xFFFFFFFF},
		&DevicePropDesc{Code: 0xD000, Type: TypeInt8, Default: int8(-1), Current: int8(-128),
			Form: FormRange, Min: int8(-128), Max: int8(127), Step: int8(1)},
		&DevicePropDesc{Code: 0xD001, Type: TypeInt32, Default: int32(-1), Current: int32(7)},
		&DevicePropDesc{Code: 0xD002, Type: TypeInt64, Default: int64(-1 << 62), Current: int64(1),
			Form: FormEnumeration, Enum: []any{int64(1), int64(-1)}},
		&DevicePropDesc{Code: 0xD003, Type: TypeUint64, Default: uint64(1 << 63), Current: uint64(0)},
		&DevicePropDesc{Code: 0xD004, Type: TypeInt128, Default: Int128{1, 2}, Current: Int128{^uint64(0), ^uint64(0)}},
		&DevicePropDesc{Code: 0xD005, Type: TypeUint128, Default: Uint128{3, 4}, Current: Uint128{},
			Form: FormRange, Min: Uint128{}, Max: Uint128{^uint64(0), 0}, Step: Uint128{1, 0}},
		&DevicePropDesc{Code: 0xD006, Type: TypeArray | TypeUint8, Default: []uint8{}, Current: []uint8{1, 2, 3},
			Form: FormEnumeration, Enum: []any{[]uint8{1}, []uint8{}}},
		&DevicePropDesc{Code: 0xD007, Type: TypeArray | TypeInt8, Default: []int8{-1}, Current: []int8{}},
		&DevicePropDesc{Code: 0xD008, Type: TypeArray | TypeInt16, Default: []int16{-1}, Current: []int16{2}},
		&DevicePropDesc{Code: 0xD009, Type: TypeArray | TypeInt32, Default: []int32{-1}, Current: []int32{2}},
		&DevicePropDesc{Code: 0xD00A, Type: TypeArray | TypeUint32, Default: []uint32{1}, Current: []uint32{2}},
		&DevicePropDesc{Code: 0xD00B, Type: TypeArray | TypeInt64, Default: []int64{-1}, Current: []int64{2}},
		&DevicePropDesc{Code: 0xD00C, Type: TypeArray | TypeUint64, Default: []uint64{1}, Current: []uint64{2}},
		&DevicePropDesc{Code: 0xD00D, Type: TypeArray | TypeInt128, Default: []Int128{{1, 2}}, Current: []Int128{}},
		&DevicePropDesc{Code: 0xD00E, Type: TypeArray | TypeUint128, Default: []Uint128{{1, 2}}, Current: []Uint128{}},
		&DevicePropDesc{Code: 0xD00F, Type: TypeString, Writable: true, Default: "", Current: long,
			Form: FormEnumeration, Enum: []any{"", "a", long}},
	}
	for _, want := range tests {
		b, err := want.MarshalBinary()
		if err != nil {
			t.Fatalf("%+v: encode: %v", want, err)
		}
		got := reflect.New(reflect.TypeOf(want).Elem()).Interface().(binaryCodec)
		if err := got.UnmarshalBinary(b); err != nil {
			t.Fatalf("%+v: decode: %v", want, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, want)
		}
	}
}

func TestEncodeErrors(t *testing.T) {
	tests := []struct {
		name string
		v    binaryCodec
		want string
	}{
		{"wrong Go type", &DevicePropDesc{Type: TypeUint16, Default: 5, Current: uint16(5)},
			"ptp: DevicePropDesc.Default: value of Go type int for data type Uint16"},
		{"nil value", &DevicePropDesc{Type: TypeUint8, Default: uint8(1)},
			"ptp: DevicePropDesc.Current: value of Go type <nil> for data type Uint8"},
		{"bad enum element", &DevicePropDesc{Type: TypeString, Default: "", Current: "", Form: FormEnumeration, Enum: []any{"", 1}},
			"ptp: DevicePropDesc.Enum[1]: value of Go type int for data type String"},
		{"unknown form", &DevicePropDesc{Type: TypeUint8, Default: uint8(1), Current: uint8(1), Form: 9},
			"ptp: DevicePropDesc.Form: unknown form flag 9"},
		{"unsupported type", &DevicePropDesc{Type: 0x20},
			"ptp: DevicePropDesc.Default: unsupported data type 0x0020"},
		{"string too long", &ObjectInfo{Filename: strings.Repeat("y", 255)},
			"ptp: ObjectInfo.Filename: ptp: string longer than 254 UTF-16 code units"},
		{"string with NUL", &StorageInfo{VolumeLabel: "a\x00b"},
			"ptp: StorageInfo.VolumeLabel: ptp: string contains NUL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.v.MarshalBinary()
			if err == nil || err.Error() != tt.want {
				t.Fatalf("got  %v\nwant %s", err, tt.want)
			}
		})
	}
}

func TestDeviceInfoVendor(t *testing.T) {
	tests := []struct {
		id     VendorExtension
		manuf  string
		usbVID uint16
		want   VendorExtension
	}{
		{VendorCanon, "", 0, VendorCanon},
		{VendorMicrosoft, "Canon Inc.", 0, VendorCanon},
		{VendorUnknown, "", 0x04A9, VendorCanon},
		{VendorMicrosoft, "Nikon Corporation", 0, VendorNikon},
		{VendorNone, "", 0x04B0, VendorNikon},
		{VendorMicrosoft, "QEMU", 0x46F4, VendorMicrosoft},
		{VendorSony, "Sony", 0x054C, VendorSony},
	}
	for _, tt := range tests {
		di := DeviceInfo{VendorExtensionID: tt.id, Manufacturer: tt.manuf}
		if got := di.Vendor(tt.usbVID); got != tt.want {
			t.Errorf("Vendor(%v, %q, %#x) = %v, want %v", tt.id, tt.manuf, tt.usbVID, got, tt.want)
		}
	}
	var di DeviceInfo
	if err := di.UnmarshalBinary(readHex(t, "deviceinfo_eos600d.hex")); err != nil {
		t.Fatal(err)
	}
	if !di.Supports(OpEOSRemoteReleaseOn) || di.Supports(OpInitiateCapture) ||
		!di.SupportsEvent(EventObjectAdded) || !di.SupportsProp(PropBatteryLevel) {
		t.Errorf("Supports* wrong for %+v", di)
	}
}

func TestParseDateTime(t *testing.T) {
	plus1 := time.FixedZone("", 3600)
	tests := []struct {
		in   string
		want time.Time
		err  bool
	}{
		{"20261103T101500", time.Date(2026, 11, 3, 10, 15, 0, 0, time.UTC), false},
		{"20261103T101500.5", time.Date(2026, 11, 3, 10, 15, 0, 5e8, time.UTC), false},
		{"20261103T101500.", time.Date(2026, 11, 3, 10, 15, 0, 0, time.UTC), false},
		{"20261103T101500Z", time.Date(2026, 11, 3, 10, 15, 0, 0, time.UTC), false},
		{"20261103T101500+0100", time.Date(2026, 11, 3, 10, 15, 0, 0, plus1), false},
		{"20261103T101500.0-0230", time.Date(2026, 11, 3, 10, 15, 0, 0, time.FixedZone("", -9000)), false},
		{"2026110", time.Time{}, true},
		{"20261303T101500", time.Time{}, true},
		{"20261103T101500junk", time.Time{}, true},
	}
	for _, tt := range tests {
		got, err := ParseDateTime(tt.in, time.UTC)
		if (err != nil) != tt.err || !got.Equal(tt.want) {
			t.Errorf("ParseDateTime(%q) = %v, %v; want %v, err %v", tt.in, got, err, tt.want, tt.err)
		}
	}
	if s := FormatDateTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)); s != "20260102T030405" {
		t.Errorf("FormatDateTime = %q", s)
	}
}
