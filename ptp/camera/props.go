package camera

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/lapsebox/lapsebox/ptp"
)

// Names of the properties Props returns and Set takes.
const (
	ShutterSpeed  = "shutterspeed"  // exposure time: "1/250", `2"`, "bulb"
	Aperture      = "aperture"      // "f/5.6"
	ISO           = "iso"           // "auto", "100", …
	WhiteBalance  = "whitebalance"  // "auto", "daylight", …
	ImageFormat   = "imageformat"   // "JPG", "RAW", "RAW+JPG", …
	Battery       = "battery"       // "75%" (read-only)
	FreeSpace     = "freespace"     // "7.8 GB" on the card (read-only)
	CaptureTarget = "capturetarget" // Canon EOS: "card" or "host"
)

// Prop is a camera property with a readable value.
type Prop struct {
	Name     string   // one of the names above
	Value    string   // readable: "1/250", "f/5.6", "auto"
	Choices  []string // the values the camera accepts now, if it says
	ReadOnly bool
}

// codec translates a property's numeric values to readable strings and
// back.
type codec interface {
	format(v uint32) string
	// parse returns the value for s among choices (nil: any value).
	parse(s string, choices []uint32) (uint32, bool)
}

// named is a value and its name.
type named struct {
	v uint32
	s string
}

// table is a codec by a list of names; norm makes spellings comparable.
type table struct {
	names []named
	norm  func(string) string
}

func (t table) format(v uint32) string {
	for _, n := range t.names {
		if n.v == v {
			return n.s
		}
	}
	return fmt.Sprintf("0x%x", v)
}

func (t table) parse(s string, choices []uint32) (uint32, bool) {
	norm := t.norm
	if norm == nil {
		norm = strings.ToLower
	}
	want := norm(s)
	for _, n := range t.names {
		if norm(n.s) == want && (choices == nil || slices.Contains(choices, n.v)) {
			return n.v, true
		}
	}
	return 0, false
}

// Canon EOS shutter speed codes (docs/ptp.md §3.2; libgphoto2 config.c):
// 0x38 is 1 s, each 8 is a stop, 3 and 5 the thirds, 4 the half.
var eosShutterSpeeds = table{norm: normShutter, names: []named{
	{0x0c, "bulb"}, {0x04, "bulb"},
	{0x10, `30"`}, {0x13, `25"`}, {0x15, `20"`}, {0x18, `15"`}, {0x1b, `13"`}, {0x1d, `10"`},
	{0x20, `8"`}, {0x23, `6"`}, {0x25, `5"`}, {0x28, `4"`}, {0x2b, `3.2"`}, {0x2d, `2.5"`},
	{0x30, `2"`}, {0x33, `1.6"`}, {0x35, `1.3"`}, {0x38, `1"`}, {0x3b, `0.8"`}, {0x3d, `0.6"`},
	{0x40, `0.5"`}, {0x43, `0.4"`}, {0x45, `0.3"`}, {0x48, "1/4"}, {0x4b, "1/5"}, {0x4d, "1/6"},
	{0x50, "1/8"}, {0x53, "1/10"}, {0x55, "1/13"}, {0x58, "1/15"}, {0x5b, "1/20"}, {0x5d, "1/25"},
	{0x60, "1/30"}, {0x63, "1/40"}, {0x65, "1/50"}, {0x68, "1/60"}, {0x6b, "1/80"}, {0x6d, "1/100"},
	{0x70, "1/125"}, {0x73, "1/160"}, {0x75, "1/200"}, {0x78, "1/250"}, {0x7b, "1/320"}, {0x7d, "1/400"},
	{0x80, "1/500"}, {0x83, "1/640"}, {0x85, "1/800"}, {0x88, "1/1000"}, {0x8b, "1/1250"}, {0x8d, "1/1600"},
	{0x90, "1/2000"}, {0x93, "1/2500"}, {0x95, "1/3200"}, {0x98, "1/4000"}, {0x9b, "1/5000"}, {0x9d, "1/6400"},
	{0xa0, "1/8000"},
	// Half stops, after the thirds so that a name shared by both means the third.
	{0x14, `20"`}, {0x1c, `10"`}, {0x24, `6"`}, {0x2c, `3"`}, {0x34, `1.5"`}, {0x3c, `0.7"`},
	{0x44, `0.3"`}, {0x4c, "1/6"}, {0x54, "1/10"}, {0x5c, "1/20"}, {0x64, "1/45"}, {0x6c, "1/90"},
	{0x74, "1/180"}, {0x7c, "1/350"}, {0x84, "1/750"}, {0x8c, "1/1500"}, {0x94, "1/3000"}, {0x9c, "1/6000"},
}}

