package uploadtest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/appliance/upload"
)

// Photo returns size pseudo-random bytes (the same for the same seed)
// and an Item that serves them under name.
func Photo(name string, size int, seed uint64) (upload.Item, []byte) {
	data := make([]byte, size)
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	return ItemOf(name, data), data
}

// ItemOf returns an Item that serves data under name.
func ItemOf(name string, data []byte) upload.Item {
	sum := sha256.Sum256(data)
	return upload.Item{
		Name:        name,
		Size:        int64(len(data)),
		SHA256:      hex.EncodeToString(sum[:]),
		ContentType: "image/jpeg",
		CaptureTime: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC),
		Open: func() (io.ReadSeekCloser, error) {
			return nopCloser{bytes.NewReader(data)}, nil
		},
	}
}

type nopCloser struct{ io.ReadSeeker }

func (nopCloser) Close() error { return nil }

// Resume keeps what a target saves, as an outbox entry would. Its methods
// are safe for concurrent use.
type Resume struct {
	mu    sync.Mutex
	state json.RawMessage
	saves int
}

// Save is the save callback of upload.Target.Upload.
func (r *Resume) Save(b json.RawMessage) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.state = append(json.RawMessage(nil), b...)
	r.saves++
	return nil
}

// State returns the last state saved (nil if none, or cleared).
func (r *Resume) State() json.RawMessage {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.state
}

// Saves returns how many times Save was called.
func (r *Resume) Saves() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.saves
}

// Logger returns a logger for targets under test: silent, unless the
// environment variable LAPSEBOX_UPLOAD_DEBUG is set, then everything.
func Logger() *slog.Logger {
	lvl := slog.LevelError + 4
	if os.Getenv("LAPSEBOX_UPLOAD_DEBUG") != "" {
		lvl = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
}

// Transfer returns the transfer settings of targets under test: a client
// that retries after 20 ms to 2 s, a 2 s stall timeout, Logger.
func Transfer() upload.Transfer {
	return upload.Transfer{
		Client:       upload.NewClient(upload.ClientOptions{MinWait: 20 * time.Millisecond, MaxWait: 2 * time.Second, Logger: Logger()}),
		StallTimeout: 2 * time.Second,
		Logger:       Logger(),
	}
}

// New makes a target with newTarget from cfg, changed by mod if not nil,
// failing t if it cannot.
func New[C, T any](t testing.TB, newTarget func(C) (T, error), cfg C, mod func(*C)) T {
	t.Helper()
	if mod != nil {
		mod(&cfg)
	}
	tg, err := newTarget(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return tg
}
