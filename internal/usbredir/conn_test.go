package usbredir

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"testing"
	"time"
	"unicode/utf16"
)

func TestConnectQEMUCaps(t *testing.T) {
	dev := newFakeDevice()
	g := startGuest(t, dev, qemuCaps, nil)
	if g.n.headerLen() != 16 {
		t.Fatalf("with QEMU's capabilities the header is %d bytes, want 16 (64-bit ids)", g.n.headerLen())
	}
	ii, ei, dc := g.expectConnect()
	if n := binary.LittleEndian.Uint32(ii.hdr); n != 1 {
		t.Errorf("interface_info: %d interfaces, want 1", n)
	}
	if got := []byte{ii.hdr[4], ii.hdr[36], ii.hdr[68], ii.hdr[100]}; !bytes.Equal(got, []byte{0, 6, 1, 1}) {
		t.Errorf("interface_info: interface, class, subclass, protocol = % x, want 00 06 01 01", got)
	}
	types, interval, iface, mps := ei.hdr[0:32], ei.hdr[32:64], ei.hdr[64:96], ei.hdr[96:160]
	want := map[int]struct{ typ, interval, mps int }{
		0: {0, 0, 64}, 16: {0, 0, 64}, // endpoint 0, both directions
		17: {2, 0, 512}, // 0x81
		2:  {2, 0, 512}, // 0x02
		19: {3, 7, 64},  // 0x83
	}
	for i := range 32 {
		w, ok := want[i]
		if !ok {
			w = struct{ typ, interval, mps int }{255, 0, 0}
		}
		got := struct{ typ, interval, mps int }{int(types[i]), int(interval[i]), int(binary.LittleEndian.Uint16(mps[2*i:]))}
		if got != w {
			t.Errorf("ep_info[%d] = %+v, want %+v", i, got, w)
		}
		if iface[i] != 0 {
			t.Errorf("ep_info[%d]: interface %d", i, iface[i])
		}
	}
	wantDC := []byte{2, 0, 0, 0, 0xa9, 0x04, 0x18, 0x32, 0x00, 0x01}
	if !bytes.Equal(dc.hdr, wantDC) {
		t.Errorf("device_connect = % x, want % x", dc.hdr, wantDC)
	}
}

func TestConnectOldPeer(t *testing.T) {
	// A peer without capabilities: 32-bit ids, 8-byte device_connect,
	// ep_info without wMaxPacketSize, 16-bit bulk lengths.
	dev := newFakeDevice()
	g := startGuest(t, dev, 0, nil)
	_, ei, dc := g.expectConnect()
	if len(ei.hdr) != 96 || len(dc.hdr) != 8 {
		t.Fatalf("ep_info %d bytes, device_connect %d bytes; want 96 and 8", len(ei.hdr), len(dc.hdr))
	}
	g.send(typeBulkPacket, 7, g.bulkHeader(0x02, 3), []byte("abc"))
	st, n, _ := g.bulkReply(g.read(), 7, 0x02)
	if st != statusSuccess || n != 3 {
		t.Errorf("bulk OUT: status %d length %d, want 0 and 3", st, n)
	}
}