// Canon EOS aperture codes: 0x30 is f/5.6 (docs/ptp.md §3.2).
var eosApertures = table{norm: normAperture, names: []named{
	{0x08, "f/1.0"}, {0x0b, "f/1.1"}, {0x0d, "f/1.2"}, {0x10, "f/1.4"}, {0x13, "f/1.6"}, {0x15, "f/1.8"},
	{0x18, "f/2"}, {0x1b, "f/2.2"}, {0x1d, "f/2.5"}, {0x20, "f/2.8"}, {0x23, "f/3.2"}, {0x25, "f/3.5"},
	{0x28, "f/4"}, {0x2b, "f/4.5"}, {0x2d, "f/5"}, {0x30, "f/5.6"}, {0x33, "f/6.3"}, {0x35, "f/7.1"},
	{0x38, "f/8"}, {0x3b, "f/9"}, {0x3d, "f/10"}, {0x40, "f/11"}, {0x43, "f/13"}, {0x45, "f/14"},
	{0x48, "f/16"}, {0x4b, "f/18"}, {0x4d, "f/20"}, {0x50, "f/22"}, {0x53, "f/25"}, {0x55, "f/29"},
	{0x58, "f/32"}, {0x5b, "f/36"}, {0x5d, "f/40"}, {0x60, "f/45"},
}}

// Canon EOS ISO codes: 0x48 is 100, 8 per stop, 0 auto (docs/ptp.md §3.2).
var eosISOs = table{norm: normISO, names: []named{
	{0, "auto"}, {0x48, "100"}, {0x4b, "125"}, {0x4d, "160"}, {0x50, "200"}, {0x53, "250"}, {0x55, "320"},
	{0x58, "400"}, {0x5b, "500"}, {0x5d, "640"}, {0x60, "800"}, {0x63, "1000"}, {0x65, "1250"},
	{0x68, "1600"}, {0x6b, "2000"}, {0x6d, "2500"}, {0x70, "3200"}, {0x73, "4000"}, {0x75, "5000"},
	{0x78, "6400"}, {0x80, "12800"},
}}

// Canon EOS white balance (docs/ptp.md §3.2).
var eosWhiteBalances = table{norm: normWord, names: []named{
	{0, "auto"}, {1, "daylight"}, {2, "cloudy"}, {3, "tungsten"}, {4, "fluorescent"}, {5, "flash"},
	{6, "manual"}, {8, "shade"}, {9, "color temperature"},
}}

// Canon EOS battery levels (docs/ptp.md §3.2).
var eosBatteries = table{names: []named{{0, "low"}, {5, "25%"}, {1, "50%"}, {4, "75%"}, {2, "100%"}}}

// Canon EOS capture destinations.
var eosTargets = table{names: []named{{2, "card"}, {eosDestHost, "host"}}}

// Standard white balance (docs/ptp.md §2.5).
var stdWhiteBalances = table{norm: normWord, names: []named{
	{1, "manual"}, {2, "auto"}, {3, "one-push"}, {4, "daylight"}, {5, "fluorescent"}, {6, "tungsten"}, {7, "flash"},
}}

