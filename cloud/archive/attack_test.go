package archive_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/lapsebox/lapsebox/cloud/archive"
)

func TestCheckKey(t *testing.T) {
	for _, tc := range []struct {
		key string
		ok  bool
	}{
		{"cam-1/2026/12/03/IMG_0001.JPG", true},
		{"cam-1/a b é.jpg", true},
		{"", false},
		{"cam-1", false}, // no name
		{"lost+found/#12", false},
		{"-cam/a.jpg", false},
		{"/cam-1/a.jpg", false},
		{"../cam-1/a.jpg", false},
		{"cam-1/../../etc/passwd", false},
		{"cam-1/./a.jpg", false},
		{"cam-1//a.jpg", false},
		{"cam-1/a.jpg/", false},
		{"cam-1/.sums/a.jpg", false},
		{".sums/cam-1/a.jpg", false},
		{"cam-1/..\\..\\a.jpg", false},
		{"cam-1/a\x00.jpg", false},
		{"cam-1/a\n.jpg", false},
		{"cam-1/\xff.jpg", false},
		{"cam-1/" + strings.Repeat("a", 1100), false},
	} {
		if err := archive.CheckKey(tc.key); (err == nil) != tc.ok {
			t.Errorf("CheckKey(%q) = %v, want ok %v", tc.key, err, tc.ok)
		}
	}
}

// TestKeysCannotEscape: a key that would leave a Dir's root or an S3
// prefix is refused by every method before it names a file or an object.
func TestKeysCannotEscape(t *testing.T) {
	s3r, srv := s3Replica(t)
	outside := t.TempDir()
	ctx := context.Background()
	for _, rep := range []replica{dirReplica(t), s3r} {
		for _, key := range []string{"../x/a.jpg", "cam/../../x.jpg", "cam/../../../" + filepath.Base(outside) + "/a.jpg", "/etc/a.jpg", ".archive-tmp/a.jpg"} {
			data := []byte("photo")
			if err := rep.store.Put(ctx, key, bytes.NewReader(data), 5, sum(data)); err == nil {
				t.Errorf("%s: Put(%q) succeeded", rep.name, key)
			}
			if _, err := rep.store.Stat(ctx, key); err == nil {
				t.Errorf("%s: Stat(%q) succeeded", rep.name, key)
			}
			if r, err := rep.store.Open(ctx, key); err == nil {
				r.Close()
				t.Errorf("%s: Open(%q) succeeded", rep.name, key)
			}
			if err := rep.store.Delete(ctx, key); err == nil {
				t.Errorf("%s: Delete(%q) succeeded", rep.name, key)
			}
		}
	}
	// Nothing reached the bucket, outside the prefix or in it.
	var found []string
	filepath.WalkDir(srv.Root, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			found = append(found, p)
		}
		return nil
	})
	if len(found) > 0 {
		t.Errorf("the store holds %q", found)
	}
	if des, _ := os.ReadDir(outside); len(des) > 0 {
		t.Errorf("a file appeared outside the store: %v", des)
	}
}

// hostileS3 is an S3 endpoint whose listing carries keys that are not
// photo keys; it records the requests it gets and answers every other
// one 404.
type hostileS3 struct {
	keys []string
	mu   sync.Mutex
	reqs []string
}

func (h *hostileS3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	h.reqs = append(h.reqs, r.Method+" "+r.URL.EscapedPath())
	h.mu.Unlock()
	if r.Method == http.MethodGet && r.URL.Query().Get("list-type") == "2" {
		var b bytes.Buffer
		b.WriteString(`<ListBucketResult>`)
		for _, k := range h.keys {
			fmt.Fprintf(&b, "<Contents><Key>%s</Key><Size>5</Size></Contents>", k)
		}
		b.WriteString(`</ListBucketResult>`)
		w.Write(b.Bytes())
		return
	}
	http.Error(w, "<Error><Code>NoSuchKey</Code></Error>", http.StatusNotFound)
}

