package modem_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/modem"
	"github.com/lapsebox/lapsebox/modem/sim"
	"github.com/tarm/serial"
)

// BenchmarkRoundTrip measures an AT round trip through the engine
// (tarm/serial, the reader goroutine, the lexer, the classifier) against
// the simulator on a pseudo-terminal, and the same round trip by hand on
// the same simulator through tarm/serial alone (write "AT\r", read until
// "OK\r\n") as the reference: the difference is the engine's overhead.
//
//	go test -run '^$' -bench RoundTrip ./modem/
func BenchmarkRoundTrip(b *testing.B) {
	ctx := context.Background()
	_, p := sim.StartPTY(b, sim.Config{})

	b.Run("engine", func(b *testing.B) {
		port, err := modem.OpenSerial(p.Path(), time.Second)
		if err != nil {
			b.Fatal(err)
		}
		c := modem.New(port, modem.Options{})
		defer c.Close()
		if err := modem.WaitReady(ctx, c, 10*time.Second); err != nil {
			b.Fatal(err)
		}
		c.Command(ctx, "ATE0")
		for b.Loop() {
			if _, err := c.Command(ctx, "AT"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("by-hand", func(b *testing.B) {
		f, err := serial.OpenPort(&serial.Config{Name: p.Path(), Baud: 115200, ReadTimeout: time.Second})
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		buf := make([]byte, 256)
		roundTrip := func(cmd string) {
			if _, err := f.Write([]byte(cmd + "\r")); err != nil {
				b.Fatal(err)
			}
			var got []byte
			for !bytes.HasSuffix(got, []byte("OK\r\n")) {
				n, err := f.Read(buf)
				if err != nil {
					b.Fatal(err)
				}
				got = append(got, buf[:n]...)
			}
		}
		roundTrip("ATE0") // echo is off already; this drains
		for b.Loop() {
			roundTrip("AT")
		}
	})
}
