package webdav

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lapsebox/lapsebox/appliance/upload"
	"github.com/lapsebox/lapsebox/appliance/upload/uploadtest"
)

var kinds = []string{"nginx", "apache"}

func newTarget(t *testing.T, url string, mod func(*Config)) *Target {
	t.Helper()
	return uploadtest.New(t, New, Config{URL: url, User: testUser, Password: testPassword, Transfer: uploadtest.Transfer()}, mod)
}

func sum(data []byte) string {
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:])
}

// check verifies that the server holds exactly want (name → bytes), each
// fetched back over HTTP and compared by sha256, and no leftover file.
func (s *server) check(want map[string][]byte) {
	s.t.Helper()
	got := map[string]bool{}
	filepath.WalkDir(s.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(s.root, p)
		if strings.HasPrefix(rel, ".DAV") || strings.Contains(rel, "/.DAV/") {
			return nil // Apache's property database
		}
		got[filepath.ToSlash(rel)] = true
		return nil
	})
	for name, data := range want {
		body, err := s.get(name)
		if err != nil {
			s.t.Errorf("fetching %s back: %v", name, err)
		} else if sum(body) != sum(data) {
			s.t.Errorf("server has %s with sha256 %s (%d bytes), want %s (%d bytes)", name, sum(body), len(body), sum(data), len(data))
		}
		delete(got, name)
	}
	for name := range got {
		s.t.Errorf("server has an unexpected file %s", name)
	}
}

// get fetches name directly from the server.
func (s *server) get(name string) ([]byte, error) {
	req, _ := http.NewRequest(http.MethodGet, s.directURL()+name, nil)
	req.SetBasicAuth(testUser, testPassword)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("GET %s: %s", name, resp.Status)
	}
	return io.ReadAll(resp.Body)
}

func TestUpload(t *testing.T) {
	t.Parallel()
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			s := startServer(t, kind)
			tg := newTarget(t, s.url(), nil)
			want := map[string][]byte{}
			for i, size := range []int{0, 1, 1000, 3<<20 + 17} {
				name := fmt.Sprintf("2026/11/2%d/2026112%d120000.jpg", i%2, i%2)
				if i >= 2 {
					name = fmt.Sprintf("2026/12/01/20261201120%03d.jpg", i)
				}
				item, data := uploadtest.Photo(name, size, uint64(i))
				var r uploadtest.Resume
				if err := tg.Upload(context.Background(), item, r.Save); err != nil {
					t.Fatalf("%s (%d bytes): %v", name, size, err)
				}
				if r.State() != nil {
					t.Errorf("%s: resume state %s left after success", name, r.State())
				}
				want[name] = data
			}
			s.check(want)
			for _, tc := range []struct {
				prefix string
				want   []string
			}{
				{"", []string{"2026/11/20/20261120120000.jpg", "2026/11/21/20261121120000.jpg", "2026/12/01/20261201120002.jpg", "2026/12/01/20261201120003.jpg"}},
				{"2026/11/", []string{"2026/11/20/20261120120000.jpg", "2026/11/21/20261121120000.jpg"}},
				{"2026/11/2", []string{"2026/11/20/20261120120000.jpg", "2026/11/21/20261121120000.jpg"}},
				{"2026/12/01/20261201120003", []string{"2026/12/01/20261201120003.jpg"}},
				{"2027/", nil},
			} {
				got, err := tg.List(context.Background(), tc.prefix)
				if err != nil {
					t.Fatalf("List(%q): %v", tc.prefix, err)
				}
				if strings.Join(got, ",") != strings.Join(tc.want, ",") {
					t.Errorf("List(%q) = %q, want %q", tc.prefix, got, tc.want)
				}
			}
		})
	}
}