// Nikon CompressionSetting as the image format (libgphoto2's Nikon table).
var nikonFormats = table{norm: normFormat, names: []named{
	{2, "JPG"}, {1, "JPG-normal"}, {0, "JPG-basic"}, {4, "RAW"}, {7, "RAW+JPG"}, {6, "RAW+JPG-normal"}, {5, "RAW+JPG-basic"},
}}

// eosFormats are the Canon EOS image formats Set offers, by name.
var eosFormats = []struct {
	name string
	f    ptp.EOSImageFormat
}{
	{"JPG", ptp.EOSImageFormat{{Kind: ptp.EOSImageJPEG, Size: 0, Compression: 3}}},
	{"JPG-normal", ptp.EOSImageFormat{{Kind: ptp.EOSImageJPEG, Size: 0, Compression: 2}}},
	{"JPG-M", ptp.EOSImageFormat{{Kind: ptp.EOSImageJPEG, Size: 1, Compression: 3}}},
	{"JPG-S", ptp.EOSImageFormat{{Kind: ptp.EOSImageJPEG, Size: 2, Compression: 3}}},
	{"RAW", ptp.EOSImageFormat{{Kind: ptp.EOSImageRAW, Size: 0, Compression: 4}}},
	{"RAW+JPG", ptp.EOSImageFormat{{Kind: ptp.EOSImageRAW, Size: 0, Compression: 4}, {Kind: ptp.EOSImageJPEG, Size: 0, Compression: 3}}},
}

// formatEOSImage names an image format: "RAW+JPG", "JPG-M-normal"…
func formatEOSImage(f ptp.EOSImageFormat) string {
	var parts []string
	for _, x := range f {
		if x.Kind == ptp.EOSImageRAW {
			parts = append(parts, "RAW")
			continue
		}
		s := "JPG"
		switch x.Size {
		case 0:
		case 1:
			s += "-M"
		case 2:
			s += "-S"
		default:
			s += fmt.Sprintf("-size%d", x.Size)
		}
		if x.Compression == 2 {
			s += "-normal"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "+")
}

func normWord(s string) string {
	return strings.NewReplacer(" ", "", "-", "", "_", "").Replace(strings.ToLower(strings.TrimSpace(s)))
}

func normFormat(s string) string {
	s = strings.ReplaceAll(normWord(s), "jpeg", "jpg")
	return strings.ReplaceAll(s, "+", "")
}

func normISO(s string) string {
	return strings.TrimPrefix(normWord(s), "iso")
}

func normAperture(s string) string {
	s = strings.TrimPrefix(strings.TrimPrefix(normWord(s), "f/"), "f")
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	return s
}

// normShutter makes `2"`, "2s" and "2" the same, and "1/250s" "1/250".
func normShutter(s string) string {
	s = normWord(s)
	s = strings.TrimSuffix(strings.TrimSuffix(strings.ReplaceAll(s, "''", `"`), "s"), `"`)
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return strconv.FormatFloat(f, 'f', -1, 64) + `"`
	}
	return s
}

// parseSeconds reads "1/250", `2"`, "2s", "0.5".
func parseSeconds(s string) (float64, bool) {
	s = strings.TrimSuffix(normShutter(s), `"`)
	if num, den, ok := strings.Cut(s, "/"); ok {
		n, err1 := strconv.ParseFloat(num, 64)
		d, err2 := strconv.ParseFloat(den, 64)
		if err1 != nil || err2 != nil || d == 0 {
			return 0, false
		}
		return n / d, true
	}
	f, err := strconv.ParseFloat(s, 64)
	return f, err == nil && f > 0
}

// exposureTime is the codec of the standard ExposureTime (1/10000 s).
type exposureTime struct{}