func TestStandardRequests(t *testing.T) {
	dev := newFakeDevice()
	g := startGuest(t, dev, qemuCaps, nil)
	g.expectConnect()

	// The kernel's first read of the device descriptor asks for 64 bytes.
	st, d := g.control(1, Setup{RequestType: 0x80, Request: 6, Value: 0x0100, Length: 64}, nil)
	want := []byte{18, 1, 0, 2, 0, 0, 0, 64, 0xa9, 4, 0x18, 0x32, 0, 1, 1, 2, 3, 1}
	if st != statusSuccess || !bytes.Equal(d, want) {
		t.Errorf("device descriptor: status %d % x, want % x", st, d, want)
	}
	_, d = g.control(2, Setup{RequestType: 0x80, Request: 6, Value: 0x0200, Length: 9}, nil)
	if len(d) != 9 || d[1] != 2 || binary.LittleEndian.Uint16(d[2:]) != 9+9+3*7 || d[4] != 1 || d[5] != 1 || d[8] != 50 {
		t.Errorf("configuration descriptor header: % x", d)
	}
	_, d = g.control(3, Setup{RequestType: 0x80, Request: 6, Value: 0x0200, Length: 255}, nil)
	wantCfg := []byte{
		9, 2, 39, 0, 1, 1, 0, 0x80, 50,
		9, 4, 0, 0, 3, 6, 1, 1, 4,
		7, 5, 0x81, 2, 0, 2, 0,
		7, 5, 0x02, 2, 0, 2, 0,
		7, 5, 0x83, 3, 64, 0, 7,
	}
	if !bytes.Equal(d, wantCfg) {
		t.Errorf("configuration descriptor:\n got % x\nwant % x", d, wantCfg)
	}
	_, d = g.control(4, Setup{RequestType: 0x80, Request: 6, Value: 0x0300, Length: 255}, nil)
	if !bytes.Equal(d, []byte{4, 3, 9, 4}) {
		t.Errorf("language IDs: % x", d)
	}
	for i, s := range []string{"Canon Inc.", "Canon Digital Camera", "0123abcd", "PTP"} {
		_, d = g.control(5, Setup{RequestType: 0x80, Request: 6, Value: 0x0301 + uint16(i), Index: 0x0409, Length: 255}, nil)
		if got := decodeString(d); got != s {
			t.Errorf("string %d = %q, want %q", i+1, got, s)
		}
	}
	if st, _ := g.control(6, Setup{RequestType: 0x80, Request: 6, Value: 0x0305, Length: 255}, nil); st != statusStall {
		t.Errorf("string 5 (none): status %d, want stall", st)
	}
	if _, d := g.control(7, Setup{RequestType: 0x80, Request: 6, Value: 0x0600, Length: 10}, nil); len(d) != 10 || d[1] != 6 {
		t.Errorf("device qualifier: % x", d)
	}
	if st, _ := g.control(8, Setup{RequestType: 0x80, Request: 6, Value: 0x0f00, Length: 5}, nil); st != statusStall {
		t.Errorf("BOS descriptor: status %d, want stall", st)
	}
	if st, d := g.control(9, Setup{RequestType: 0x80, Request: 0, Length: 2}, nil); st != statusSuccess || !bytes.Equal(d, []byte{0, 0}) {
		t.Errorf("GET_STATUS(device): %d % x", st, d)
	}

	// Configuration and alternate setting come as their own packets.
	g.send(typeSetConfiguration, 10, []byte{1}, nil)
	if p := g.expect(typeConfigurationStatus); p.id != 10 || !bytes.Equal(p.hdr, []byte{0, 1}) {
		t.Errorf("set_configuration(1): id %d % x", p.id, p.hdr)
	}
	g.send(typeGetConfiguration, 11, nil, nil)
	if p := g.expect(typeConfigurationStatus); p.id != 11 || !bytes.Equal(p.hdr, []byte{0, 1}) {
		t.Errorf("get_configuration: id %d % x", p.id, p.hdr)
	}
	g.send(typeSetConfiguration, 12, []byte{2}, nil)
	if p := g.expect(typeConfigurationStatus); p.hdr[0] != statusStall {
		t.Errorf("set_configuration(2): % x, want a stall", p.hdr)
	}
	g.send(typeSetAltSetting, 13, []byte{0, 0}, nil)
	if p := g.expect(typeAltSettingStatus); p.id != 13 || !bytes.Equal(p.hdr, []byte{0, 0, 0}) {
		t.Errorf("set_alt_setting(0, 0): % x", p.hdr)
	}
	g.send(typeSetAltSetting, 14, []byte{0, 1}, nil)
	if p := g.expect(typeAltSettingStatus); p.hdr[0] != statusStall {
		t.Errorf("set_alt_setting(0, 1): % x, want a stall", p.hdr)
	}
	g.send(typeGetAltSetting, 15, []byte{1}, nil)
	if p := g.expect(typeAltSettingStatus); p.hdr[0] != statusStall {
		t.Errorf("get_alt_setting(1): % x, want a stall", p.hdr)
	}
}

func decodeString(d []byte) string {
	if len(d) < 2 || int(d[0]) != len(d) || d[1] != 3 {
		return "bad descriptor"
	}
	u := make([]uint16, (len(d)-2)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(d[2+2*i:])
	}
	return string(utf16.Decode(u))
}

