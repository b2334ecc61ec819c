package uploadtest

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/lapsebox/lapsebox/internal/s3client"
	"github.com/lapsebox/lapsebox/internal/testtool"
)

// The credential and bucket of the S3 store StartVersitygw runs.
const (
	S3Access = "lapsebox-test"
	S3Secret = "s3cret-key-of-the-test-store"
	S3Bucket = "photos"
)

// S3Store is versitygw (its posix backend) on 127.0.0.1, in the
// foreground, with its objects in a temporary directory: a real S3 store
// that can be stopped and started again on the same files.
type S3Store struct {
	Server
	// Root holds the objects, <Root>/<bucket>/<key>: a test damages
	// them there.
	Root string
}

// StartVersitygw starts versitygw with the bucket S3Bucket; virtual makes
// it accept bucket.localhost addressing too. It stops with the test.
// Under CI=1 a missing versitygw fails the test.
func StartVersitygw(tb testing.TB, virtual bool) *S3Store {
	tb.Helper()
	bin := versitygw(tb)
	s := &S3Store{Root: tb.TempDir()}
	s.Server = Server{Name: "versitygw", Dir: tb.TempDir(), Command: func(addr string) (*exec.Cmd, error) {
		args := []string{"--access", S3Access, "--secret", S3Secret, "--port", addr, "--quiet"}
		if virtual {
			args = append(args, "--virtual-domain", "localhost")
		}
		return exec.Command(bin, append(args, "posix", s.Root)...), nil
	}}
	if err := s.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Stop)
	if err := s.createBucket(); err != nil {
		tb.Fatalf("creating the bucket: %v", err)
	}
	return s
}

// URL is the store's endpoint, "http://127.0.0.1:port".
func (s *S3Store) URL() string { return "http://" + s.Addr() }

// Client returns a client for the store's bucket, path-style.
func (s *S3Store) Client() (*s3client.Client, error) {
	return s3client.New(s3client.Config{Endpoint: s.URL(), Bucket: S3Bucket, AccessKey: S3Access, SecretKey: S3Secret, PathStyle: true})
}

func (s *S3Store) createBucket() error {
	c, err := s.Client()
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPut, c.URL("", nil), http.NoBody)
	if err != nil {
		return err
	}
	if err := c.Sign(req, s3client.EmptySHA256); err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("PUT bucket: %s", resp.Status)
	}
	return nil
}

// versitygw finds the S3 server scripts/install-test-servers installs.
func versitygw(tb testing.TB) string {
	tb.Helper()
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
	testtool.Missing(tb, "program versitygw", testtool.Install("versitygw"))
	return ""
}