func (exposureTime) format(v uint32) string {
	switch v {
	case 0xFFFFFFFF:
		return "bulb"
	case 0xFFFFFFFD:
		return "time"
	case 0:
		return "0"
	}
	if v < 10000 {
		d := 10000 / float64(v)
		if r := math.Round(d); math.Abs(d-r)/d < 0.05 {
			return fmt.Sprintf("1/%d", int(r))
		}
	}
	return strconv.FormatFloat(float64(v)/10000, 'f', -1, 64) + `"`
}

func (e exposureTime) parse(s string, choices []uint32) (uint32, bool) {
	if normWord(s) == "bulb" {
		return 0xFFFFFFFF, choices == nil || slices.Contains(choices, 0xFFFFFFFF)
	}
	sec, ok := parseSeconds(s)
	if !ok {
		return 0, false
	}
	return closest(sec*10000, choices)
}

// closest returns the choice within 3% of x, or x itself without choices.
func closest(x float64, choices []uint32) (uint32, bool) {
	if choices == nil {
		return uint32(math.Round(x)), x >= 0 && x < math.MaxUint32
	}
	for _, c := range choices {
		if math.Abs(float64(c)-x) <= 0.03*x {
			return c, true
		}
	}
	return 0, false
}

// fNumber is the codec of the standard FNumber (f-number × 100).
type fNumber struct{}

func (fNumber) format(v uint32) string {
	return "f/" + strconv.FormatFloat(float64(v)/100, 'f', -1, 64)
}

func (fNumber) parse(s string, choices []uint32) (uint32, bool) {
	f, err := strconv.ParseFloat(normAperture(s), 64)
	if err != nil || f <= 0 {
		return 0, false
	}
	return closest(f*100, choices)
}

// exposureIndex is the codec of the standard ExposureIndex (ISO).
type exposureIndex struct{}

func (exposureIndex) format(v uint32) string {
	if v == 0xFFFF {
		return "auto"
	}
	return strconv.Itoa(int(v))
}

func (exposureIndex) parse(s string, choices []uint32) (uint32, bool) {
	s = normISO(s)
	v := uint32(0xFFFF)
	if s != "auto" {
		n, err := strconv.ParseUint(s, 10, 16)
		if err != nil {
			return 0, false
		}
		v = uint32(n)
	}
	return v, choices == nil || slices.Contains(choices, v)
}

// stdProps maps the names to standard properties and their codecs.
var stdProps = []struct {
	name  string
	code  ptp.PropCode
	codec codec
}{
	{ShutterSpeed, ptp.PropExposureTime, exposureTime{}},
	{Aperture, ptp.PropFNumber, fNumber{}},
	{ISO, ptp.PropExposureIndex, exposureIndex{}},
	{WhiteBalance, ptp.PropWhiteBalance, stdWhiteBalances},
}

// eosProps maps the names to Canon EOS properties and their codecs.
var eosProps = []struct {
	name  string
	code  ptp.PropCode
	codec codec
}{
	{ShutterSpeed, ptp.PropEOSShutterSpeed, eosShutterSpeeds},
	{Aperture, ptp.PropEOSAperture, eosApertures},
	{ISO, ptp.PropEOSISOSpeed, eosISOs},
	{WhiteBalance, ptp.PropEOSWhiteBalance, eosWhiteBalances},
	{CaptureTarget, ptp.PropEOSCaptureDestination, eosTargets},
}

// names lists every property name, for error messages.
var names = []string{ShutterSpeed, Aperture, ISO, WhiteBalance, ImageFormat, Battery, FreeSpace, CaptureTarget}

func formatAll(c codec, vs []uint32) []string {
	if vs == nil {
		return nil
	}
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = c.format(v)
	}
	return s
}