func TestClassRequests(t *testing.T) {
	dev := newFakeDevice()
	g := startGuest(t, dev, qemuCaps, nil)
	g.expectConnect()
	st, d := g.control(1, Setup{RequestType: 0xa1, Request: 0x67, Length: 64}, nil)
	if st != statusSuccess || !bytes.Equal(d, []byte{4, 0, 1, 0x20}) {
		t.Errorf("Get Device Status: %d % x", st, d)
	}
	cancel := []byte{0x01, 0x40, 7, 0, 0, 0}
	s := Setup{RequestType: 0x21, Request: 0x64, Length: 6}
	g.send(typeControlPacket, 2, controlHeader(s), cancel)
	p := g.expect(typeControlPacket)
	if p.hdr[3] != statusSuccess || binary.LittleEndian.Uint16(p.hdr[8:]) != 6 || len(p.data) != 0 {
		t.Errorf("Cancel Request reply: % x with %d bytes", p.hdr, len(p.data))
	}
	if st, _ := g.control(3, Setup{RequestType: 0xa1, Request: 0x65, Length: 64}, nil); st != statusStall {
		t.Errorf("Get Extended Event Data: status %d, want stall", st)
	}
	if len(dev.ctrl) != 3 {
		t.Errorf("device saw %d class requests, want 3", len(dev.ctrl))
	}
}

func TestBulk(t *testing.T) {
	dev := newFakeDevice()
	g := startGuest(t, dev, qemuCaps, nil)
	g.expectConnect()

	// OUT: data reaches the device; the reply has the length and no data.
	cmd := bytes.Repeat([]byte{0x5a}, 70000) // > 16 bits: 32-bit lengths
	g.send(typeBulkPacket, 1, g.bulkHeader(0x02, len(cmd)), cmd)
	st, n, data := g.bulkReply(g.read(), 1, 0x02)
	if st != statusSuccess || n != len(cmd) || len(data) != 0 {
		t.Errorf("bulk OUT reply: status %d length %d data %d", st, n, len(data))
	}
	if len(dev.outs) != 1 || !bytes.Equal(dev.outs[0], cmd) {
		t.Errorf("device got %d OUT transfers", len(dev.outs))
	}

	// IN with no data yet: held, while a control request is answered.
	g.send(typeBulkPacket, 2, g.bulkHeader(0x81, 16384), nil)
	<-dev.started
	if st, _ := g.control(3, Setup{RequestType: 0x80, Request: 0, Length: 2}, nil); st != statusSuccess {
		t.Errorf("GET_STATUS during a pending bulk IN: status %d", st)
	}
	resp := []byte{12, 0, 0, 0, 3, 0, 1, 0x20, 0, 0, 0, 0}
	dev.in <- resp
	st, n, data = g.bulkReply(g.read(), 2, 0x81)
	if st != statusSuccess || n != 12 || !bytes.Equal(data, resp) {
		t.Errorf("bulk IN reply: status %d length %d data % x", st, n, data)
	}

	// A device that sends more than asked for: babble, truncated.
	g.send(typeBulkPacket, 4, g.bulkHeader(0x81, 512), nil)
	dev.in <- make([]byte, 1024)
	if st, n, data := g.bulkReply(g.read(), 4, 0x81); st != statusBabble || n != 512 || len(data) != 512 {
		t.Errorf("babbling bulk IN: status %d length %d data %d", st, n, len(data))
	}

	// Endpoints that are not bulk endpoints of the device.
	g.send(typeBulkPacket, 5, g.bulkHeader(0x83, 64), nil)
	if st, _, _ := g.bulkReply(g.read(), 5, 0x83); st != statusInval {
		t.Errorf("bulk IN on the interrupt endpoint: status %d, want inval", st)
	}
	g.send(typeBulkPacket, 6, g.bulkHeader(0x05, 1), []byte{1})
	if st, _, _ := g.bulkReply(g.read(), 6, 0x05); st != statusInval {
		t.Errorf("bulk OUT to endpoint 5: status %d, want inval", st)
	}
}

func TestBulkInQueue(t *testing.T) {
	// QEMU pipelines bulk IN packets: they are answered in order.
	dev := newFakeDevice()
	g := startGuest(t, dev, qemuCaps, nil)
	g.expectConnect()
	for id := uint64(1); id <= 3; id++ {
		g.send(typeBulkPacket, id, g.bulkHeader(0x81, 512), nil)
	}
	for id := uint64(1); id <= 3; id++ {
		dev.in <- []byte{byte(id)}
		_, _, data := g.bulkReply(g.read(), id, 0x81)
		if !bytes.Equal(data, []byte{byte(id)}) {
			t.Errorf("reply %d: % x", id, data)
		}
	}
}

