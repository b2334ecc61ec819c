package modem

import (
	"io"
	"sync"
	"testing"
	"time"
)

// pipePort is a Port whose far end is the test: what the engine writes
// arrives on cmds, and say makes the "modem" send bytes.
type pipePort struct {
	r    *io.PipeReader
	w    *io.PipeWriter
	cmds chan string
	once sync.Once
}

func newPipePort() *pipePort {
	r, w := io.Pipe()
	return &pipePort{r: r, w: w, cmds: make(chan string, 100)}
}

func (p *pipePort) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if err != nil {
		return n, ErrGone
	}
	return n, nil
}

func (p *pipePort) Write(b []byte) (int, error) {
	p.cmds <- string(b)
	return len(b), nil
}

func (p *pipePort) Close() error {
	p.once.Do(func() { p.w.Close() })
	return nil
}

// say sends chunks from the modem's side, one write each.
func (p *pipePort) say(chunks ...string) {
	for _, c := range chunks {
		p.w.Write([]byte(c))
	}
}

// expect waits for the engine to write want.
func (p *pipePort) expect(t *testing.T, want string) {
	t.Helper()
	select {
	case got := <-p.cmds:
		if got != want {
			t.Errorf("engine wrote %q, want %q", got, want)
		}
	case <-time.After(10 * time.Second):
		t.Errorf("engine did not write %q", want)
	}
}
