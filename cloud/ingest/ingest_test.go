package ingest

import (
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tus/tusd/v2/pkg/handler"
)

const token = "token-of-site-a"

func newServer(t *testing.T) (*Server, *httptest.Server) {
	t.Helper()
	d, err := ParseDevices([]byte(`{"devices": {"site-a": {"token_sha256": "` + HashToken(token) + `"}, "site-b": {"token_sha256": "` + HashToken("b") + `"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Root: t.TempDir(), Devices: d, MaxSize: 1000, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s.Handler()) // on 127.0.0.1
	t.Cleanup(hs.Close)
	return s, hs
}

func meta(kv ...string) string {
	var parts []string
	for i := 0; i < len(kv); i += 2 {
		parts = append(parts, kv[i]+" "+base64.StdEncoding.EncodeToString([]byte(kv[i+1])))
	}
	return strings.Join(parts, ",")
}

const sumA = "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb" // sha256("a")

func do(t *testing.T, method, url string, h map[string]string, body string) (int, string, http.Header) {
	t.Helper()
	status, b, hdr := doBody(t, method, url, h, strings.NewReader(body), int64(len(body)))
	if status == 0 {
		t.Fatal(b)
	}
	return status, b, hdr
}

// TestRefusals checks every refusal's status and message.
func TestRefusals(t *testing.T) {
	_, hs := newServer(t)
	auth := map[string]string{"Authorization": "Bearer " + token, DeviceHeader: "site-a", "Upload-Length": "1"}
	with := func(kv ...string) map[string]string {
		h := map[string]string{}
		for k, v := range auth {
			h[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			h[kv[i]] = kv[i+1]
		}
		return h
	}
	long := strings.Repeat("a", 201)
	for _, tc := range []struct {
		name   string
		h      map[string]string
		status int
		msg    string
	}{
		// Whatever is wrong with the credential, the answer is the same.
		{"no token", map[string]string{DeviceHeader: "site-a"}, 401, errUnauthorized},
		{"no device", map[string]string{"Authorization": "Bearer " + token}, 401, errUnauthorized},
		{"bad token", with("Authorization", "Bearer nope"), 401, errUnauthorized},
		{"other's token", with("Authorization", "Bearer b"), 401, errUnauthorized},
		{"unknown device", with(DeviceHeader, "site-z"), 401, errUnauthorized},
		{"unknown device with a body", with(DeviceHeader, "site-z", "Content-Type", "application/offset+octet-stream", "Upload-Metadata", meta("filename", "x.jpg", "sha256", sumA)), 401, errUnauthorized},
		{"dot dot", with("Upload-Metadata", meta("filename", "../x.jpg", "sha256", sumA)), 400, `has an element ".."`},
		{"inner dot dot", with("Upload-Metadata", meta("filename", "a/../../x.jpg", "sha256", sumA)), 400, `has an element ".."`},
		{"absolute", with("Upload-Metadata", meta("filename", "/etc/x.jpg", "sha256", sumA)), 400, "is absolute"},
		{"backslash", with("Upload-Metadata", meta("filename", `a\..\x.jpg`, "sha256", sumA)), 400, "backslash"},
		{"NUL", with("Upload-Metadata", meta("filename", "a\x00.jpg", "sha256", sumA)), 400, "control character U+0000"},
		{"hidden", with("Upload-Metadata", meta("filename", ".tmp/x.jpg", "sha256", sumA)), 400, "starting with a dot"},
		{"empty element", with("Upload-Metadata", meta("filename", "a//x.jpg", "sha256", sumA)), 400, `has an element ""`},
		{"overlong element", with("Upload-Metadata", meta("filename", long, "sha256", sumA)), 400, "longer than 200"},
		{"overlong", with("Upload-Metadata", meta("filename", strings.Repeat("a/", 300)+"x", "sha256", sumA)), 400, "longer than 512"},
		{"info file", with("Upload-Metadata", meta("filename", "x.info", "sha256", sumA)), 400, `ending in ".info"`},
		{"info directory", with("Upload-Metadata", meta("filename", "a.INFO/x.jpg", "sha256", sumA)), 400, `ending in ".info"`},
		{"upload ID", with("Upload-Metadata", meta("filename", "0123456789abcdef0123456789ABCDEF", "sha256", sumA)), 400, "looks like an upload ID"},
		{"no name", with("Upload-Metadata", meta("sha256", sumA)), 400, "empty name"},
		{"bad sha256", with("Upload-Metadata", meta("filename", "x.jpg", "sha256", "ABC")), 400, "want 64 lowercase hex digits"},
		{"bad capture time", with("Upload-Metadata", meta("filename", "x.jpg", "sha256", sumA, "capturetime", "yesterday")), 400, "want RFC 3339"},
		{"oversize", with("Upload-Length", "1001", "Upload-Metadata", meta("filename", "x.jpg", "sha256", sumA)), 413, "maximum size exceeded"},
		{"deferred length", with("Upload-Length", "", "Upload-Defer-Length", "1", "Upload-Metadata", meta("filename", "x.jpg", "sha256", sumA)), 501, "not implemented"},
	} {
		body := ""
		if tc.h["Content-Type"] != "" {
			body = "a"
		}
		status, body, hdr := do(t, "POST", hs.URL+FilesPath, tc.h, body)
		if status != tc.status || !strings.Contains(body, tc.msg) {
			t.Errorf("%s: %d %q, want %d saying %q", tc.name, status, body, tc.status, tc.msg)
		}
		if status == 401 && hdr.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: 401 without WWW-Authenticate", tc.name)
		}
	}

	// A body longer than the upload: 413, nothing stored.
	status, _, hdr := do(t, "POST", hs.URL+FilesPath, with("Upload-Metadata", meta("filename", "x.jpg", "sha256", sumA)), "")
	if status != 201 {
		t.Fatalf("creation: %d", status)
	}
	loc := hdr.Get("Location")
	status, body, _ := do(t, "PATCH", loc, with("Content-Type", "application/offset+octet-stream", "Upload-Offset", "0", "Upload-Length", ""), "ab")
	if status != 413 {
		t.Errorf("PATCH of 2 bytes into 1: %d %q, want 413", status, body)
	}
	// Another device cannot touch the upload.
	status, _, _ = do(t, "HEAD", loc, with("Authorization", "Bearer b", DeviceHeader, "site-b"), "")
	if status != 404 {
		t.Errorf("HEAD of site-a's upload by site-b: %d, want 404", status)
	}
	// Listing refuses tricks too.
	status, body, _ = do(t, "GET", hs.URL+PhotosPath+"?prefix=../", auth, "")
	if status != 400 {
		t.Errorf("listing ../: %d %q, want 400", status, body)
	}
}

// TestUploadAndDuplicates stores a photo, acknowledges it again without an
// upload, and keeps a different photo of the same name beside it.
func TestUploadAndDuplicates(t *testing.T) {
	s, hs := newServer(t)
	h := map[string]string{"Authorization": "Bearer " + token, DeviceHeader: "site-a", "Content-Type": "application/offset+octet-stream"}
	send := func(name, data, sum string) (int, http.Header) {
		hh := map[string]string{"Upload-Length": "1", "Upload-Metadata": meta("filename", name, "sha256", sum)}
		for k, v := range h {
			hh[k] = v
		}
		status, _, hdr := do(t, "POST", hs.URL+FilesPath, hh, data)
		return status, hdr
	}
	status, hdr := send("2026/x.jpg", "a", sumA)
	if status != 201 || hdr.Get(VerifiedHeader) != sumA || hdr.Get(StoredAsHeader) != "2026/x.jpg" {
		t.Fatalf("creation with upload: %d %v", status, hdr)
	}
	status, hdr = send("2026/x.jpg", "a", sumA)
	if status != 200 || hdr.Get(VerifiedHeader) != sumA || hdr.Get("Location") != "" {
		t.Errorf("again: %d %v, want 200 with the confirmation", status, hdr)
	}
	sumB := "3e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d"
	if status, hdr = send("2026/x.jpg", "b", sumB); status != 201 || hdr.Get(StoredAsHeader) != "2026/x-1.jpg" {
		t.Errorf("different photo, same name: %d %v, want stored as 2026/x-1.jpg", status, hdr)
	}
	if status, _ = send("2026/y.jpg", "b", sumA); status != StatusSHA256Mismatch {
		t.Errorf("wrong sha256: %d, want %d", status, StatusSHA256Mismatch)
	}
	status, body, _ := do(t, "GET", hs.URL+PhotosPath+"?prefix=2026/", h, "")
	var l struct{ Photos []Photo }
	json.Unmarshal([]byte(body), &l)
	if status != 200 || len(l.Photos) != 2 || l.Photos[0].Name != "2026/x-1.jpg" || l.Photos[1].Name != "2026/x.jpg" {
		t.Errorf("listing: %d %s", status, body)
	}
	st := s.Status()
	if st["site-a"].Photos != 2 || st["site-a"].Rejected != 1 || st["site-b"].Photos != 0 {
		t.Errorf("status %+v", st)
	}
	// The admin status is the same, as JSON.
	rec := httptest.NewRecorder()
	s.AdminHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/status", nil))
	if !strings.Contains(rec.Body.String(), `"photos": 2`) {
		t.Errorf("admin status: %s", rec.Body.String())
	}
}

// TestSweep finishes an upload that was complete in the spool when the
// server stopped, and expires an idle incomplete one.
func TestSweep(t *testing.T) {
	root := t.TempDir()
	spool := filepath.Join(root, ".spool")
	os.MkdirAll(spool, 0o755)
	write := func(id, data string, size int64, sum string) {
		info := handler.FileInfo{ID: id, Size: size, MetaData: handler.MetaData{"device": "site-a", "filename": "d/" + id + ".jpg", "sha256": sum},
			Storage: map[string]string{"Type": "filestore", "Path": filepath.Join(spool, id)}} // as tusd's file store wrote them
		b, _ := json.Marshal(info)
		os.WriteFile(filepath.Join(spool, id+".info"), b, 0o644)
		os.WriteFile(filepath.Join(spool, id), []byte(data), 0o644)
	}
	const complete, partial = "00000000000000000000000000000001", "00000000000000000000000000000002"
	write(complete, "a", 1, sumA)
	write(partial, "a", 5, sumA)
	old := time.Now().Add(-8 * 24 * time.Hour)
	os.Chtimes(filepath.Join(spool, partial), old, old)
	s, err := New(Config{Root: root, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(root, "site-a", "d", complete+".jpg")); err != nil || string(b) != "a" {
		t.Errorf("complete upload not stored: %q, %v", b, err)
	}
	des, _ := os.ReadDir(spool)
	if len(des) != 0 {
		t.Errorf("spool still holds %d files", len(des))
	}
	_ = s
}

func TestCheckName(t *testing.T) {
	for _, ok := range []string{"x.jpg", "2026/11/26/20261126120000.jpg", "a b/c-1.cr2", "été.jpg"} {
		if err := checkName(ok); err != nil {
			t.Errorf("checkName(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", ".", "..", "a/..", "../a", "/a", "a/", "a//b", `a\b`, "a\x00", "a\nb", ".x", "a/.x", "\xff"} {
		if checkName(bad) == nil {
			t.Errorf("checkName(%q) accepted it", bad)
		}
	}
}

// FuzzCheckName: a name checkName accepts stays under the device's
// directory and is neither hidden nor temporary.
func FuzzCheckName(f *testing.F) {
	for _, s := range []string{"a/b.jpg", "../x", "a/./b", "a\\b", ".tmp-x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if checkName(name) != nil {
			return
		}
		p := filepath.Join("/root/dev", filepath.FromSlash(name))
		if !strings.HasPrefix(p, "/root/dev/") || strings.Contains(p, "/.") {
			t.Errorf("checkName accepted %q, which lands at %s", name, p)
		}
	})
}

func TestParseDevices(t *testing.T) {
	for _, bad := range []string{
		`{"devices": {"../x": {"token_sha256": "` + HashToken("x") + `"}}}`,
		`{"devices": {"a": {"token_sha256": "abc"}}}`,
		`{"devices": {"a": {"token": "plain"}}}`,
		`{"device": {}}`,
	} {
		if _, err := ParseDevices([]byte(bad)); err == nil {
			t.Errorf("ParseDevices(%s) accepted it", bad)
		}
	}
}