// Props reads the camera's properties. Properties the camera does not
// have are left out.
func (c *Camera) Props(ctx context.Context) ([]Prop, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var props []Prop
	if c.kind == CanonEOS {
		if err := c.eosDrain(ctx); err != nil {
			return nil, err
		}
		for _, p := range eosProps {
			v, ok := c.eos.values[p.code]
			if !ok {
				continue
			}
			props = append(props, Prop{Name: p.name, Value: p.codec.format(v), Choices: formatAll(p.codec, c.eos.lists[p.code])})
		}
		if f, err := ptp.DecodeEOSImageFormat(c.eos.data[ptp.PropEOSImageFormat]); err == nil && len(f) > 0 {
			var choices []string
			for _, x := range eosFormats {
				choices = append(choices, x.name)
			}
			props = append(props, Prop{Name: ImageFormat, Value: formatEOSImage(f), Choices: choices})
		}
		if v, ok := c.eos.values[ptp.PropEOSBatteryPower]; ok {
			props = append(props, Prop{Name: Battery, Value: eosBatteries.format(v), ReadOnly: true})
		}
	} else {
		for _, p := range stdProps {
			if pr, ok, err := c.stdProp(ctx, p.name, p.code, p.codec); err != nil {
				return nil, err
			} else if ok {
				props = append(props, pr)
			}
		}
		if c.vendor == ptp.VendorNikon {
			if pr, ok, err := c.stdProp(ctx, ImageFormat, ptp.PropCompressionSetting, nikonFormats); err != nil {
				return nil, err
			} else if ok {
				props = append(props, pr)
			}
		}
	}
	if !hasProp(props, Battery) && c.info.SupportsProp(ptp.PropBatteryLevel) {
		var pd *ptp.DevicePropDesc
		if err := c.try(ctx, "GetDevicePropDesc", func(ctx context.Context) (err error) {
			pd, err = c.conn.GetDevicePropDesc(ctx, ptp.PropBatteryLevel)
			return err
		}); err != nil && !isResponseError(err) {
			return nil, err
		} else if err == nil {
			props = append(props, Prop{Name: Battery, Value: batteryPercent(pd), ReadOnly: true})
		}
	}
	free, err := c.freeSpace(ctx)
	if err != nil {
		return nil, err
	}
	if free >= 0 {
		props = append(props, Prop{Name: FreeSpace, Value: formatBytes(free), ReadOnly: true})
	}
	return props, nil
}

func hasProp(ps []Prop, name string) bool {
	return slices.ContainsFunc(ps, func(p Prop) bool { return p.Name == name })
}

func isResponseError(err error) bool {
	var re *ptp.ResponseError
	return errors.As(err, &re)
}

// Prop reads one property by name.
func (c *Camera) Prop(ctx context.Context, name string) (Prop, error) {
	ps, err := c.Props(ctx)
	if err != nil {
		return Prop{}, err
	}
	for _, p := range ps {
		if p.Name == name {
			return p, nil
		}
	}
	return Prop{}, wrap("Prop", fmt.Errorf("%w %q (this camera has %s)", ErrUnknownProperty, name, propNames(ps)))
}

func propNames(ps []Prop) string {
	var s []string
	for _, p := range ps {
		s = append(s, p.Name)
	}
	return strings.Join(s, ", ")
}

// stdProp reads a standard property through its DevicePropDesc.
func (c *Camera) stdProp(ctx context.Context, name string, code ptp.PropCode, cd codec) (Prop, bool, error) {
	if !c.info.SupportsProp(code) {
		return Prop{}, false, nil
	}
	var pd *ptp.DevicePropDesc
	err := c.try(ctx, "GetDevicePropDesc", func(ctx context.Context) (err error) {
		pd, err = c.conn.GetDevicePropDesc(ctx, code)
		return err
	})
	if err != nil {
		if isResponseError(err) {
			return Prop{}, false, nil
		}
		return Prop{}, false, err
	}
	v, ok := asUint32(pd.Current)
	if !ok {
		return Prop{}, false, nil
	}
	return Prop{Name: name, Value: cd.format(v), Choices: formatAll(cd, enumValues(pd)), ReadOnly: !pd.Writable}, true, nil
}

