package sim

import (
	"context"
	"testing"
)

// StartPTY powers a simulated modem on behind a new pseudo-terminal for a
// test or benchmark; both go when it ends.
func StartPTY(tb testing.TB, cfg Config) (*Sim, *PTY) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := New(cfg)
	p, err := ServePTY(ctx, s)
	if err != nil {
		cancel()
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		p.Close()
		cancel()
	})
	return s, p
}
