package ptp

import (
	"bytes"
	"context"
	"errors"
	"io"
	"reflect"
	"testing"
)

// scriptTransport replays bulk IN transfers as given; when they run out it
// fails instead of waiting, so that no test can hang.
type scriptTransport struct {
	mps       int
	transfers [][]byte
}

var errScriptEnd = errors.New("script: no more transfers")

func (s *scriptTransport) Receive(ctx context.Context, p []byte) (int, error) {
	if len(s.transfers) == 0 {
		return 0, errScriptEnd
	}
	t := s.transfers[0]
	s.transfers = s.transfers[1:]
	if len(t) > len(p) {
		return 0, errors.New("script: overflow")
	}
	return copy(p, t), nil
}
func (s *scriptTransport) Send(context.Context, []byte) error             { return nil }
func (s *scriptTransport) Interrupt(context.Context, []byte) (int, error) { return 0, errScriptEnd }
func (s *scriptTransport) MaxPacketSize() int                             { return s.mps }
func (s *scriptTransport) Cancel(context.Context, uint32) error           { return nil }
func (s *scriptTransport) Reset(context.Context) error                    { return nil }
func (s *scriptTransport) Status(context.Context) (ResponseCode, []uint32, error) {
	return RespOK, nil, nil
}
func (s *scriptTransport) Close() error { return nil }

func mustContainer(t testing.TB, c Container) []byte {
	t.Helper()
	b, err := c.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestContainerRoundTrip(t *testing.T) {
	tests := []struct {
		c   Container
		enc []byte
	}{
		{Container{Type: ContainerCommand, Code: 0x1002, TransactionID: 0, Params: []uint32{1}},
			[]byte{16, 0, 0, 0, 1, 0, 2, 0x10, 0, 0, 0, 0, 1, 0, 0, 0}},
		{Container{Type: ContainerResponse, Code: 0x2001, TransactionID: 5},
			[]byte{12, 0, 0, 0, 3, 0, 1, 0x20, 5, 0, 0, 0}},
		{Container{Type: ContainerData, Code: 0x1009, TransactionID: 7, Data: []byte{0xAA, 0xBB}},
			[]byte{14, 0, 0, 0, 2, 0, 9, 0x10, 7, 0, 0, 0, 0xAA, 0xBB}},
		{Container{Type: ContainerEvent, Code: 0x4002, Params: []uint32{0x12}},
			[]byte{16, 0, 0, 0, 4, 0, 2, 0x40, 0, 0, 0, 0, 0x12, 0, 0, 0}},
	}
	for _, tt := range tests {
		b := mustContainer(t, tt.c)
		if !bytes.Equal(b, tt.enc) {
			t.Errorf("%+v: encoded % x, want % x", tt.c, b, tt.enc)
		}
		c, n, err := ParseContainer(append(b, 0xFF)) // a glued byte stays
		if err != nil || n != len(b) || !reflect.DeepEqual(c, tt.c) {
			t.Errorf("ParseContainer(% x) = %+v, %d, %v", b, c, n, err)
		}
	}
}

func TestContainerErrors(t *testing.T) {
	tests := []struct {
		name string
		b    []byte
		want string
	}{
		{"short", []byte{12, 0, 0}, "ptp: Container.Header at offset 0: truncated: need 12 bytes, have 3"},
		{"bad type", []byte{12, 0, 0, 0, 9, 0, 1, 0x20, 0, 0, 0, 0}, "ptp: Container.Type at offset 4: unknown container type 9"},
		{"length < 12", []byte{8, 0, 0, 0, 2, 0, 1, 0x10, 0, 0, 0, 0}, "ptp: Container.Length at offset 0: 8 is shorter than the header"},
		{"6 params", append([]byte{36, 0, 0, 0, 3, 0, 1, 0x20, 0, 0, 0, 0}, make([]byte, 24)...), "ptp: Container.Length at offset 0: 36 does not fit a Response container"},
		{"4 event params", append([]byte{28, 0, 0, 0, 4, 0, 2, 0x40, 0, 0, 0, 0}, make([]byte, 16)...), "ptp: Container.Length at offset 0: 28 does not fit a Event container"},
		{"odd params", []byte{14, 0, 0, 0, 3, 0, 1, 0x20, 0, 0, 0, 0, 1, 2}, "ptp: Container.Length at offset 0: 14 does not fit a Response container"},
		{"cut payload", []byte{20, 0, 0, 0, 2, 0, 9, 0x10, 0, 0, 0, 0, 1}, "ptp: Container.Payload at offset 12: truncated: length 20, have 13 bytes"},
	}
	for _, tt := range tests {
		_, _, err := ParseContainer(tt.b)
		if err == nil || err.Error() != tt.want {
			t.Errorf("%s: got %v\nwant %s", tt.name, err, tt.want)
		}
	}
	if _, err := (&Container{Type: ContainerCommand, Params: make([]uint32, 6)}).MarshalBinary(); err == nil {
		t.Error("6 command parameters encoded")
	}
	if _, err := (&Container{Type: ContainerData, Params: []uint32{1}}).MarshalBinary(); err == nil {
		t.Error("data container with parameters encoded")
	}
	if _, err := DecodeEvent(mustContainer(t, Container{Type: ContainerResponse, Code: 0x2001})); err == nil {
		t.Error("response decoded as an event")
	}
}

// TestStreamEdges feeds the container reader transfer sequences that the
// fake device does not produce.
func TestStreamEdges(t *testing.T) {
	resp := mustContainer(t, Container{Type: ContainerResponse, Code: 0x2001, TransactionID: 1, Params: []uint32{7}})
	data := mustContainer(t, Container{Type: ContainerData, Code: 0x1009, TransactionID: 1, Data: pattern(600)})
	tests := []struct {
		name      string
		transfers [][]byte
		wantData  int
		wantErr   error
	}{
		{"header in two pieces", [][]byte{resp[:6], resp[6:]}, 0, nil},
		{"params in their own transfer", [][]byte{resp[:12], resp[12:]}, 0, nil},
		{"response glued to data", [][]byte{data[:512], append(data[512:len(data):len(data)], resp...)}, 600, nil},
		{"ZLP inside the header", [][]byte{resp[:6], {}, resp[6:]}, 0, ErrProtocol},
		{"short packet inside data", [][]byte{data[:100], data[100:]}, 0, ErrProtocol},
		{"ZLP inside data", [][]byte{data[:512], {}, data[512:]}, 0, ErrProtocol},
		{"too many ZLPs", [][]byte{{}, {}, {}, {}, {}, {}, {}, {}, {}, resp}, 0, ErrProtocol},
		{"a few ZLPs", [][]byte{{}, {}, {}, resp}, 0, nil},
		{"bad header", [][]byte{{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}}, 0, ErrProtocol},
		{"device stops", [][]byte{data[:512]}, 0, errScriptEnd},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newInStream(&scriptTransport{mps: 512, transfers: tt.transfers}, 512)
			var got bytes.Buffer
			sink := func(*Container) *bytes.Buffer { return &got }
			var err error
			for err == nil {
				var c Container
				c, err = s.read(context.Background(), func(h *Container) io.Writer { return sink(h) })
				if err == nil && c.Type == ContainerResponse {
					if !reflect.DeepEqual(c.Params, []uint32{7}) {
						t.Errorf("params %v", c.Params)
					}
					break
				}
			}
			if !errors.Is(err, tt.wantErr) && !(tt.wantErr == nil && err == nil) {
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			}
			if err == nil && got.Len() != tt.wantData {
				t.Errorf("%d data bytes, want %d", got.Len(), tt.wantData)
			}
		})
	}
}
