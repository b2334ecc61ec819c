package s3

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/lapsebox/lapsebox/appliance/upload"
	"github.com/lapsebox/lapsebox/appliance/upload/uploadtest"
	"github.com/lapsebox/lapsebox/internal/testtool"
)

const (
	testAccess = "lapsebox-test"
	testSecret = "s3cret-key-of-the-test-store"
	testBucket = "photos"
)

// versitygw finds the S3 server scripts/install-test-servers installs.
func versitygw(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..", "..")
	for _, p := range []string{filepath.Join(root, "build", "tools", "bin", "versitygw"), os.Getenv("VERSITYGW")} {
		if p != "" {
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
	}
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p
	}
	testtool.Missing(t, "program versitygw", testtool.Install("versitygw"))
	return ""
}

// store is versitygw (posix backend) on 127.0.0.1, in the foreground,
// with its files in a temporary directory; it can be stopped and started
// again on the same files.
type store struct {
	uploadtest.Server
	t    *testing.T
	root string
}

// startStore starts versitygw with a bucket; virtual makes it accept
// bucket.localhost addressing too. It stops with the test.
func startStore(t *testing.T, virtual bool) *store {
	t.Helper()
	bin := versitygw(t)
	s := &store{t: t, root: t.TempDir()}
	s.Server = uploadtest.Server{Name: "versitygw", Dir: t.TempDir(), Command: func(addr string) (*exec.Cmd, error) {
		args := []string{"--access", testAccess, "--secret", testSecret, "--port", addr, "--quiet"}
		if virtual {
			args = append(args, "--virtual-domain", "localhost")
		}
		return exec.Command(bin, append(args, "posix", s.root)...), nil
	}}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	// The bucket, made through our own signing.
	tg := newTarget(t, s.url(), nil)
	resp, err := tg.do(context.Background(), http.MethodPut, "", nil, nil, nil)
	if err != nil {
		t.Fatalf("creating the bucket: %v", err)
	}
	upload.Drain(resp)
	return s
}

func (s *store) addr() string { return s.Addr() }
func (s *store) url() string  { return "http://" + s.Addr() }

func newTarget(t *testing.T, endpoint string, mod func(*Config)) *Target {
	t.Helper()
	return uploadtest.New(t, New, Config{Endpoint: endpoint, Bucket: testBucket, PathStyle: true,
		AccessKey: testAccess, SecretKey: testSecret, Transfer: uploadtest.Transfer()}, mod)
}

func sum(data []byte) string {
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:])
}

// check verifies that the bucket holds exactly want (key → bytes), each
// fetched back with GET and compared by sha256.
func (s *store) check(want map[string][]byte) {
	s.t.Helper()
	tg := newTarget(s.t, s.url(), nil)
	keys, err := tg.List(context.Background(), "")
	if err != nil {
		s.t.Fatalf("listing the bucket: %v", err)
	}
	got := map[string]bool{}
	for _, k := range keys {
		got[k] = true
	}
	for key, data := range want {
		resp, err := tg.do(context.Background(), http.MethodGet, key, nil, nil, nil)
		if err != nil {
			s.t.Errorf("fetching %s back: %v", key, err)
			continue
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || sum(b) != sum(data) {
			s.t.Errorf("bucket has %s with sha256 %s (%d bytes, %v), want %s (%d bytes)", key, sum(b), len(b), err, sum(data), len(data))
		}
		delete(got, key)
	}
	for key := range got {
		s.t.Errorf("bucket has an unexpected object %s", key)
	}
	if uploads := s.uploads(); len(uploads) > 0 {
		s.t.Errorf("multipart uploads left in the store: %q", uploads)
	}
}

// uploads lists the multipart uploads in progress.
func (s *store) uploads() []string {
	tg := newTarget(s.t, s.url(), nil)
	resp, err := tg.do(context.Background(), http.MethodGet, "", map[string][]string{"uploads": {""}}, nil, nil)
	if err != nil {
		s.t.Fatalf("listing multipart uploads: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var ids []string
	for _, part := range strings.Split(string(b), "<UploadId>")[1:] {
		ids = append(ids, part[:strings.Index(part, "<")])
	}
	return ids
}
