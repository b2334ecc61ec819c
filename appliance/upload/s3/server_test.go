package s3

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/appliance/upload"
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
	if os.Getenv("CI") != "" {
		t.Fatal("versitygw is not installed (scripts/install-test-servers installs it)")
	}
	t.Skip("versitygw is not installed (scripts/install-test-servers installs it)")
	return ""
}

// store is versitygw (posix backend) on 127.0.0.1, in the foreground,
// with its files in a temporary directory; it can be stopped and started
// again on the same port and files.
type store struct {
	t       *testing.T
	bin     string
	root    string
	port    int
	virtual bool // also accept bucket.localhost addressing
	cmd     *exec.Cmd
	exited  chan struct{}
}

func startStore(t *testing.T, virtual bool) *store {
	t.Helper()
	s := &store{t: t, bin: versitygw(t), root: t.TempDir(), virtual: virtual}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.port = ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	s.start()
	t.Cleanup(s.stop)
	// The bucket, made through our own signing.
	tg := newTarget(t, s.url(), nil)
	resp, err := tg.do(context.Background(), http.MethodPut, "", nil, nil, nil)
	if err != nil {
		t.Fatalf("creating the bucket: %v", err)
	}
	drain(resp)
	return s
}

func (s *store) addr() string { return fmt.Sprintf("127.0.0.1:%d", s.port) }
func (s *store) url() string  { return "http://" + s.addr() }

func (s *store) start() {
	s.t.Helper()
	args := []string{"--access", testAccess, "--secret", testSecret, "--port", s.addr(), "--quiet"}
	if s.virtual {
		args = append(args, "--virtual-domain", "localhost")
	}
	args = append(args, "posix", s.root)
	s.cmd = exec.Command(s.bin, args...)
	out, _ := os.Create(filepath.Join(filepath.Dir(s.root), fmt.Sprintf("versitygw-%d.log", time.Now().UnixNano())))
	s.cmd.Stdout, s.cmd.Stderr = out, out
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("starting versitygw: %v", err)
	}
	s.exited = make(chan struct{})
	go func(c *exec.Cmd, done chan struct{}) { c.Wait(); close(done) }(s.cmd, s.exited)
	deadline := time.Now().Add(15 * time.Second)
	for {
		if c, err := net.DialTimeout("tcp", s.addr(), time.Second); err == nil {
			c.Close()
			return
		}
		select {
		case <-s.exited:
			b, _ := os.ReadFile(out.Name())
			s.t.Fatalf("versitygw exited at start: %s", b)
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("versitygw does not answer on %s", s.addr())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *store) stop() {
	if s.cmd == nil {
		return
	}
	syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(5 * time.Second):
		syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.exited
	}
	s.cmd = nil
}

func quietLogger() *slog.Logger {
	lvl := slog.LevelError + 4
	if os.Getenv("S3_DEBUG") != "" {
		lvl = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
}

func newTarget(t *testing.T, endpoint string, mod func(*Config)) *Target {
	t.Helper()
	cfg := Config{
		Endpoint: endpoint, Bucket: testBucket, PathStyle: true,
		AccessKey: testAccess, SecretKey: testSecret,
		Client: upload.NewClient(upload.ClientOptions{
			MinWait: 20 * time.Millisecond, MaxWait: 2 * time.Second,
			Logger: quietLogger(),
		}),
		StallTimeout: 2 * time.Second,
		Logger:       quietLogger(),
	}
	if mod != nil {
		mod(&cfg)
	}
	tg, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return tg
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
