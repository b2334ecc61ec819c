package ptp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// eosRecord builds one raw GetEvent record: size, code, then the u32 words
// and bytes of payload.
func eosRecord(code uint32, payload ...any) []byte {
	var p []byte
	for _, x := range payload {
		switch v := x.(type) {
		case uint32:
			p = binary.LittleEndian.AppendUint32(p, v)
		case int:
			p = binary.LittleEndian.AppendUint32(p, uint32(v))
		case []byte:
			p = append(p, v...)
		case string:
			p = append(append(p, v...), 0)
		}
	}
	b := binary.LittleEndian.AppendUint32(nil, uint32(8+len(p)))
	b = binary.LittleEndian.AppendUint32(b, code)
	return append(b, p...)
}

var eosTerminator = []byte{8, 0, 0, 0, 0, 0, 0, 0}

// eosSeeds are GetEvent replies as a 600D sends them after SetEventMode,
// after a capture to card, and after a capture to the host.
func eosSeeds() map[string][]byte {
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	return map[string][]byte{
		"props": cat(
			eosRecord(0xC189, 0xD102, 0x68),
			eosRecord(0xC189, 0xD11C, 2),
			eosRecord(0xC18A, 0xD103, 3, 3, 0, 0x48, 0x50),
			eosRecord(0xC189, 0xD120, 1, 0x10, 1, 0, 3),
			eosRecord(0xC189, 0xD115, "Glacier cam"),
			eosTerminator),
		"card": cat(
			eosRecord(0xC18B, 1),
			eosRecord(0xC181, 0x91a3e4f0, 0x00020001, 0xB103, 0, 0, 0x01800000, 0x90000001, 0, "IMG_0001.CR2"),
			eosRecord(0xC18B, 0),
			eosTerminator),
		"host": cat(
			eosRecord(0xC186, 0x92000001, 0x3801, 0, 0x00040000, 0, "IMG_0002.JPG"),
			eosRecord(0xC18E, 15),
			eosTerminator),
		"empty": eosTerminator,
	}
}