// TestIdempotent uploads a photo twice (the outbox lost its success), then
// a different photo under the same name, refused, then allowed to
// overwrite.
func TestIdempotent(t *testing.T) {
	t.Parallel()
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			s := startServer(t, kind)
			h := uploadtest.StartHTTPProxy(t, "http://"+s.addr())
			tg := newTarget(t, strings.TrimSuffix(h.URL(), "/")+"/dav/", nil)
			name := "2026/11/26/20261126120000.jpg"
			for _, size := range []int{200 << 10, 2 << 20} { // below and above VerifyMax
				item, data := uploadtest.Photo(name, size, 1)
				for i := 0; i < 2; i++ {
					var r uploadtest.Resume
					if err := tg.Upload(context.Background(), item, r.Save); err != nil {
						t.Fatalf("upload %d: %v", i, err)
					}
				}
				if n := h.Requests("PUT"); n != 1 {
					t.Errorf("%d bytes: %d PUTs, want 1: the second upload should send nothing", size, n)
				}
				s.check(map[string][]byte{name: data})
				other, otherData := uploadtest.Photo(name, size, 2)
				var r uploadtest.Resume
				err := tg.Upload(context.Background(), other, r.Save)
				if kind == "nginx" && size > 1<<20 {
					// No sha256 property and too big to fetch: the
					// size decides, and it is the same.
					if err != nil {
						t.Errorf("same size on nginx: %v", err)
					}
				} else if !upload.IsPermanent(err) || !strings.Contains(err.Error(), "already on the server") {
					t.Errorf("a different photo under the same name: got %v, want a permanent error", err)
				}
				s.check(map[string][]byte{name: data})
				over := newTarget(t, strings.TrimSuffix(h.URL(), "/")+"/dav/", func(c *Config) { c.Overwrite = true; c.VerifyMax = 4 << 20 })
				if err := over.Upload(context.Background(), other, r.Save); err != nil {
					t.Fatalf("overwrite: %v", err)
				}
				s.check(map[string][]byte{name: otherData})
				os.RemoveAll(filepath.Join(s.root, "2026"))
				tg.forgetDirs()
				h = resetCounts(t, h, s)
				tg = newTarget(t, strings.TrimSuffix(h.URL(), "/")+"/dav/", nil)
			}
		})
	}
}

func resetCounts(t *testing.T, h *uploadtest.HTTPProxy, s *server) *uploadtest.HTTPProxy {
	t.Helper()
	h.Close()
	return uploadtest.StartHTTPProxy(t, "http://"+s.addr())
}

// TestStaleParts resumes an entry whose last attempt left a temporary
// file: it is deleted.
func TestStaleParts(t *testing.T) {
	t.Parallel()
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			s := startServer(t, kind)
			tg := newTarget(t, s.url(), nil)
			item, data := uploadtest.Photo("2026/11/26/20261126120000.jpg", 5000, 1)
			stale := "2026/11/26/.20261126120000.jpg.part-0123456789ab"
			if err := tg.mkdirs(context.Background(), "2026/11/26"); err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(s.root, filepath.FromSlash(stale)), data[:100], 0o666)
			// A name we did not make is never deleted, whatever the state says.
			os.WriteFile(filepath.Join(s.root, "keep.jpg"), data[:10], 0o666)
			var r uploadtest.Resume
			st, _ := json.Marshal(state{Parts: []string{stale, "keep.jpg"}})
			r.Save(st)
			if err := uploadtest.Deliver(t, tg, item, &r, 1); err != nil {
				t.Fatal(err)
			}
			s.check(map[string][]byte{item.Name: data, "keep.jpg": data[:10]})
		})
	}
}

// TestRefused checks what a device gets for what the server refuses.
func TestRefused(t *testing.T) {
	t.Parallel()
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			s := startServer(t, kind)
			item, _ := uploadtest.Photo("2026/11/26/20261126120000.jpg", 1000, 1)
			for _, tc := range []struct {
				name   string
				url    string
				mod    func(*Config)
				status int
				msg    string
			}{
				{"bad password", s.url(), func(c *Config) { c.Password = "guess" }, 401, "401"},
				{"no base collection", s.url() + "missing/", nil, 409, "does not exist"},
			} {
				tg := newTarget(t, tc.url, tc.mod)
				var r uploadtest.Resume
				err := tg.Upload(context.Background(), item, r.Save)
				var p *upload.PermanentError
				if !upload.IsPermanent(err) || !strings.Contains(err.Error(), tc.msg) {
					t.Errorf("%s: got %v, want a permanent error saying %q", tc.name, err, tc.msg)
				} else if errors.As(err, &p); p.StatusCode != tc.status {
					t.Errorf("%s: status %d, want %d", tc.name, p.StatusCode, tc.status)
				}
				if strings.Contains(fmt.Sprint(err), testPassword) {
					t.Errorf("%s: the error shows the password: %v", tc.name, err)
				}
			}
			s.check(nil)
		})
	}
}
