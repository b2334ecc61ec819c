package ingest

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/internal/testtool"
	"github.com/tus/tusd/v2/pkg/handler"
)

// site is cloudd as cmd/cloudd serves it (NewHTTPServer on a Listen
// listener) on 127.0.0.1, its photo tree inside a directory that holds
// what an attacker would like to reach: a file beside the tree, a
// directory, another device's photo.
type site struct {
	top, root, spool string
	srv              *Server
	url              string
	ln               *countingListener
	logs             *testtool.Buffer
}

const tokenB = "token-of-site-b"

func startSite(t *testing.T, cfg Config, l Limits) *site {
	t.Helper()
	top := t.TempDir()
	st := &site{top: top, root: filepath.Join(top, "photos"), logs: &testtool.Buffer{}}
	st.spool = filepath.Join(st.root, ".spool")
	for name, data := range map[string]string{
		"secret.txt":                 "the server's own file\n",
		"photos/site-b/2026/b.jpg":   "site-b's photo",
		"photos/site-a/2026/old.jpg": "site-a's photo",
	} {
		p := filepath.Join(top, filepath.FromSlash(name))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.Mkdir(filepath.Join(top, "adir"), 0o755)
	d, err := ParseDevices([]byte(`{"devices": {"site-a": {"token_sha256": "` + HashToken(token) + `"}, "site-b": {"token_sha256": "` + HashToken(tokenB) + `"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Root, cfg.Devices = st.root, d
	cfg.Logger = slog.New(slog.NewTextHandler(st.logs, nil))
	if st.srv, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	ln, err := Listen("127.0.0.1:0", l)
	if err != nil {
		t.Fatal(err)
	}
	st.ln = &countingListener{Listener: ln}
	st.url = "http://" + ln.Addr().String()
	hs := NewHTTPServer(st.srv.Handler(), l, cfg.Logger)
	go hs.Serve(st.ln)
	t.Cleanup(func() { hs.Close() })
	return st
}

var creds = map[string]map[string]string{
	"site-a": {"Authorization": "Bearer " + token, DeviceHeader: "site-a"},
	"site-b": {"Authorization": "Bearer " + tokenB, DeviceHeader: "site-b"},
}

// as returns dev's credential with the headers kv added.
func as(dev string, kv ...string) map[string]string {
	h := map[string]string{}
	for k, v := range creds[dev] {
		h[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		h[kv[i]] = kv[i+1]
	}
	return h
}

// create makes an upload of size bytes for dev and returns its URL.
func (st *site) create(t *testing.T, dev, name string, size int) string {
	t.Helper()
	status, body, h := do(t, "POST", st.url+FilesPath, as(dev, "Upload-Length", strconv.Itoa(size), "Upload-Metadata", meta("filename", name, "sha256", strings.Repeat("0", 64))), "")
	if status != http.StatusCreated {
		t.Fatalf("creating %s for %s: %d %q", name, dev, status, body)
	}
	return h.Get("Location")
}

// hash returns every file and directory under the site's top directory
// but the spool, with the SHA-256 of each file's bytes.
func (st *site) hash(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(st.top, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == st.spool {
			return filepath.SkipDir
		}
		rel, _ := filepath.Rel(st.top, p)
		switch {
		case d.IsDir():
			out[rel] = "dir"
		case d.Type().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			s := sha256.Sum256(b)
			out[rel] = hex.EncodeToString(s[:])
		default:
			out[rel] = d.Type().String()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sameTree(t *testing.T, before, after map[string]string) {
	t.Helper()
	for p, h := range before {
		if after[p] != h {
			t.Errorf("%s changed: %q, was %q", p, after[p], h)
		}
	}
	for p, h := range after {
		if _, ok := before[p]; !ok {
			t.Errorf("%s appeared (%s)", p, h)
		}
	}
}

// infoPointingAt is an info file as tusd's file store writes them, whose
// Storage.Path is target.
func infoPointingAt(id, dev, target string, size int64) []byte {
	b, _ := json.Marshal(handler.FileInfo{ID: id, Size: size, MetaData: handler.MetaData{"device": dev, "filename": "x.jpg", "sha256": strings.Repeat("0", 64)},
		Storage: map[string]string{"Type": "filestore", "Path": target, "InfoPath": target + ".info"}})
	return b
}

// TestAttacksLeaveTheTreeAlone replays, against a running server, the
// requests that used to let a device with a valid token read the size of,
// append to or delete any file the server can write, and checks that every
// one is refused and that nothing outside the spool changed.
func TestAttacksLeaveTheTreeAlone(t *testing.T) {
	st := startSite(t, Config{}, Limits{})
	secret := filepath.Join(st.top, "secret.txt")
	bPhoto := filepath.Join(st.root, "site-b", "2026", "b.jpg")
	// Info files where a photo could have put them before names ending in
	// ".info" were refused, pointing at files outside the spool.
	for name, target := range map[string]string{
		"site-a/x.info": secret,
		"site-a/y.info": bPhoto,
		"site-a/z.info": filepath.Join(st.top, "adir"),
		"../evil.info":  secret,
	} {
		if err := os.WriteFile(filepath.Join(st.root, name), infoPointingAt("x", "site-a", target, 1<<20), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bURL := st.create(t, "site-b", "2026/c.jpg", 100)
	bID := bURL[strings.LastIndex(bURL, "/")+1:]
	before := st.hash(t)

	crafted := infoPointingAt("x", "site-a", secret, 1<<20)
	craftedSum := sha256.Sum256(crafted)
	patch := func(off string) []string {
		return []string{"Content-Type", "application/offset+octet-stream", "Upload-Offset", off}
	}
	for _, tc := range []struct {
		name, method, path string
		h                  []string
		body               string
		status             int
	}{
		{"photo named x.info", "POST", FilesPath, []string{"Content-Type", "application/offset+octet-stream", "Upload-Length", strconv.Itoa(len(crafted)),
			"Upload-Metadata", meta("filename", "x.info", "sha256", hex.EncodeToString(craftedSum[:]))}, string(crafted), 400},
		{"HEAD through ..%2F", "HEAD", FilesPath + "..%2Fsite-a%2Fx", nil, "", 404},
		{"PATCH through ..%2F", "PATCH", FilesPath + "..%2Fsite-a%2Fx", patch("22"), "appended by site-a", 404},
		{"DELETE through ..%2F", "DELETE", FilesPath + "..%2Fsite-a%2Fx", nil, "", 404},
		{"DELETE of site-b's photo through ..%2F", "DELETE", FilesPath + "..%2Fsite-a%2Fy", nil, "", 404},
		{"PATCH into a directory through ..%2F", "PATCH", FilesPath + "..%2Fsite-a%2Fz", patch("0"), "x", 404},
		{"DELETE through ..%2F..%2F", "DELETE", FilesPath + "..%2F..%2Fevil", nil, "", 404},
		{"DELETE of an absolute path", "DELETE", FilesPath + "%2F" + strings.TrimPrefix(filepath.Join(st.root, "site-a", "x"), "/"), nil, "", 404},
		{"HEAD with a slash in the ID", "HEAD", FilesPath + "site-a/x", nil, "", 404},
		{"X-HTTP-Method-Override DELETE through ..%2F", "POST", FilesPath + "..%2Fsite-a%2Fx", []string{"X-HTTP-Method-Override", "DELETE"}, "", 404},
		{"upper-case ID", "HEAD", FilesPath + strings.ToUpper(bID), nil, "", 404},
		{"ID with a trailing slash", "DELETE", FilesPath + bID + "/", nil, "", 404},
		{"site-b's ID: HEAD", "HEAD", FilesPath + bID, nil, "", 404},
		{"site-b's ID: PATCH", "PATCH", FilesPath + bID, patch("0"), "from site-a", 404},
		{"site-b's ID: DELETE", "DELETE", FilesPath + bID, nil, "", 404},
	} {
		status, body, _ := do(t, tc.method, st.url+tc.path, as("site-a", tc.h...), tc.body)
		if status != tc.status {
			t.Errorf("%s: %s %s: %d %q, want %d", tc.name, tc.method, tc.path, status, body, tc.status)
		}
		if strings.Contains(body, st.top) {
			t.Errorf("%s: the answer names a server path: %q", tc.name, body)
		}
	}
	sameTree(t, before, st.hash(t))
	if status, _, h := do(t, "HEAD", bURL, as("site-b"), ""); status != 200 || h.Get("Upload-Offset") != "0" {
		t.Errorf("site-b's upload after the attacks: %d offset %q, want 200 at 0", status, h.Get("Upload-Offset"))
	}
}

// TestInfoFilePathIgnored: an info file whose Storage.Path points outside
// the spool (tampered with, or written by an older server) changes
// nothing: offsets, bytes and deletion follow the ID.
func TestInfoFilePathIgnored(t *testing.T) {
	st := startSite(t, Config{}, Limits{})
	loc := st.create(t, "site-a", "2026/x.jpg", 10)
	id := loc[strings.LastIndex(loc, "/")+1:]
	if err := os.WriteFile(filepath.Join(st.spool, id+".info"), infoPointingAt(id, "site-a", filepath.Join(st.top, "secret.txt"), 10), 0o644); err != nil {
		t.Fatal(err)
	}
	before := st.hash(t)
	if status, _, h := do(t, "HEAD", loc, as("site-a"), ""); status != 200 || h.Get("Upload-Offset") != "0" {
		t.Errorf("HEAD: %d offset %q, want 200 at 0 (not the size of secret.txt)", status, h.Get("Upload-Offset"))
	}
	if status, body, h := do(t, "PATCH", loc, as("site-a", "Content-Type", "application/offset+octet-stream", "Upload-Offset", "0"), "12345"); status != 204 || h.Get("Upload-Offset") != "5" {
		t.Errorf("PATCH: %d %q offset %q, want 204 at 5", status, body, h.Get("Upload-Offset"))
	}
	if b, _ := os.ReadFile(filepath.Join(st.spool, id)); string(b) != "12345" {
		t.Errorf("the spool holds %q, want the 5 bytes sent", b)
	}
	if status, _, _ := do(t, "DELETE", loc, as("site-a"), ""); status != 204 {
		t.Errorf("DELETE: %d, want 204", status)
	}
	sameTree(t, before, st.hash(t))
	if des, _ := os.ReadDir(st.spool); len(des) != 0 {
		t.Errorf("the spool still holds %d files", len(des))
	}
}

// TestOtherDeviceCannotInterrupt: site-a asking about site-b's upload
// while site-b's PATCH is under way neither learns anything nor takes
// tusd's lock from it: the PATCH completes and the photo is stored.
func TestOtherDeviceCannotInterrupt(t *testing.T) {
	st := startSite(t, Config{}, Limits{})
	data := bytes.Repeat([]byte("0123456789"), 20000)
	sum := sha256.Sum256(data)
	status, body, h := do(t, "POST", st.url+FilesPath, as("site-b", "Upload-Length", strconv.Itoa(len(data)), "Upload-Metadata", meta("filename", "2026/big.jpg", "sha256", hex.EncodeToString(sum[:]))), "")
	if status != 201 {
		t.Fatalf("creation: %d %q", status, body)
	}
	loc := h.Get("Location")
	id := loc[strings.LastIndex(loc, "/")+1:]

	pr, pw := io.Pipe()
	req, _ := http.NewRequest("PATCH", loc, pr)
	req.ContentLength = int64(len(data))
	for k, v := range as("site-b", "Tus-Resumable", "1.0.0", "Content-Type", "application/offset+octet-stream", "Upload-Offset", "0") {
		req.Header.Set(k, v)
	}
	type result struct {
		status   int
		verified string
		err      error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- result{err: err}
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		done <- result{status: resp.StatusCode, verified: resp.Header.Get(VerifiedHeader)}
	}()
	half := len(data) / 2
	pw.Write(data[:half])
	// Wait until the server has written the first half: the PATCH holds
	// tusd's lock on the upload.
	for {
		if fi, err := os.Stat(filepath.Join(st.spool, id)); err == nil && fi.Size() == int64(half) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	for _, m := range []string{"HEAD", "DELETE"} {
		if status, _, _ := do(t, m, loc, as("site-a"), ""); status != 404 {
			t.Errorf("site-a's %s of site-b's upload: %d, want 404", m, status)
		}
	}
	pw.Write(data[half:])
	pw.Close()
	r := <-done
	if r.err != nil || r.status != 204 || r.verified != hex.EncodeToString(sum[:]) {
		t.Errorf("site-b's PATCH: %d verified %q, %v; want 204 with the photo verified", r.status, r.verified, r.err)
	}
	if b, err := os.ReadFile(filepath.Join(st.root, "site-b", "2026", "big.jpg")); err != nil || !bytes.Equal(b, data) {
		t.Errorf("site-b's photo not stored: %d bytes, %v", len(b), err)
	}
}

// TestDeviceShare: a device cannot reserve more of the spool than its
// share; past it the answer says why and when to come back, and its
// oldest idle upload makes room once idle long enough. The other device
// is not affected.
func TestDeviceShare(t *testing.T) {
	st := startSite(t, Config{MaxSize: 1000, MaxUploads: 3, MaxSpoolBytes: 1800, EvictIdle: time.Hour}, Limits{})
	before := st.hash(t)
	var locs []string
	for i := 0; i < 3; i++ {
		locs = append(locs, st.create(t, "site-a", fmt.Sprintf("r/%d.jpg", i), 500))
	}
	post := func(dev string, size int) (int, string, http.Header) {
		return do(t, "POST", st.url+FilesPath, as(dev, "Upload-Length", strconv.Itoa(size), "Upload-Metadata", meta("filename", "r/more.jpg", "sha256", strings.Repeat("0", 64))), "")
	}
	status, body, h := post("site-a", 500)
	ra, _ := strconv.Atoi(h.Get("Retry-After"))
	if status != http.StatusTooManyRequests || !strings.Contains(body, `device "site-a" has 3 unfinished uploads`) || ra < 1 || ra > 3600 {
		t.Errorf("4th upload: %d %q Retry-After %q, want 429 saying why, with a Retry-After within the hour", status, body, h.Get("Retry-After"))
	}
	do(t, "DELETE", locs[2], as("site-a"), "")
	status, body, h = post("site-a", 1000)
	if status != http.StatusInsufficientStorage || !strings.Contains(body, "reserve 1000 bytes, and 1000 more would pass the 1800") || h.Get("Retry-After") == "" {
		t.Errorf("upload past the bytes: %d %q Retry-After %q, want 507 saying why", status, body, h.Get("Retry-After"))
	}
	if status, body, _ := post("site-b", 1000); status != 201 {
		t.Errorf("site-b: %d %q, want 201", status, body)
	}
	if n, b := st.srv.spool.usage("site-a"); n != 2 || b != 1000 {
		t.Errorf("site-a holds %d uploads of %d bytes, want 2 of 1000", n, b)
	}
	// An hour later, the oldest idle upload makes room.
	if _, err := st.srv.spool.reserve("site-a", 1000, time.Now().Add(61*time.Minute)); err != nil {
		t.Fatalf("after an hour idle: %v", err)
	}
	if status, _, _ := do(t, "HEAD", locs[0], as("site-a"), ""); status != 404 {
		t.Errorf("the evicted upload answers %d, want 404", status)
	}
	if _, err := os.Stat(filepath.Join(st.spool, locs[0][strings.LastIndex(locs[0], "/")+1:])); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the evicted upload's bytes are still in the spool: %v", err)
	}
	sameTree(t, before, st.hash(t))
}

// TestServerErrorsNameNoPath: an internal error answers 500 with a
// reference to the log, not the path the server failed on.
func TestServerErrorsNameNoPath(t *testing.T) {
	st := startSite(t, Config{}, Limits{})
	loc := st.create(t, "site-a", "2026/x.jpg", 10)
	bin := filepath.Join(st.spool, loc[strings.LastIndex(loc, "/")+1:])
	os.Remove(bin)
	os.Mkdir(bin, 0o755) // the bytes file is now a directory
	status, body, _ := do(t, "HEAD", loc, as("site-a"), "")
	if status != 500 {
		t.Errorf("HEAD: %d, want 500", status)
	}
	status, body, _ = do(t, "PATCH", loc, as("site-a", "Content-Type", "application/offset+octet-stream", "Upload-Offset", "0"), "abc")
	if status != 500 || strings.Contains(body, st.top) || !strings.Contains(body, "the server's log has the details under ") {
		t.Errorf("PATCH: %d %q, want 500 naming a log reference and no path", status, body)
	}
	ref := body[strings.LastIndex(body, " ")+1:]
	if !strings.Contains(st.logs.String(), "ref="+ref) || !strings.Contains(st.logs.String(), st.spool) {
		t.Errorf("the log has no line with ref=%s and the path:\n%s", ref, st.logs.String())
	}
}

// TestUnauthenticatedBodyNotRead: a request without a valid credential
// gets its 401 and the connection closed without its body being read,
// whether the body has a length or is chunked.
func TestUnauthenticatedBodyNotRead(t *testing.T) {
	const size = 100 << 20
	for _, tc := range []struct {
		name  string
		h     string
		chunk bool
	}{
		{"unknown device, Content-Length", "Lapsebox-Device: site-z\r\nAuthorization: Bearer " + token + "\r\nContent-Length: " + strconv.Itoa(size), false},
		{"bad token, chunked", "Lapsebox-Device: site-a\r\nAuthorization: Bearer nope\r\nTransfer-Encoding: chunked", true},
		{"no credential, Content-Length", "Content-Length: " + strconv.Itoa(size), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := startSite(t, Config{}, Limits{})
			c := dial(t, strings.TrimPrefix(st.url, "http://"))
			fmt.Fprintf(c, "POST /v1/files/ HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nUpload-Length: %d\r\nContent-Type: application/offset+octet-stream\r\n%s\r\n\r\n", size, tc.h)
			sent := make(chan int64, 1)
			go func() { // the client sends its body as fast as it can
				buf := bytes.Repeat([]byte("x"), 1<<16)
				if tc.chunk {
					buf = append(append([]byte("fff8\r\n"), buf[:0xfff8]...), "\r\n"...)
				}
				var n int64
				for n < size {
					k, err := c.Write(buf)
					n += int64(k)
					if err != nil {
						break
					}
				}
				sent <- n
			}()
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 401 || !resp.Close || strings.TrimSpace(string(b)) != errUnauthorized {
				t.Errorf("answer: %d close=%v %q, want 401 closing the connection", resp.StatusCode, resp.Close, b)
			}
			// The server closes its side: the client reads EOF, and its
			// writes fail.
			if _, err := br.ReadByte(); err == nil {
				t.Error("the connection is still open after the 401")
			}
			n := <-sent
			read := st.ln.read.Load()
			t.Logf("the client sent %d bytes before the connection closed; the server read %d", n, read)
			if read > 16<<10 || n >= size {
				t.Errorf("the server read %d bytes (the client sent %d of %d): the body was read", read, n, size)
			}
		})
	}
}

// countingListener counts the bytes its connections read and how many
// are open at once.
type countingListener struct {
	net.Listener
	read          atomic.Int64
	open, maxOpen atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	n := l.open.Add(1)
	for {
		m := l.maxOpen.Load()
		if n <= m || l.maxOpen.CompareAndSwap(m, n) {
			break
		}
	}
	return &countingConn{Conn: c, l: l}, nil
}

type countingConn struct {
	net.Conn
	l    *countingListener
	once sync.Once
}

func (c *countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.l.read.Add(int64(n))
	return n, err
}

func (c *countingConn) Close() error {
	c.once.Do(func() { c.l.open.Add(-1) })
	return c.Conn.Close()
}

func (c *countingConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
