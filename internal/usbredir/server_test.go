package usbredir

import (
	"context"
	"encoding/binary"
	"net"
	"testing"
	"time"
)

// dialGuest connects to a Server as QEMU does and exchanges hellos.
func dialGuest(t *testing.T, addr string) *guest {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	g := &guest{t: t, conn: conn}
	h := make([]byte, versionLen)
	g.send(typeHello, 0, h, binary.LittleEndian.AppendUint32(nil, qemuCaps))
	g.expect(typeHello)
	g.n = negotiated(qemuCaps & ourCaps)
	return g
}

func TestServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{Device: newFakeDevice(), Logf: t.Logf}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()

	g := dialGuest(t, ln.Addr().String())
	g.expectConnect()
	wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
	defer wcancel()
	if err := s.WaitConnected(wctx); err != nil {
		t.Fatal(err)
	}
	s.Unplug()
	g.expect(typeDeviceDisconnect)

	// QEMU reconnects (the chardev's reconnect): the new connection
	// replaces the old one, and the device is still unplugged.
	g2 := dialGuest(t, ln.Addr().String())
	waitFor(t, "the second connection", func() bool { return s.Accepted() == 2 })
	pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
	defer pcancel()
	plugged := make(chan error, 1)
	go func() { plugged <- s.Plug(pctx) }()
	g2.expectConnect()
	if err := <-plugged; err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after its context was cancelled")
	}
}
