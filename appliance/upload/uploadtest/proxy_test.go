package uploadtest

import (
	"io"
	"net"
	"testing"
	"time"
)

// sink accepts connections and reads them to the end, reporting how many
// bytes each carried.
func sink(t *testing.T) (string, <-chan int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	got := make(chan int64, 1)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n, _ := io.Copy(io.Discard, c)
			c.Close()
			got <- n
		}
	}()
	return ln.Addr().String(), got
}

// send writes the bursts through p, pausing between them, and returns how
// long the sink took to read everything.
func send(t *testing.T, p *Proxy, got <-chan int64, pause time.Duration, bursts ...int) time.Duration {
	t.Helper()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	total := 0
	for i, n := range bursts {
		if i > 0 {
			time.Sleep(pause)
		}
		if _, err := c.Write(make([]byte, n)); err != nil {
			t.Fatal(err)
		}
		total += n
	}
	c.(*net.TCPConn).CloseWrite()
	select {
	case n := <-got:
		if n != int64(total) {
			t.Fatalf("the server read %d bytes, want %d", n, total)
		}
	case <-time.After(time.Minute):
		t.Fatal("the server read nothing for a minute")
	}
	took := time.Since(start)
	c.Close()
	return took
}

// A shaped link carries a backlog at its rate, not at the pace of the
// proxy's own sleeps and writes: 100 Mbit/s used to carry about 25.
func TestProxyRateHoldsAtHighRates(t *testing.T) {
	for _, rate := range []int64{1_250_000, 12_500_000} {
		addr, got := sink(t)
		p := StartProxy(t, addr)
		p.SetRate(rate, rate)
		size := int(rate) // a second's worth
		took := send(t, p, got, 0, size)
		limit := time.Duration(float64(size) / float64(rate) * float64(time.Second))
		t.Logf("%d bytes/s: %v for %v's worth", rate, took.Round(time.Millisecond), limit)
		if took < limit*98/100 {
			t.Errorf("%d bytes/s: carried a second's worth in %v: faster than the link", rate, took)
		}
		if took > limit*110/100 {
			t.Errorf("%d bytes/s: carried a second's worth in %v: the proxy slows the link", rate, took)
		}
	}
}

// The link does not make up for a sender's pauses: what it did not carry
// while the sender was idle is lost, as on a real link.
func TestProxyRateDoesNotCreditPauses(t *testing.T) {
	addr, got := sink(t)
	p := StartProxy(t, addr)
	const rate = 1_250_000
	p.SetRate(rate, rate)
	// Five bursts of 50 ms's worth, written 100 ms apart: the last is
	// written after 400 ms and takes its 50 ms from there.
	took := send(t, p, got, 100*time.Millisecond, 62_500, 62_500, 62_500, 62_500, 62_500)
	if min := 400*time.Millisecond + 50*time.Millisecond*95/100; took < min {
		t.Errorf("five bursts of 50 ms's worth written 100 ms apart took %v, want at least %v", took, min)
	}
}