// TestScrubRefusesListedKeys: a bucket whose listing names "../" keys,
// keys outside the prefix or the archive's own files gets them refused
// and reported; none becomes a path or a request.
func TestScrubRefusesListedKeys(t *testing.T) {
	h := &hostileS3{keys: []string{
		"lapsebox/../../../etc/passwd",
		"lapsebox/cam/../../x.jpg",
		"lapsebox/.sums/cam/x.jpg",
		"lapsebox//abs.jpg",
		"lapsebox/cam\\..\\..\\x.jpg",
		"elsewhere/cam/x.jpg",
		"lapsebox/cam/stray.jpg", // a well-formed key ingest never recorded
	}}
	srv := httptest.NewServer(h) // on 127.0.0.1
	defer srv.Close()
	s3, err := archive.NewS3(archive.S3Config{Endpoint: srv.URL, Bucket: "photos", Prefix: prefix, AccessKey: "a", SecretKey: "s", PathStyle: true})
	if err != nil {
		t.Fatal(err)
	}
	a, root := newArchive(t, s3)
	receive2 := func(key string, data []byte) {
		if err := a.Local.Put(context.Background(), key, bytes.NewReader(data), int64(len(data)), sum(data)); err != nil {
			t.Fatal(err)
		}
		if err := a.Sums.Put(key, sum(data)); err != nil {
			t.Fatal(err)
		}
	}
	receive2("cam/real.jpg", []byte("photo"))
	r, err := a.Scrub(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if r.Refused != 6 || r.Orphans != 1 || r.Unrepairable != 0 {
		t.Errorf("scrub: %s; problems %q", r, r.Problems)
	}
	// The report, which the status shows, names keys and reasons, never
	// a path of the server or the store's endpoint.
	for _, p := range r.Problems {
		if strings.Contains(p, root) || strings.Contains(p, "127.0.0.1") {
			t.Errorf("a problem names a path or the endpoint: %s", p)
		}
	}
	for _, req := range h.reqs {
		if strings.Contains(req, "..") || strings.Contains(req, "sums") || strings.Contains(req, "elsewhere") || strings.Contains(req, "stray") {
			t.Errorf("the scrub sent %s", req)
		}
	}
	// The real photo was missing from the replica: the repair was tried
	// against this store (which refuses), nothing else.
	if r.Failed != 1 {
		t.Errorf("Failed = %d, want 1 (the repair of cam/real.jpg the store refused)", r.Failed)
	}
	var files []string
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(root, p)
			files = append(files, rel)
		}
		return nil
	})
	if want := []string{".sums/cam/real.jpg", "cam/real.jpg"}; fmt.Sprint(files) != fmt.Sprint(want) {
		t.Errorf("the root holds %q, want %q", files, want)
	}
	if _, err := os.Stat("/etc/passwd"); err != nil {
		t.Fatal(err) // still there, and never touched: the scrub writes nothing it did not record
	}
}

// TestSymlinksAreNotPhotos: a symbolic link in a directory store (to a
// file outside it) is neither listed nor read.
func TestSymlinksAreNotPhotos(t *testing.T) {
	rep := dirReplica(t)
	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte("secret"), 0o600)
	os.MkdirAll(filepath.Dir(rep.file("cam/link.jpg")), 0o755)
	if err := os.Symlink(secret, rep.file("cam/link.jpg")); err != nil {
		t.Fatal(err)
	}
	var keys []string
	rep.store.Walk(context.Background(), func(o archive.Object) error { keys = append(keys, o.Key); return nil })
	if len(keys) != 0 {
		t.Errorf("Walk listed %q", keys)
	}
	if _, err := rep.store.Stat(context.Background(), "cam/link.jpg"); err == nil {
		t.Error("Stat of a symbolic link succeeded")
	}
}

// endlessS3 says every object is 5 bytes long, then sends bytes without
// end.
type endlessS3 struct{ sent atomic.Int64 }

func (e *endlessS3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodGet && r.URL.Query().Get("list-type") == "2":
		w.Write([]byte(`<ListBucketResult><Contents><Key>lapsebox/cam/a.jpg</Key><Size>5</Size></Contents></ListBucketResult>`))
	case r.Method == http.MethodHead:
		w.Header().Set("Content-Length", "5")
	case r.Method == http.MethodGet:
		chunk := bytes.Repeat([]byte("x"), 64<<10)
		for {
			n, err := w.Write(chunk)
			e.sent.Add(int64(n))
			if err != nil || e.sent.Load() > 1<<30 {
				return
			}
		}
	default:
		http.Error(w, "<Error><Code>AccessDenied</Code></Error>", http.StatusForbidden)
	}
}

// TestEndlessObject: a store that sends more than the size it stated is
// read no further than one byte past it: the scrub ends, and finds the
// copy bad.
func TestEndlessObject(t *testing.T) {
	e := &endlessS3{}
	srv := httptest.NewServer(e)
	defer srv.Close()
	s3, err := archive.NewS3(archive.S3Config{Endpoint: srv.URL, Bucket: "photos", Prefix: prefix, AccessKey: "a", SecretKey: "s", PathStyle: true})
	if err != nil {
		t.Fatal(err)
	}
	a, root := newArchive(t, s3)
	// Recorded, local copy lost: the repair would come from the store.
	if err := a.Sums.Put("cam/a.jpg", sum([]byte("photo"))); err != nil {
		t.Fatal(err)
	}
	r, err := a.Scrub(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if r.Unrepairable != 1 || r.Bytes > 6 {
		t.Errorf("scrub: %s", r)
	}
	if _, err := os.Stat(filepath.Join(root, "cam", "a.jpg")); err == nil {
		t.Error("the scrub made a local copy from an endless object")
	}
	if des, _ := os.ReadDir(filepath.Join(root, ".archive-tmp")); len(des) > 0 {
		t.Errorf("temporary files left: %v", des)
	}
	if n := e.sent.Load(); n >= 1<<30 {
		t.Errorf("the store sent %d bytes before the scrub stopped reading", n)
	}
}

// endless is a source that never ends.
type endless struct{}

func (endless) Read(p []byte) (int, error) { return len(p), nil }

// TestPutEndlessSource: a directory store copies one byte more than the
// size it was given, not the whole of a source that never ends.
func TestPutEndlessSource(t *testing.T) {
	rep := dirReplica(t)
	err := rep.store.Put(context.Background(), "cam/e.jpg", endless{}, 5, sum([]byte("photo")))
	if !errors.Is(err, archive.ErrMismatch) || !strings.Contains(err.Error(), "got 6 bytes") {
		t.Errorf("Put of an endless source: %v", err)
	}
	if _, err := os.Stat(rep.file("cam/e.jpg")); err == nil {
		t.Error("the endless source was stored")
	}
}
