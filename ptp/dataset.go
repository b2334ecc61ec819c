package ptp

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// The decoders below reject truncated input with a *DecodeError naming the
// field and its offset, and ignore bytes after the end of the dataset
// (devices append vendor data). The encoders write exactly the fields of
// the dataset, all of them, so decode→encode→decode is stable.

// DeviceInfo is the dataset returned by GetDeviceInfo.
type DeviceInfo struct {
	StandardVersion           uint16 // 100 = 1.00
	VendorExtensionID         VendorExtension
	VendorExtensionVersion    uint16
	VendorExtensionDesc       string
	FunctionalMode            uint16
	OperationsSupported       []OpCode
	EventsSupported           []EventCode
	DevicePropertiesSupported []PropCode
	CaptureFormats            []FormatCode
	ImageFormats              []FormatCode
	Manufacturer              string
	Model                     string
	DeviceVersion             string
	SerialNumber              string
}

func au16As[T ~uint16](d *decoder, field string) []T {
	a := d.au16(field)
	if a == nil {
		return nil
	}
	t := make([]T, len(a))
	for i, v := range a {
		t[i] = T(v)
	}
	return t
}

func appendAU16[T ~uint16](e *encoder, a []T) {
	e.u32(uint32(len(a)))
	for _, v := range a {
		e.u16(uint16(v))
	}
}

// UnmarshalBinary decodes a DeviceInfo dataset. The four trailing strings
// (Manufacturer … SerialNumber) may be missing, as some devices omit them.
func (di *DeviceInfo) UnmarshalBinary(b []byte) error {
	d := decoder{dataset: "DeviceInfo", b: b}
	var v DeviceInfo
	v.StandardVersion = d.u16("StandardVersion")
	v.VendorExtensionID = VendorExtension(d.u32("VendorExtensionID"))
	v.VendorExtensionVersion = d.u16("VendorExtensionVersion")
	v.VendorExtensionDesc = d.str("VendorExtensionDesc")
	v.FunctionalMode = d.u16("FunctionalMode")
	v.OperationsSupported = au16As[OpCode](&d, "OperationsSupported")
	v.EventsSupported = au16As[EventCode](&d, "EventsSupported")
	v.DevicePropertiesSupported = au16As[PropCode](&d, "DevicePropertiesSupported")
	v.CaptureFormats = au16As[FormatCode](&d, "CaptureFormats")
	v.ImageFormats = au16As[FormatCode](&d, "ImageFormats")
	v.Manufacturer = d.optStr("Manufacturer")
	v.Model = d.optStr("Model")
	v.DeviceVersion = d.optStr("DeviceVersion")
	v.SerialNumber = d.optStr("SerialNumber")
	if d.err != nil {
		return d.err
	}
	*di = v
	return nil
}

// AppendBinary appends the encoded DeviceInfo to b.
func (di *DeviceInfo) AppendBinary(b []byte) ([]byte, error) {
	e := encoder{dataset: "DeviceInfo", b: b}
	e.u16(di.StandardVersion)
	e.u32(uint32(di.VendorExtensionID))
	e.u16(di.VendorExtensionVersion)
	e.str("VendorExtensionDesc", di.VendorExtensionDesc)
	e.u16(di.FunctionalMode)
	appendAU16(&e, di.OperationsSupported)
	appendAU16(&e, di.EventsSupported)
	appendAU16(&e, di.DevicePropertiesSupported)
	appendAU16(&e, di.CaptureFormats)
	appendAU16(&e, di.ImageFormats)
	e.str("Manufacturer", di.Manufacturer)
	e.str("Model", di.Model)
	e.str("DeviceVersion", di.DeviceVersion)
	e.str("SerialNumber", di.SerialNumber)
	if e.err != nil {
		return b, e.err
	}
	return e.b, nil
}

// MarshalBinary encodes the DeviceInfo.
func (di *DeviceInfo) MarshalBinary() ([]byte, error) { return di.AppendBinary(nil) }

// Supports reports whether the device lists op among its operations.
func (di *DeviceInfo) Supports(op OpCode) bool { return slices.Contains(di.OperationsSupported, op) }

// SupportsEvent reports whether the device lists ev among its events.
func (di *DeviceInfo) SupportsEvent(ev EventCode) bool {
	return slices.Contains(di.EventsSupported, ev)
}

// SupportsProp reports whether the device lists p among its properties.
func (di *DeviceInfo) SupportsProp(p PropCode) bool {
	return slices.Contains(di.DevicePropertiesSupported, p)
}