func TestDecodeEOSEvents(t *testing.T) {
	seeds := eosSeeds()
	tests := []struct {
		name string
		in   []byte
		want []EOSEvent
	}{
		{"empty", seeds["empty"], nil},
		{"no terminator", eosRecord(0xC18B, 1), []EOSEvent{{Code: EventEOSCameraStatusChanged, Value: 1}}},
		{"card", seeds["card"], []EOSEvent{
			{Code: EventEOSCameraStatusChanged, Value: 1},
			{Code: EventEOSObjectAddedEx, Handle: 0x91a3e4f0, StorageID: 0x00020001, Format: FormatCanonCR2, Size: 0x01800000, Parent: 0x90000001, Filename: "IMG_0001.CR2"},
			{Code: EventEOSCameraStatusChanged, Value: 0},
		}},
		{"host", seeds["host"], []EOSEvent{
			{Code: EventEOSRequestObjectTransfer, Handle: 0x92000001, Format: FormatEXIFJPEG, Size: 0x40000, Filename: "IMG_0002.JPG"},
			{Code: EventEOSShutdownTimerUpdated, Data: []byte{15, 0, 0, 0}},
		}},
		{"props", seeds["props"], []EOSEvent{
			{Code: EventEOSPropValueChanged, Prop: PropEOSShutterSpeed, Value: 0x68, ValueData: []byte{0x68, 0, 0, 0}},
			{Code: EventEOSPropValueChanged, Prop: PropEOSCaptureDestination, Value: 2, ValueData: []byte{2, 0, 0, 0}},
			{Code: EventEOSAvailListChanged, Prop: PropEOSISOSpeed, ListType: 3, Values: []uint32{0, 0x48, 0x50}},
			{Code: EventEOSPropValueChanged, Prop: PropEOSImageFormat, Value: 1, ValueData: EOSImageFormat{{EOSImageJPEG, 0, 3}}.AppendBinary(nil)},
			{Code: EventEOSPropValueChanged, Prop: PropEOSOwner, Value: 0x63616c47, ValueData: []byte("Glacier cam\x00")},
		}},
		{"after terminator", append(append([]byte{}, eosTerminator...), 0xFF, 0xFF), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeEOSEvents(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestDecodeEOSEventsErrors(t *testing.T) {
	tests := []struct {
		name, field string
		in          []byte
	}{
		{"short header", "Size", []byte{8, 0, 0}},
		{"size below header", "Size", []byte{4, 0, 0, 0, 0x8B, 0xC1, 0, 0}},
		{"size past end", "Size", eosRecord(0xC18B, 1)[:10]},
		{"object added too short", "ObjectAddedEx", eosRecord(0xC181, 1, 2)},
		{"transfer too short", "RequestObjectTransfer", eosRecord(0xC186, 1)},
		{"status without value", "Value", eosRecord(0xC18B)},
		{"wide prop code", "Prop", eosRecord(0xC189, 0x1D102, 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeEOSEvents(tt.in)
			var de *DecodeError
			if !errors.As(err, &de) || de.Field != tt.field {
				t.Fatalf("err = %v, want a DecodeError on %s", err, tt.field)
			}
		})
	}
}

func TestEOSImageFormat(t *testing.T) {
	rawJPG := EOSImageFormat{{EOSImageRAW, 0, 4}, {EOSImageJPEG, 0, 3}}
	got, err := DecodeEOSImageFormat(rawJPG.AppendBinary(nil))
	if err != nil || !reflect.DeepEqual(got, rawJPG) {
		t.Fatalf("round trip: %v, %v", got, err)
	}
	if _, err := DecodeEOSImageFormat([]byte{2, 0, 0, 0, 16, 0, 0, 0}); err == nil {
		t.Error("truncated image format decoded")
	}
	if _, err := DecodeEOSImageFormat([]byte{1, 0, 0, 0, 12, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0}); err == nil {
		t.Error("entry size 12 accepted")
	}
}

func TestEOSSetPropValue(t *testing.T) {
	p, v, err := DecodeEOSSetPropValue([]byte{12, 0, 0, 0, 0x1C, 0xD1, 0, 0, 4, 0, 0, 0, 0xEE})
	if err != nil || p != PropEOSCaptureDestination || !bytes.Equal(v, []byte{4, 0, 0, 0}) {
		t.Fatalf("got %v % x %v", p, v, err)
	}
	for _, b := range [][]byte{{1, 2}, {40, 0, 0, 0, 1, 2, 3, 4}, {8, 0, 0, 0, 0, 0, 1, 0}} {
		if _, _, err := DecodeEOSSetPropValue(b); err == nil {
			t.Errorf("% x: no error", b)
		}
	}
}

// FuzzEOSEvents decodes arbitrary GetEvent data: no panic, and whatever
// decodes must encode and decode to the same records.
func FuzzEOSEvents(f *testing.F) {
	for _, b := range eosSeeds() {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		evs, err := DecodeEOSEvents(b)
		if err != nil {
			return
		}
		enc, err := AppendEOSEvents(nil, evs)
		if err != nil {
			t.Fatalf("decoded %+v does not encode: %v", evs, err)
		}
		evs2, err := DecodeEOSEvents(enc)
		if err != nil || !reflect.DeepEqual(evs, evs2) {
			t.Fatalf("round trip:\n%+v\n%+v\n%v", evs, evs2, err)
		}
	})
}

func nikonSeeds() map[string][]byte {
	b, _ := AppendNikonEvents(nil, []Event{
		{Code: EventNikonObjectAddedInSDRAM, Params: []uint32{NikonSDRAMHandle}},
		{Code: EventNikonCaptureCompleteRecInSdram, Params: []uint32{0}},
	})
	return map[string][]byte{"sdram": b, "empty": {0, 0}}
}

func TestNikonEvents(t *testing.T) {
	evs, err := DecodeNikonEvents(nikonSeeds()["sdram"])
	want := []Event{
		{Code: EventNikonObjectAddedInSDRAM, Params: []uint32{NikonSDRAMHandle}},
		{Code: EventNikonCaptureCompleteRecInSdram, Params: []uint32{0}},
	}
	if err != nil || !reflect.DeepEqual(evs, want) {
		t.Fatalf("got %+v, %v", evs, err)
	}
	for _, b := range [][]byte{nil, {1}, {2, 0, 1, 0xC1, 1, 0, 0, 0}} {
		if _, err := DecodeNikonEvents(b); err == nil {
			t.Errorf("% x: no error", b)
		}
	}
}

// FuzzNikonEvents decodes arbitrary Nikon GetEvent data: no panic, stable
// round trip.
func FuzzNikonEvents(f *testing.F) {
	for _, b := range nikonSeeds() {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		evs, err := DecodeNikonEvents(b)
		if err != nil {
			return
		}
		enc, err := AppendNikonEvents(nil, evs)
		if err != nil {
			t.Fatal(err)
		}
		evs2, err := DecodeNikonEvents(enc)
		if err != nil || !reflect.DeepEqual(evs, evs2) {
			t.Fatalf("round trip: %+v → %+v, %v", evs, evs2, err)
		}
	})
}

// TestWriteVendorCorpus rewrites testdata/fuzz/Fuzz{EOS,Nikon}Events with
// -update-corpus; otherwise it checks that the seeds exist.
func TestWriteVendorCorpus(t *testing.T) {
	for target, seeds := range map[string]map[string][]byte{"FuzzEOSEvents": eosSeeds(), "FuzzNikonEvents": nikonSeeds()} {
		for name, b := range seeds {
			path := filepath.Join("testdata", "fuzz", target, name)
			if !*updateCorpus {
				if _, err := os.Stat(path); err != nil {
					t.Errorf("seed missing (go test -run TestWriteVendorCorpus -update-corpus): %v", err)
				}
				continue
			}
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", b), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
