package sockq

import (
	"net"
	"testing"
	"time"
)

// Bytes written and not read show in the reader's Unread; once read,
// they are gone.
func TestUnread(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	if _, err := client.Write(make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		n, ok := Unread(server)
		if !ok {
			t.Fatal("Unread of a TCP connection unknown on Linux")
		}
		if n == 1000 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Unread = %d, want 1000", n)
		}
		time.Sleep(time.Millisecond)
	}
	if _, err := server.Read(make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	if n, _ := Unread(server); n != 0 {
		t.Errorf("Unread after reading everything = %d", n)
	}
	if n, ok := Unacked(client); !ok || n < 0 {
		t.Errorf("Unacked = %d, %v", n, ok)
	}
}