// USB vendor IDs used to correct a missing or generic VendorExtensionID.
const (
	usbVendorCanon = 0x04A9
	usbVendorNikon = 0x04B0
)

// Vendor returns the vendor extension to interpret vendor codes with. Newer
// Canon and Nikon bodies report Microsoft (MTP), none or 0xFFFFFFFF; then the
// USB vendor ID (0 if unknown) or the Manufacturer string decides, as
// libgphoto2 does.
func (di *DeviceInfo) Vendor(usbVendorID uint16) VendorExtension {
	switch di.VendorExtensionID {
	case VendorNone, VendorMicrosoft, VendorUnknown:
	default:
		return di.VendorExtensionID
	}
	m := strings.ToLower(di.Manufacturer)
	switch {
	case usbVendorID == usbVendorCanon || strings.Contains(m, "canon"):
		return VendorCanon
	case usbVendorID == usbVendorNikon || strings.Contains(m, "nikon"):
		return VendorNikon
	}
	return di.VendorExtensionID
}

// StorageInfo is the dataset returned by GetStorageInfo.
type StorageInfo struct {
	StorageType        StorageType
	FilesystemType     FilesystemType
	AccessCapability   AccessCapability
	MaxCapacity        uint64 // bytes
	FreeSpaceInBytes   uint64 // may exceed MaxCapacity on some devices (QEMU)
	FreeSpaceInImages  uint32 // 0xFFFFFFFF: unknown
	StorageDescription string
	VolumeLabel        string
}

// UnmarshalBinary decodes a StorageInfo dataset.
func (si *StorageInfo) UnmarshalBinary(b []byte) error {
	d := decoder{dataset: "StorageInfo", b: b}
	var v StorageInfo
	v.StorageType = StorageType(d.u16("StorageType"))
	v.FilesystemType = FilesystemType(d.u16("FilesystemType"))
	v.AccessCapability = AccessCapability(d.u16("AccessCapability"))
	v.MaxCapacity = d.u64("MaxCapacity")
	v.FreeSpaceInBytes = d.u64("FreeSpaceInBytes")
	v.FreeSpaceInImages = d.u32("FreeSpaceInImages")
	v.StorageDescription = d.str("StorageDescription")
	v.VolumeLabel = d.str("VolumeLabel")
	if d.err != nil {
		return d.err
	}
	*si = v
	return nil
}

// AppendBinary appends the encoded StorageInfo to b.
func (si *StorageInfo) AppendBinary(b []byte) ([]byte, error) {
	e := encoder{dataset: "StorageInfo", b: b}
	e.u16(uint16(si.StorageType))
	e.u16(uint16(si.FilesystemType))
	e.u16(uint16(si.AccessCapability))
	e.u64(si.MaxCapacity)
	e.u64(si.FreeSpaceInBytes)
	e.u32(si.FreeSpaceInImages)
	e.str("StorageDescription", si.StorageDescription)
	e.str("VolumeLabel", si.VolumeLabel)
	if e.err != nil {
		return b, e.err
	}
	return e.b, nil
}

// MarshalBinary encodes the StorageInfo.
func (si *StorageInfo) MarshalBinary() ([]byte, error) { return si.AppendBinary(nil) }

// ObjectInfo is the dataset returned by GetObjectInfo.
type ObjectInfo struct {
	StorageID           uint32
	Format              FormatCode
	ProtectionStatus    uint16 // 0 none, 1 read-only
	CompressedSize      uint32 // 0xFFFFFFFF: 4 GiB or more
	ThumbFormat         FormatCode
	ThumbCompressedSize uint32
	ThumbPixWidth       uint32
	ThumbPixHeight      uint32
	ImagePixWidth       uint32
	ImagePixHeight      uint32
	ImageBitDepth       uint32
	ParentObject        uint32 // 0: in the root of the store
	AssociationType     AssociationType
	AssociationDesc     uint32
	SequenceNumber      uint32
	Filename            string
	CaptureDate         string // "YYYYMMDDThhmmss[.s][Z|±hhmm]"; see ParseDateTime
	ModificationDate    string
	Keywords            string
}

