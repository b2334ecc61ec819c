package tus

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/lapsebox/lapsebox/appliance/upload"
	"github.com/lapsebox/lapsebox/appliance/upload/uploadtest"
	"github.com/lapsebox/lapsebox/cloud/ingest"
	"github.com/lapsebox/lapsebox/internal/crashtest"
)

// killSizes are the photos the kill test's child uploads, by seed.
var killSizes = []int{700 << 10, 1<<20 + 3, 100 << 10, 2 << 20, 50, 400 << 10}

func killPhoto(i int) (string, int, uint64) {
	return fmt.Sprintf("2026/11/26/20261126120%03d.jpg", i), killSizes[i], uint64(100 + i)
}

func TestMain(m *testing.M) {
	crashtest.Main(map[string]func(string) error{"upload": killChild})
	os.Exit(m.Run())
}

// killChild uploads the photos not yet done to the server ("state
// dir,server URL"), keeping resume state in files as the outbox would,
// until it is killed or done.
func killChild(arg string) error {
	dir, url, _ := strings.Cut(arg, ",")
	tg, err := New(Config{URL: url, Device: testDevice, Token: testToken, ChunkSize: 256 << 10, Transfer: upload.Transfer{Logger: uploadtest.Logger()}})
	if err != nil {
		return err
	}
	for i := range killSizes {
		done := filepath.Join(dir, "done-"+strconv.Itoa(i))
		if _, err := os.Stat(done); err == nil {
			continue
		}
		name, size, seed := killPhoto(i)
		item, _ := uploadtest.Photo(name, size, seed)
		resume := filepath.Join(dir, "resume-"+strconv.Itoa(i))
		item.Resume, _ = os.ReadFile(resume)
		save := func(b json.RawMessage) error {
			tmp := resume + ".tmp"
			if err := os.WriteFile(tmp, b, 0o644); err != nil {
				return err
			}
			return os.Rename(tmp, resume)
		}
		if err := tg.Upload(context.Background(), item, save); err != nil {
			return err
		}
		if err := os.WriteFile(done, nil, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// TestKill SIGKILLs a child process uploading through a 1 MB/s link many
// times. Every photo must arrive once and intact, and the server must
// never store a byte twice: each run resumes where the server stopped.
func TestKill(t *testing.T) {
	t.Parallel()
	c := startCloud(t, ingest.Config{})
	p := uploadtest.StartProxy(t, c.Addr())
	p.SetRate(1<<20, 0)
	dir := t.TempDir()
	rnd := rand.New(rand.NewPCG(1, 2))
	// Kill in the middle of a transfer, once a random number of bytes
	// went up since the start, until the photos are all there; at most
	// 60 times (about 27 are needed), then let the last run finish.
	kills := 0
	for ; kills < 60; kills++ {
		target := p.BytesUp() + int64(20<<10+rnd.IntN(280<<10))
		child := crashtest.Start(t, "upload", dir+","+p.URL())
		if !child.KillWhen(func() bool { return p.BytesUp() >= target }) {
			break
		}
	}
	if kills == 60 {
		crashtest.Start(t, "upload", dir+","+p.URL()).Wait()
	}
	want := map[string][]byte{}
	var total int64
	for i := range killSizes {
		name, size, seed := killPhoto(i)
		_, data := uploadtest.Photo(name, size, seed)
		want[name] = data
		total += int64(size)
	}
	check(t, c, want)
	st := c.Server.Status()[testDevice]
	t.Logf("%d kills; %d bytes of photos; server stored %d body bytes; %d bytes up the wire (%.4f per photo byte) in %d connections",
		kills, total, st.BodyBytes, p.BytesUp(), float64(p.BytesUp())/float64(total), p.Conns())
	if st.BodyBytes != total {
		t.Errorf("server received %d body bytes for %d bytes of photos: acknowledged bytes were sent again", st.BodyBytes, total)
	}
	if kills < 15 {
		t.Errorf("only %d kills: the test did not test much", kills)
	}
}