// asUint32 returns an integer property value as a uint32.
func asUint32(v any) (uint32, bool) {
	switch x := v.(type) {
	case uint8:
		return uint32(x), true
	case uint16:
		return uint32(x), true
	case uint32:
		return x, true
	case int8:
		return uint32(x), true
	case int16:
		return uint32(x), true
	case int32:
		return uint32(x), true
	}
	return 0, false
}

// fromUint32 converts v to the Go type of data type t.
func fromUint32(t ptp.DataType, v uint32) any {
	switch t {
	case ptp.TypeUint8:
		return uint8(v)
	case ptp.TypeInt8:
		return int8(v)
	case ptp.TypeUint16:
		return uint16(v)
	case ptp.TypeInt16:
		return int16(v)
	case ptp.TypeInt32:
		return int32(v)
	}
	return v
}

// enumValues returns the allowed values of an enumeration, nil otherwise.
func enumValues(pd *ptp.DevicePropDesc) []uint32 {
	if pd.Form != ptp.FormEnumeration {
		return nil
	}
	vs := []uint32{}
	for _, e := range pd.Enum {
		if v, ok := asUint32(e); ok {
			vs = append(vs, v)
		}
	}
	return vs
}

// batteryPercent reads BatteryLevel: a range (usually 0…100) or Canon's
// small enumeration 0…3.
func batteryPercent(pd *ptp.DevicePropDesc) string {
	v, _ := asUint32(pd.Current)
	max := uint32(100)
	switch pd.Form {
	case ptp.FormRange:
		max, _ = asUint32(pd.Max)
	case ptp.FormEnumeration:
		for _, e := range enumValues(pd) {
			max = e
		}
	}
	if max == 0 {
		max = 100
	}
	return fmt.Sprintf("%d%%", min(100, v*100/max))
}

// freeSpace sums the free bytes of the stores with a medium; -1 if the
// camera cannot tell.
func (c *Camera) freeSpace(ctx context.Context) (int64, error) {
	if !c.info.Supports(ptp.OpGetStorageInfo) {
		return -1, nil
	}
	var ids []uint32
	if err := c.try(ctx, "GetStorageIDs", func(ctx context.Context) (err error) {
		ids, err = c.conn.GetStorageIDs(ctx)
		return err
	}); err != nil {
		return 0, err
	}
	total := int64(-1)
	for _, id := range ids {
		if id&0xFFFF == 0 {
			continue // empty slot
		}
		var si *ptp.StorageInfo
		if err := c.try(ctx, "GetStorageInfo", func(ctx context.Context) (err error) {
			si, err = c.conn.GetStorageInfo(ctx, id)
			return err
		}); err != nil {
			return 0, err
		}
		total = max(total, 0) + int64(min(si.FreeSpaceInBytes, si.MaxCapacity, math.MaxInt64))
	}
	return total, nil
}

// formatBytes returns e.g. "7.8 GB".
func formatBytes(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.1f GB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	}
	return fmt.Sprintf("%d bytes", n)
}

// Set sets property name to value, given as Props shows it ("1/250",
// "f/8", "400", "daylight", "RAW+JPG", "host"). Unknown names and values
// the camera does not take are errors that list the choices.
func (c *Camera) Set(ctx context.Context, name, value string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	op := "Set " + name
	switch name {
	case Battery, FreeSpace:
		return wrap(op, ErrReadOnly)
	}
	if c.kind == CanonEOS {
		return wrap(op, c.eosSet(ctx, name, value))
	}
	for _, p := range stdProps {
		if p.name == name {
			return wrap(op, c.stdSet(ctx, p.code, p.codec, value))
		}
	}
	if name == ImageFormat && c.vendor == ptp.VendorNikon {
		return wrap(op, c.stdSet(ctx, ptp.PropCompressionSetting, nikonFormats, value))
	}
	return unknown(op, name)
}

func unknown(op, name string) error {
	if slices.Contains(names, name) {
		return wrap(op, fmt.Errorf("%w: this camera does not have %q", ErrUnknownProperty, name))
	}
	return wrap(op, fmt.Errorf("%w %q (known: %s)", ErrUnknownProperty, name, strings.Join(names, ", ")))
}

