package s3

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/lapsebox/lapsebox/appliance/upload/uploadtest"
)

const (
	testAccess = uploadtest.S3Access
	testSecret = uploadtest.S3Secret
	testBucket = uploadtest.S3Bucket
)

// store is versitygw with a bucket, for this package's checks.
type store struct {
	*uploadtest.S3Store
	t *testing.T
}

// startStore starts versitygw with a bucket; virtual makes it accept
// bucket.localhost addressing too. It stops with the test.
func startStore(t *testing.T, virtual bool) *store {
	t.Helper()
	return &store{S3Store: uploadtest.StartVersitygw(t, virtual), t: t}
}

func (s *store) addr() string { return s.Addr() }
func (s *store) url() string  { return s.URL() }

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
