package ptp

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite the fuzz seed corpora in testdata/fuzz from the fixtures")

// checkStable decodes b into a fresh value from mk; if that succeeds, the
// value must encode, decode to the same value, and encode to the same bytes.
func checkStable(t *testing.T, b []byte, mk func() binaryCodec) {
	v1 := mk()
	if err := v1.UnmarshalBinary(b); err != nil {
		return
	}
	e1, err := v1.MarshalBinary()
	if err != nil {
		t.Fatalf("decoded %+v does not encode: %v", v1, err)
	}
	v2 := mk()
	if err := v2.UnmarshalBinary(e1); err != nil {
		t.Fatalf("re-decode of % x: %v", e1, err)
	}
	if !reflect.DeepEqual(v1, v2) {
		t.Fatalf("decode→encode→decode changed the value:\n%+v\n%+v", v1, v2)
	}
	e2, err := v2.MarshalBinary()
	if err != nil || !bytes.Equal(e1, e2) {
		t.Fatalf("second encode differs: %v", err)
	}
}

func seedFixtures(f *testing.F, files ...string) {
	for _, file := range files {
		f.Add(readHex(f, file))
	}
}

func FuzzDeviceInfo(f *testing.F) {
	seedFixtures(f, "deviceinfo_eos600d.hex", "deviceinfo_qemu.hex")
	f.Fuzz(func(t *testing.T, b []byte) {
		checkStable(t, b, func() binaryCodec { return new(DeviceInfo) })
	})
}

func FuzzStorageInfo(f *testing.F) {
	seedFixtures(f, "storageinfo_qemu.hex", "storageinfo_sd.hex")
	f.Fuzz(func(t *testing.T, b []byte) {
		checkStable(t, b, func() binaryCodec { return new(StorageInfo) })
	})
}

func FuzzObjectInfo(f *testing.F) {
	seedFixtures(f, "objectinfo_jpeg.hex", "objectinfo_folder.hex")
	f.Fuzz(func(t *testing.T, b []byte) {
		checkStable(t, b, func() binaryCodec { return new(ObjectInfo) })
	})
}

func FuzzDevicePropDesc(f *testing.F) {
	seedFixtures(f, "propdesc_battery.hex", "propdesc_whitebalance.hex", "propdesc_exposurebias.hex",
		"propdesc_imagesize.hex", "propdesc_datetime.hex", "propdesc_exposuretime.hex", "propdesc_array.hex")
	f.Fuzz(func(t *testing.T, b []byte) {
		checkStable(t, b, func() binaryCodec { return new(DevicePropDesc) })
	})
}

// containerSeeds are bulk IN streams: a data container with a glued
// response, a response alone, an event, an unknown-length data container.
func containerSeeds(t testing.TB) [][2][]byte {
	data := mustContainer(t, Container{Type: ContainerData, Code: 0x1009, TransactionID: 3, Data: pattern(520)})
	resp := mustContainer(t, Container{Type: ContainerResponse, Code: 0x2001, TransactionID: 3, Params: []uint32{520}})
	ev := mustContainer(t, Container{Type: ContainerEvent, Code: 0x4002, Params: []uint32{0x12}})
	unknown := appendHeader(nil, UnknownLength, ContainerData, 0x1009, 4)
	unknown = append(unknown, pattern(100)...)
	return [][2][]byte{
		{append(data, resp...), {200, 0}},                                             // 532 = 512 + 20: glued
		{append(append([]byte{}, data[:12]...), append(data[12:], resp...)...), {12}}, // split header
		{resp, nil},
		{ev, {6}},
		{append(unknown, resp...), {112}},
	}
}

// FuzzContainer parses arbitrary bytes as a container, and feeds them to
// the streaming reader cut into transfers at the sizes given by cuts: it
// must never panic or loop, and must agree with ParseContainer.
func FuzzContainer(f *testing.F) {
	for _, s := range containerSeeds(f) {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, b, cuts []byte) {
		c, _, perr := ParseContainer(b)
		if perr == nil {
			enc, err := c.MarshalBinary()
			if err != nil {
				t.Fatalf("parsed %+v does not encode: %v", c, err)
			}
			c2, n2, err := ParseContainer(enc)
			if err != nil || n2 != len(enc) || !reflect.DeepEqual(normalize(c), normalize(c2)) {
				t.Fatalf("container round trip: %+v → % x → %+v, %v", c, enc, c2, err)
			}
		}
		// The stream reader over transfers cut from b (each at most 512
		// bytes, the buffer's size; a cut of 0 is a ZLP).
		var transfers [][]byte
		for i, rest := 0, b; len(rest) > 0; i++ {
			k := 512
			if i < len(cuts) {
				k = int(cuts[i]) * 4 % 513
			}
			k = min(k, len(rest))
			transfers = append(transfers, rest[:k])
			rest = rest[k:]
		}
		s := newInStream(&scriptTransport{mps: 64, transfers: transfers}, 512)
		var data bytes.Buffer
		sc, serr := s.read(context.Background(), func(*Container) io.Writer { return &data })
		if serr != nil || perr != nil || le32(b) == UnknownLength {
			return
		}
		sc.Data = data.Bytes()
		if !reflect.DeepEqual(normalize(sc), normalize(c)) {
			t.Fatalf("stream read %+v, ParseContainer %+v", sc, c)
		}
		for i := 0; i < 64; i++ { // the rest of the stream: no panic, no loop
			if _, err := s.read(context.Background(), nil); err != nil {
				break
			}
		}
	})
}

// normalize makes nil and empty slices compare equal.
func normalize(c Container) Container {
	if len(c.Params) == 0 {
		c.Params = nil
	}
	if len(c.Data) == 0 {
		c.Data = nil
	}
	return c
}

// TestWriteCorpus rewrites testdata/fuzz/* from the fixtures when run with
// -update-corpus; otherwise it checks that every seed file exists.
func TestWriteCorpus(t *testing.T) {
	seeds := map[string][]string{
		"FuzzDeviceInfo":     {"deviceinfo_eos600d.hex", "deviceinfo_qemu.hex"},
		"FuzzStorageInfo":    {"storageinfo_qemu.hex", "storageinfo_sd.hex"},
		"FuzzObjectInfo":     {"objectinfo_jpeg.hex", "objectinfo_folder.hex"},
		"FuzzDevicePropDesc": {"propdesc_battery.hex", "propdesc_whitebalance.hex", "propdesc_exposurebias.hex", "propdesc_imagesize.hex", "propdesc_datetime.hex", "propdesc_exposuretime.hex", "propdesc_array.hex"},
	}
	type entry struct {
		dir, name string
		args      [][]byte
	}
	var entries []entry
	for target, files := range seeds {
		for _, file := range files {
			entries = append(entries, entry{target, file[:len(file)-len(".hex")], [][]byte{readHex(t, file)}})
		}
	}
	for i, s := range containerSeeds(t) {
		entries = append(entries, entry{"FuzzContainer", fmt.Sprintf("stream%d", i), [][]byte{s[0], s[1]}})
	}
	for _, e := range entries {
		path := filepath.Join("testdata", "fuzz", e.dir, e.name)
		if !*updateCorpus {
			if _, err := os.Stat(path); err != nil {
				t.Errorf("seed missing (go test -run TestWriteCorpus -update-corpus): %v", err)
			}
			continue
		}
		var buf bytes.Buffer
		buf.WriteString("go test fuzz v1\n")
		for _, a := range e.args {
			fmt.Fprintf(&buf, "[]byte(%q)\n", a)
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
