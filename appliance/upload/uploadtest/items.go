package uploadtest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"math/rand/v2"
	"sync"
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
