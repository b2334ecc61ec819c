package ingest_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/appliance/upload/tus"
	"github.com/lapsebox/lapsebox/appliance/upload/uploadtest"
	"github.com/lapsebox/lapsebox/cloud/archive"
	"github.com/lapsebox/lapsebox/cloud/ingest"
	"github.com/lapsebox/lapsebox/cloud/ingest/ingesttest"
)

const (
	device = "glacier-1"
	token  = "s3cret-token-of-glacier-1"
)

// downable is a replica that can be taken away and brought back.
type downable struct {
	name       string
	store      archive.Store
	down, up   func(t *testing.T)
	secret     string // what its configuration holds that no answer may show
	files      func(key string) string
	restartGap bool // restart cloudd and scrub before the device retries
}

func versitygwReplica(t *testing.T) downable {
	srv := uploadtest.StartVersitygw(t, false)
	s, err := archive.NewS3(archive.S3Config{Endpoint: srv.URL(), Bucket: uploadtest.S3Bucket, Prefix: "lapsebox/",
		AccessKey: uploadtest.S3Access, SecretKey: uploadtest.S3Secret, PathStyle: true})
	if err != nil {
		t.Fatal(err)
	}
	return downable{
		name: "versitygw stopped", store: s, secret: uploadtest.S3Secret,
		down: func(*testing.T) { srv.Stop() },
		up: func(t *testing.T) {
			if err := srv.Start(); err != nil {
				t.Fatal(err)
			}
		},
		files: func(key string) string {
			return filepath.Join(srv.Root, uploadtest.S3Bucket, "lapsebox", filepath.FromSlash(key))
		},
	}
}

// dirReplica is a second disk; down, its mount point is not a directory
// (a disk that is gone, as root sees it: permissions stop no root).
func dirReplica(t *testing.T) downable {
	root := filepath.Join(t.TempDir(), "b")
	d, err := archive.OpenDir(root)
	if err != nil {
		t.Fatal(err)
	}
	return downable{
		name: "dir gone", store: d, restartGap: true,
		down: func(t *testing.T) {
			if err := os.Rename(root, root+".away"); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(root, nil, 0o644); err != nil {
				t.Fatal(err)
			}
		},
		up: func(t *testing.T) {
			os.Remove(root)
			if err := os.Rename(root+".away", root); err != nil {
				t.Fatal(err)
			}
		},
		files: func(key string) string { return filepath.Join(root, filepath.FromSlash(key)) },
	}
}