func TestCancel(t *testing.T) {
	dev := newFakeDevice()
	g := startGuest(t, dev, qemuCaps, nil)
	g.expectConnect()
	g.send(typeBulkPacket, 0x1_0000_0001, g.bulkHeader(0x81, 512), nil) // a 64-bit id
	<-dev.started
	g.send(typeCancelDataPacket, 0x1_0000_0001, nil, nil)
	st, n, _ := g.bulkReply(g.read(), 0x1_0000_0001, 0x81)
	if st != statusCancelled || n != 0 {
		t.Errorf("cancelled bulk IN: status %d length %d", st, n)
	}
	// Cancelling an unknown id is harmless, and the endpoint still works.
	g.send(typeCancelDataPacket, 99, nil, nil)
	g.send(typeBulkPacket, 2, g.bulkHeader(0x81, 512), nil)
	dev.in <- []byte{1, 2, 3}
	if st, n, _ := g.bulkReply(g.read(), 2, 0x81); st != statusSuccess || n != 3 {
		t.Errorf("bulk IN after a cancel: status %d length %d", st, n)
	}
	if got := g.c.Stats().Cancelled; got != 1 {
		t.Errorf("Stats().Cancelled = %d, want 1", got)
	}
}

func TestHalt(t *testing.T) {
	dev := newFakeDevice()
	g := startGuest(t, dev, qemuCaps, nil)
	g.expectConnect()
	dev.outErr = ErrStall
	g.send(typeBulkPacket, 1, g.bulkHeader(0x02, 1), []byte{1})
	if st, _, _ := g.bulkReply(g.read(), 1, 0x02); st != statusStall {
		t.Fatalf("bulk OUT: status %d, want stall", st)
	}
	// The endpoint stays halted: the device does not see the next one.
	g.send(typeBulkPacket, 2, g.bulkHeader(0x02, 1), []byte{2})
	if st, _, _ := g.bulkReply(g.read(), 2, 0x02); st != statusStall {
		t.Errorf("bulk OUT to a halted endpoint: status %d, want stall", st)
	}
	getStatus := Setup{RequestType: 0x82, Request: 0, Index: 0x02, Length: 2}
	if _, d := g.control(3, getStatus, nil); !bytes.Equal(d, []byte{1, 0}) {
		t.Errorf("GET_STATUS(0x02) of a halted endpoint: % x", d)
	}
	if st, _ := g.control(4, Setup{RequestType: 0x02, Request: 1, Value: 0, Index: 0x02}, nil); st != statusSuccess {
		t.Errorf("CLEAR_FEATURE(ENDPOINT_HALT): status %d", st)
	}
	if _, d := g.control(5, getStatus, nil); !bytes.Equal(d, []byte{0, 0}) {
		t.Errorf("GET_STATUS(0x02) after CLEAR_FEATURE: % x", d)
	}
	g.send(typeBulkPacket, 6, g.bulkHeader(0x02, 1), []byte{6})
	if st, _, _ := g.bulkReply(g.read(), 6, 0x02); st != statusSuccess {
		t.Errorf("bulk OUT after CLEAR_FEATURE: status %d", st)
	}
	if len(dev.outs) != 1 || dev.outs[0][0] != 6 {
		t.Errorf("device got %v, want only the transfer after the halt was cleared", dev.outs)
	}
	if st, _ := g.control(7, Setup{RequestType: 0x82, Request: 0, Index: 0x84, Length: 2}, nil); st != statusStall {
		t.Errorf("GET_STATUS of endpoint 0x84 (none): status %d, want stall", st)
	}
}