// UnmarshalBinary decodes an ObjectInfo dataset. The trailing strings
// (CaptureDate, ModificationDate, Keywords) may be missing.
func (oi *ObjectInfo) UnmarshalBinary(b []byte) error {
	d := decoder{dataset: "ObjectInfo", b: b}
	var v ObjectInfo
	v.StorageID = d.u32("StorageID")
	v.Format = FormatCode(d.u16("Format"))
	v.ProtectionStatus = d.u16("ProtectionStatus")
	v.CompressedSize = d.u32("CompressedSize")
	v.ThumbFormat = FormatCode(d.u16("ThumbFormat"))
	v.ThumbCompressedSize = d.u32("ThumbCompressedSize")
	v.ThumbPixWidth = d.u32("ThumbPixWidth")
	v.ThumbPixHeight = d.u32("ThumbPixHeight")
	v.ImagePixWidth = d.u32("ImagePixWidth")
	v.ImagePixHeight = d.u32("ImagePixHeight")
	v.ImageBitDepth = d.u32("ImageBitDepth")
	v.ParentObject = d.u32("ParentObject")
	v.AssociationType = AssociationType(d.u16("AssociationType"))
	v.AssociationDesc = d.u32("AssociationDesc")
	v.SequenceNumber = d.u32("SequenceNumber")
	v.Filename = d.str("Filename")
	v.CaptureDate = d.optStr("CaptureDate")
	v.ModificationDate = d.optStr("ModificationDate")
	v.Keywords = d.optStr("Keywords")
	if d.err != nil {
		return d.err
	}
	*oi = v
	return nil
}

// AppendBinary appends the encoded ObjectInfo to b.
func (oi *ObjectInfo) AppendBinary(b []byte) ([]byte, error) {
	e := encoder{dataset: "ObjectInfo", b: b}
	e.u32(oi.StorageID)
	e.u16(uint16(oi.Format))
	e.u16(oi.ProtectionStatus)
	e.u32(oi.CompressedSize)
	e.u16(uint16(oi.ThumbFormat))
	e.u32(oi.ThumbCompressedSize)
	e.u32(oi.ThumbPixWidth)
	e.u32(oi.ThumbPixHeight)
	e.u32(oi.ImagePixWidth)
	e.u32(oi.ImagePixHeight)
	e.u32(oi.ImageBitDepth)
	e.u32(oi.ParentObject)
	e.u16(uint16(oi.AssociationType))
	e.u32(oi.AssociationDesc)
	e.u32(oi.SequenceNumber)
	e.str("Filename", oi.Filename)
	e.str("CaptureDate", oi.CaptureDate)
	e.str("ModificationDate", oi.ModificationDate)
	e.str("Keywords", oi.Keywords)
	if e.err != nil {
		return b, e.err
	}
	return e.b, nil
}

// MarshalBinary encodes the ObjectInfo.
func (oi *ObjectInfo) MarshalBinary() ([]byte, error) { return oi.AppendBinary(nil) }

// ParseDateTime parses a PTP DateTime string, "YYYYMMDDThhmmss" optionally
// followed by tenths of a second (".s") and a zone ("Z" or "±hhmm"). Without
// a zone the time is in loc (cameras keep local time); a bare trailing "."
// is tolerated.
func ParseDateTime(s string, loc *time.Location) (time.Time, error) {
	if len(s) < 15 {
		return time.Time{}, fmt.Errorf("ptp: DateTime %q: too short", s)
	}
	t, err := time.ParseInLocation("20060102T150405", s[:15], loc)
	if err != nil {
		return time.Time{}, fmt.Errorf("ptp: DateTime %q: %v", s, err)
	}
	rest := s[15:]
	if len(rest) >= 2 && rest[0] == '.' && rest[1] >= '0' && rest[1] <= '9' {
		t = t.Add(time.Duration(rest[1]-'0') * 100 * time.Millisecond)
		rest = rest[2:]
	} else if strings.HasPrefix(rest, ".") {
		rest = rest[1:]
	}
	switch {
	case rest == "":
		return t, nil
	case rest == "Z":
		return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC), nil
	case len(rest) == 5 && (rest[0] == '+' || rest[0] == '-'):
		z, err := time.Parse("-0700", rest)
		if err != nil {
			return time.Time{}, fmt.Errorf("ptp: DateTime %q: bad zone", s)
		}
		return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), z.Location()), nil
	}
	return time.Time{}, fmt.Errorf("ptp: DateTime %q: unexpected %q after the time", s, rest)
}

// FormatDateTime formats t as a PTP DateTime string without zone, in t's
// location: "YYYYMMDDThhmmss".
func FormatDateTime(t time.Time) string { return t.Format("20060102T150405") }

