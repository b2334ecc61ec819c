package tus

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/appliance/upload"
	"github.com/lapsebox/lapsebox/appliance/upload/uploadtest"
	"github.com/lapsebox/lapsebox/cloud/ingest"
)

const killChildEnv = "LAPSEBOX_TUS_KILL_CHILD" // state dir,server URL

// killSizes are the photos the kill test's child uploads, by seed.
var killSizes = []int{700 << 10, 1<<20 + 3, 100 << 10, 2 << 20, 50, 400 << 10}

func killPhoto(i int) (string, int, uint64) {
	return fmt.Sprintf("2026/11/26/20261126120%03d.jpg", i), killSizes[i], uint64(100 + i)
}

func TestMain(m *testing.M) {
	if v := os.Getenv(killChildEnv); v != "" {
		dir, url, _ := strings.Cut(v, ",")
		if err := killChild(dir, url); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// killChild uploads the photos not yet done, keeping resume state in
// files as the outbox would, until it is killed or done.
func killChild(dir, url string) error {
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
	p, err := uploadtest.NewProxy(c.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	p.SetRate(1<<20, 0)
	dir := t.TempDir()
	rnd := rand.New(rand.NewPCG(1, 2))
	kills, deadline := 0, time.Now().Add(40*time.Second)
	for {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), killChildEnv+"="+dir+","+p.URL())
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		// Kill in the middle of a transfer: once a random number of
		// bytes went up since the start.
		target := p.BytesUp() + int64(20<<10+rnd.IntN(280<<10))
		timeout := time.After(5 * time.Second)
		killed := false
	wait:
		for {
			select {
			case err := <-exited:
				if err != nil {
					t.Fatalf("child failed after %d kills: %v: %s", kills, err, stderr.String())
				}
				break wait
			case <-timeout:
				t.Fatalf("child made no progress in 5 s after %d kills", kills)
			case <-time.After(time.Millisecond):
				if p.BytesUp() >= target {
					cmd.Process.Signal(syscall.SIGKILL)
					<-exited
					kills++
					killed = true
					break wait
				}
			}
		}
		if killed {
			if time.Now().After(deadline) {
				t.Fatalf("not done after %d kills", kills)
			}
			continue
		}
		break
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