func TestInterrupts(t *testing.T) {
	dev := newFakeDevice()
	g := startGuest(t, dev, qemuCaps, nil)
	g.expectConnect()
	g.send(typeStartInterruptReceiving, 0, []byte{0x83}, nil)
	if p := g.expect(typeInterruptReceivingStatus); !bytes.Equal(p.hdr, []byte{0, 0x83}) {
		t.Errorf("start_interrupt_receiving status % x", p.hdr)
	}
	g.send(typeStartInterruptReceiving, 0, []byte{0x81}, nil)
	if p := g.expect(typeInterruptReceivingStatus); p.hdr[0] != statusStall {
		t.Errorf("start_interrupt_receiving on a bulk endpoint: % x, want a stall", p.hdr)
	}
	ev := []byte{16, 0, 0, 0, 4, 0, 2, 0x40, 0, 0, 0, 0, 1, 0, 0, 0}
	dev.events <- ev
	p := g.expect(typeInterruptPacket)
	if p.hdr[0] != 0x83 || p.hdr[1] != 0 || !bytes.Equal(p.data, ev) {
		t.Errorf("event: header % x data % x", p.hdr, p.data)
	}
	// Longer than wMaxPacketSize: cut into packets, the last one short;
	// a multiple of it ends with a zero-length packet.
	for _, size := range []int{100, 128} {
		dev.events <- make([]byte, size)
		var got []int
		for {
			p := g.expect(typeInterruptPacket)
			got = append(got, len(p.data))
			if len(p.data) < 64 {
				break
			}
		}
		want := map[int][]int{100: {64, 36}, 128: {64, 64, 0}}[size]
		if !equalInts(got, want) {
			t.Errorf("%d-byte event sent as packets of %v, want %v", size, got, want)
		}
	}
	g.send(typeStopInterruptReceiving, 0, []byte{0x83}, nil)
	g.expect(typeInterruptReceivingStatus)
	dev.events <- ev
	// Nothing is sent now: the next packet is the answer to this request.
	if st, _ := g.control(1, Setup{RequestType: 0x80, Request: 0, Length: 2}, nil); st != statusSuccess {
		t.Errorf("GET_STATUS: %d", st)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestResetAndUnplug(t *testing.T) {
	dev := newFakeDevice()
	g := startGuest(t, dev, qemuCaps|1<<capDeviceDisconnectAck, nil)
	g.expectConnect()
	g.send(typeReset, 0, nil, nil)
	waitFor(t, "the device's Reset", func() bool { dev.mu.Lock(); defer dev.mu.Unlock(); return dev.resets == 1 })

	g.send(typeBulkPacket, 1, g.bulkHeader(0x81, 512), nil)
	<-dev.started
	go g.c.Unplug()                // net.Pipe does not buffer: read while it writes
	g.expect(typeDeviceDisconnect) // and no reply for the abandoned packet
	if g.c.Plugged() {
		t.Errorf("Plugged after Unplug")
	}
	// Data packets meanwhile fail at once.
	g.send(typeBulkPacket, 2, g.bulkHeader(0x02, 1), []byte{1})
	if st, _, _ := g.bulkReply(g.read(), 2, 0x02); st != statusIOError {
		t.Errorf("bulk OUT while unplugged: status %d, want ioerror", st)
	}
	// Plug waits for QEMU's acknowledgement of the disconnect.
	plugged := make(chan error, 1)
	go func() { plugged <- g.c.Plug(context.Background()) }()
	select {
	case err := <-plugged:
		t.Fatalf("Plug returned before device_disconnect_ack: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	g.send(typeDeviceDisconnectAck, 0, nil, nil)
	g.expectConnect()
	if err := <-plugged; err != nil {
		t.Fatal(err)
	}

	// A device that is gone unplugs itself.
	g.send(typeBulkPacket, 3, g.bulkHeader(0x81, 512), nil)
	<-dev.started
	dev.inErr <- ErrNoDevice
	g.expect(typeDeviceDisconnect)
	if s := g.c.Stats(); s.Connects != 2 || s.Disconnects != 2 || s.Resets != 1 {
		t.Errorf("Stats() = %+v", s)
	}
}

func TestStartUnplugged(t *testing.T) {
	dev := newFakeDevice()
	g := startGuest(t, dev, qemuCaps, &Options{Unplugged: true})
	done := make(chan error, 1)
	go func() { done <- g.c.Plug(context.Background()) }()
	g.expectConnect()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestBadDescriptors(t *testing.T) {
	dev := newFakeDevice()
	dev.desc.Interfaces[0].Endpoints[2].Interval = 0
	a, b := netPipe()
	done := make(chan error, 1)
	go func() { done <- Serve(context.Background(), b, dev, nil) }()
	go func() {
		h := make([]byte, versionLen)
		a.Write(appendPacket(nil, 0, typeHello, 0, h, []byte{0, 0, 0, 0}))
	}()
	go drain(a)
	select {
	case err := <-done:
		if err == nil || !bytes.Contains([]byte(err.Error()), []byte("bInterval 0")) {
			t.Errorf("Serve with an interrupt endpoint of bInterval 0: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return")
	}
	a.Close()
}

func TestRunReturnsOnContext(t *testing.T) {
	a, b := netPipe()
	go drain(a)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, b, newFakeDevice(), nil) }()
	cancel()
	select {
	case err := <-done:
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("Serve after cancel: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after its context was cancelled")
	}
}