// DevicePropDesc is the dataset returned by GetDevicePropDesc. Default,
// Current, Min, Max, Step and the elements of Enum hold values of Type (see
// DecodeValue for the Go types).
type DevicePropDesc struct {
	Code     PropCode
	Type     DataType
	Writable bool // GetSet: the property can be set
	Default  any  // FactoryDefaultValue
	Current  any  // CurrentValue
	Form     Form
	Min      any   // FormRange
	Max      any   // FormRange
	Step     any   // FormRange
	Enum     []any // FormEnumeration
}

// UnmarshalBinary decodes a DevicePropDesc dataset.
func (pd *DevicePropDesc) UnmarshalBinary(b []byte) error {
	d := decoder{dataset: "DevicePropDesc", b: b}
	var v DevicePropDesc
	v.Code = PropCode(d.u16("Code"))
	typeOff := d.off
	v.Type = DataType(d.u16("Type"))
	if d.err == nil && v.Type != TypeString && v.Type.Elem().size() == 0 {
		d.fail("Type", typeOff, fmt.Errorf("unsupported data type %v", v.Type))
	}
	v.Writable = d.u8("Writable") != 0
	v.Default = d.value("Default", v.Type)
	v.Current = d.value("Current", v.Type)
	formOff := d.off
	v.Form = Form(d.u8("Form"))
	switch {
	case d.err != nil:
	case v.Form == FormNone:
	case v.Form == FormRange:
		if v.Type == TypeString || v.Type.IsArray() {
			d.fail("Form", formOff, fmt.Errorf("range form for data type %v", v.Type))
			break
		}
		v.Min = d.value("Min", v.Type)
		v.Max = d.value("Max", v.Type)
		v.Step = d.value("Step", v.Type)
	case v.Form == FormEnumeration:
		n := int(d.u16("EnumCount"))
		if d.err != nil {
			break
		}
		// Every value takes at least one byte (four for an array): check
		// before allocating.
		min := 1
		if v.Type.IsArray() {
			min = 4
		} else if v.Type != TypeString {
			min = v.Type.size()
		}
		if n*min > len(b)-d.off {
			d.fail("EnumCount", d.off-2, fmt.Errorf("%w: %d values, have %d bytes", errTruncated, n, len(b)-d.off))
			break
		}
		v.Enum = make([]any, n)
		for i := range v.Enum {
			v.Enum[i] = d.value("Enum", v.Type)
			if d.err != nil {
				d.err.(*DecodeError).Field = fmt.Sprintf("Enum[%d]", i)
				break
			}
		}
	default:
		d.fail("Form", formOff, fmt.Errorf("unknown form flag %d", v.Form))
	}
	if d.err != nil {
		return d.err
	}
	*pd = v
	return nil
}

// AppendBinary appends the encoded DevicePropDesc to b. It fails if a value
// does not have the Go type of Type, or if Form is unknown.
func (pd *DevicePropDesc) AppendBinary(b []byte) ([]byte, error) {
	e := encoder{dataset: "DevicePropDesc", b: b}
	e.u16(uint16(pd.Code))
	e.u16(uint16(pd.Type))
	if pd.Writable {
		e.u8(1)
	} else {
		e.u8(0)
	}
	e.value("Default", pd.Type, pd.Default)
	e.value("Current", pd.Type, pd.Current)
	e.u8(uint8(pd.Form))
	switch pd.Form {
	case FormNone:
	case FormRange:
		e.value("Min", pd.Type, pd.Min)
		e.value("Max", pd.Type, pd.Max)
		e.value("Step", pd.Type, pd.Step)
	case FormEnumeration:
		if len(pd.Enum) > 0xFFFF {
			return b, fmt.Errorf("ptp: DevicePropDesc.Enum: %d values, more than 65535", len(pd.Enum))
		}
		e.u16(uint16(len(pd.Enum)))
		for i, x := range pd.Enum {
			e.value(fmt.Sprintf("Enum[%d]", i), pd.Type, x)
		}
	default:
		return b, fmt.Errorf("ptp: DevicePropDesc.Form: unknown form flag %d", pd.Form)
	}
	if e.err != nil {
		return b, e.err
	}
	return e.b, nil
}

// MarshalBinary encodes the DevicePropDesc.
func (pd *DevicePropDesc) MarshalBinary() ([]byte, error) { return pd.AppendBinary(nil) }