// TestReplicaDown uploads with the device's own uploader while the
// second store is down: the upload is not acknowledged (503 with a
// Retry-After, no path or secret in the answer), the photo is kept, and
// once the store is back the device's retry completes it from the local
// copy without sending its bytes again. cloudd ends with both copies,
// equal to what the device sent, once each.
func TestReplicaDown(t *testing.T) {
	for _, rep := range []downable{versitygwReplica(t), dirReplica(t)} {
		t.Run(rep.name, func(t *testing.T) {
			var mu sync.Mutex
			var answers []string // "METHOD status Retry-After", "confirmed" if it confirms the photo
			watch := func(h http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					rec := &recorder{ResponseWriter: w}
					h.ServeHTTP(rec, r)
					mu.Lock()
					a := fmt.Sprintf("%s %d %s", r.Method, rec.status, w.Header().Get("Retry-After"))
					if w.Header().Get(ingest.VerifiedHeader) != "" {
						a = "confirmed"
					}
					answers = append(answers, a)
					mu.Unlock()
				})
			}
			c := ingesttest.Start(t, ingesttest.Options{Tokens: map[string]string{device: token}, Wrap: watch, Config: ingest.Config{
				Replica: rep.store, ReplicaRetryAfter: time.Second, Logger: uploadtest.Logger(),
			}})
			tr := uploadtest.Transfer()
			tr.Rounds = 2
			tg, err := tus.New(tus.Config{URL: c.URL(), Device: device, Token: token, ChunkSize: 64 << 10, Transfer: tr})
			if err != nil {
				t.Fatal(err)
			}
			item, data := uploadtest.Photo("2026/12/03/IMG_0001.JPG", 300<<10, 7)
			key := device + "/" + item.Name
			var resume uploadtest.Resume

			rep.down(t)
			err = tg.Upload(context.Background(), item, resume.Save)
			if err == nil {
				t.Fatal("the upload was acknowledged with the second store down")
			}
			t.Logf("with the replica down: %v", err)
			mu.Lock()
			if !slices.Contains(answers, "PATCH 503 1") || slices.ContainsFunc(answers, func(a string) bool {
				return strings.Contains(a, " 20") && !strings.HasPrefix(a, "PATCH 204") && !strings.HasPrefix(a, "POST 201") && !strings.HasPrefix(a, "HEAD")
			}) {
				t.Errorf("answers while the replica is down: %q, want the last PATCH answered 503 with Retry-After: 1, no confirmation", answers)
			}
			mu.Unlock()
			if got := c.Received(device); got[item.Name] != item.SHA256 || len(got) != 1 {
				t.Errorf("with the replica down, cloudd holds %v, want the photo kept", got)
			}
			sent := c.Server.Status()[device].BodyBytes
			if sent != item.Size {
				t.Errorf("received %d body bytes, want %d", sent, item.Size)
			}

			// The device's retry, as a raw creation: 503, a Retry-After,
			// and nothing in the answer that names the server's files or
			// the store's credential.
			status, hdr, body := create(t, c.URL(), item.Name, item.SHA256, item.Size)
			if status != http.StatusServiceUnavailable || hdr.Get("Retry-After") != "1" || hdr.Get(ingest.VerifiedHeader) != "" {
				t.Errorf("creation while the replica is down: %d, Retry-After %q, %s %q: %s", status, hdr.Get("Retry-After"), ingest.VerifiedHeader, hdr.Get(ingest.VerifiedHeader), body)
			}
			for _, leak := range []string{c.Root, rep.store.String(), "127.0.0.1", rep.secret} {
				if leak != "" && strings.Contains(body, leak) {
					t.Errorf("the 503 shows %q: %s", leak, body)
				}
			}
			if st := c.Server.Archive().Status(); st.ReplicationFailures < 2 {
				t.Errorf("ReplicationFailures = %d, want at least 2", st.ReplicationFailures)
			}

			rep.up(t)
			if rep.restartGap {
				// cloudd restarts with the photo stored once; its scrub
				// makes the second copy before the device comes back.
				c.Restart()
				r, err := c.Server.Archive().Scrub(context.Background(), 0)
				if err != nil || r.RepairedReplica != 1 || r.Unrepairable != 0 {
					t.Errorf("scrub after the restart: %v, %v", r, err)
				}
				sent = 0
			}
			if err := tg.Upload(context.Background(), item, resume.Save); err != nil {
				t.Fatalf("the retry with the store back: %v", err)
			}
			mu.Lock()
			if answers[len(answers)-1] != "confirmed" {
				t.Errorf("answers: %q, want the retry's last one confirming the photo", answers)
			}
			mu.Unlock()
			if got := c.Server.Status()[device].BodyBytes; got != sent {
				t.Errorf("the retry sent %d body bytes again", got-sent)
			}
			if got := c.Received(device); got[item.Name] != item.SHA256 || len(got) != 1 {
				t.Errorf("cloudd holds %v, want the photo once", got)
			}
			b, err := os.ReadFile(rep.files(key))
			if err != nil || !bytes.Equal(b, data) {
				t.Errorf("the replica holds %d bytes (%v), want the %d the device sent", len(b), err, len(data))
			}
			if s, _ := c.Server.Archive().Sums.Get(key); s != item.SHA256 {
				t.Errorf("record = %q, want %s", s, item.SHA256)
			}
		})
	}
}

type recorder struct {
	http.ResponseWriter
	status int
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// create sends a tus creation for a photo, as the device's retry does.
func create(t *testing.T, base, name, sum string, size int64) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+ingest.FilesPath, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set(ingest.DeviceHeader, device)
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Upload-Length", strconv.FormatInt(size, 10))
	req.Header.Set("Upload-Metadata", "filename "+base64.StdEncoding.EncodeToString([]byte(name))+",sha256 "+base64.StdEncoding.EncodeToString([]byte(sum)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// TestResendAfterLocalDamage: a photo whose local copy was damaged on
// disk (its size and time unchanged: silent corruption) and that the
// device sends again is restored from the replica and confirmed as
// received, not stored a second time under another name.
func TestResendAfterLocalDamage(t *testing.T) {
	second := t.TempDir()
	replica, err := archive.OpenDir(second)
	if err != nil {
		t.Fatal(err)
	}
	c := ingesttest.Start(t, ingesttest.Options{Tokens: map[string]string{device: token}, Config: ingest.Config{Replica: replica}})
	tg, err := tus.New(tus.Config{URL: c.URL(), Device: device, Token: token, Transfer: uploadtest.Transfer()})
	if err != nil {
		t.Fatal(err)
	}
	item, data := uploadtest.Photo("2026/12/03/IMG_0003.JPG", 100<<10, 3)
	if err := tg.Upload(context.Background(), item, new(uploadtest.Resume).Save); err != nil {
		t.Fatal(err)
	}
	local := filepath.Join(c.Root, device, filepath.FromSlash(item.Name))
	st, _ := os.Stat(local)
	bad := bytes.Clone(data)
	bad[1000] ^= 1
	os.WriteFile(local, bad, 0o644)
	os.Chtimes(local, st.ModTime(), st.ModTime())
	c.Restart() // its cache of sums gone, as after a reboot

	if err := tg.Upload(context.Background(), item, new(uploadtest.Resume).Save); err != nil {
		t.Fatal(err)
	}
	if n := c.Server.Status()[device].BodyBytes; n != 0 {
		t.Errorf("the photo was sent again (%d bytes)", n)
	}
	if got := c.Received(device); len(got) != 1 || got[item.Name] != item.SHA256 {
		t.Errorf("cloudd holds %v, want the photo once, restored", got)
	}
}