func invalid(value string, choices []string) error {
	if len(choices) == 0 {
		return fmt.Errorf("%w %q", ErrInvalidValue, value)
	}
	return fmt.Errorf("%w %q (choices: %s)", ErrInvalidValue, value, strings.Join(choices, ", "))
}

// stdSet sets a standard property through SetDevicePropValue.
func (c *Camera) stdSet(ctx context.Context, code ptp.PropCode, cd codec, value string) error {
	if !c.info.SupportsProp(code) {
		return fmt.Errorf("%w: not on this camera", ErrUnknownProperty)
	}
	var pd *ptp.DevicePropDesc
	if err := c.try(ctx, "GetDevicePropDesc", func(ctx context.Context) (err error) {
		pd, err = c.conn.GetDevicePropDesc(ctx, code)
		return err
	}); err != nil {
		return err
	}
	if !pd.Writable {
		return ErrReadOnly
	}
	choices := enumValues(pd)
	v, ok := cd.parse(value, choices)
	if ok && pd.Form == ptp.FormRange {
		lo, _ := asUint32(pd.Min)
		hi, _ := asUint32(pd.Max)
		ok = v >= lo && v <= hi
	}
	if !ok {
		return invalid(value, formatAll(cd, choices))
	}
	octx, cancel := c.opContext(ctx)
	defer cancel()
	err := c.conn.SetDevicePropValue(octx, code, pd.Type, fromUint32(pd.Type, v))
	if ptp.IsResponse(err, ptp.RespInvalidDevicePropValue) {
		return fmt.Errorf("%w: %w", invalid(value, formatAll(cd, choices)), err)
	}
	return err
}

// eosSet sets a Canon EOS property through SetDevicePropValueEx; the new
// value comes back as a GetEvent record.
func (c *Camera) eosSet(ctx context.Context, name, value string) error {
	if err := c.eosDrain(ctx); err != nil {
		return err
	}
	var code ptp.PropCode
	var data []byte
	switch name {
	case ImageFormat:
		want := normFormat(value)
		var choices []string
		for _, x := range eosFormats {
			choices = append(choices, x.name)
			if normFormat(x.name) == want {
				code, data = ptp.PropEOSImageFormat, x.f.AppendBinary(nil)
			}
		}
		if data == nil {
			return invalid(value, choices)
		}
	case CaptureTarget:
		v, ok := eosTargets.parse(value, nil)
		if !ok {
			return invalid(value, []string{"card", "host"})
		}
		return c.eosSetTarget(ctx, map[uint32]Target{2: Card, eosDestHost: Host}[v])
	default:
		i := slices.IndexFunc(eosProps, func(p struct {
			name  string
			code  ptp.PropCode
			codec codec
		}) bool {
			return p.name == name
		})
		if i < 0 {
			return unknown("Set "+name, name)
		}
		p := eosProps[i]
		if _, ok := c.eos.values[p.code]; !ok {
			return fmt.Errorf("%w: this camera does not report %q", ErrUnknownProperty, name)
		}
		choices := c.eos.lists[p.code]
		v, ok := p.codec.parse(value, choices)
		if !ok {
			return invalid(value, formatAll(p.codec, choices))
		}
		if v == c.eos.values[p.code] {
			return nil // the camera may answer DeviceBusy to a no-op
		}
		code, data = p.code, binary.LittleEndian.AppendUint32(nil, v)
	}
	octx, cancel := c.opContext(ctx)
	err := c.conn.EOSSetDevicePropValueEx(octx, code, data)
	cancel()
	if err != nil {
		if ptp.IsResponse(err, ptp.RespInvalidDevicePropValue) {
			return fmt.Errorf("%w: %w", invalid(value, nil), err)
		}
		return err
	}
	return c.eosDrain(ctx)
}
