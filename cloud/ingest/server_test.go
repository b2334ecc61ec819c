package ingest

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// short are the server's limits scaled down so that a test sees them
// act: every timeout one second.
var short = Limits{ReadHeaderTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second, IdleTimeout: time.Second}

// cutOff reports whether the server closes c without an answer while the
// client trickles bytes from send (one every interval) at it.
func cutOff(t *testing.T, c net.Conn, send string, interval time.Duration) bool {
	t.Helper()
	closed := make(chan struct{})
	go func() {
		io.Copy(io.Discard, c) // ends when the server closes
		close(closed)
	}()
	for i := 0; i < len(send); i++ {
		select {
		case <-closed:
			return true
		case <-time.After(interval):
		}
		if _, err := c.Write([]byte{send[i]}); err != nil {
			return true
		}
	}
	return false
}

// dial connects to addr for the length of the test.
func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestSlowClientsCutOff: a client that trickles its headers, one that
// connects and says nothing, and a kept-alive connection left idle are
// all closed by the server.
func TestSlowClientsCutOff(t *testing.T) {
	st := startSite(t, Config{}, short)
	addr := strings.TrimPrefix(st.url, "http://")

	t.Run("slowloris", func(t *testing.T) {
		c := dial(t, addr)
		// A request whose headers would take two minutes at this pace.
		hdr := "GET /v1/photos HTTP/1.1\r\nHost: x\r\nX-Slow: " + strings.Repeat("s", 2400) + "\r\n\r\n"
		if !cutOff(t, c, hdr, 50*time.Millisecond) {
			t.Error("the server read the whole trickled request")
		}
	})
	t.Run("silent", func(t *testing.T) {
		c := dial(t, addr)
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Error("the server sent something to a silent client")
		}
	})
	t.Run("idle", func(t *testing.T) {
		c := dial(t, addr)
		fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n%s: site-a\r\n\r\n", PhotosPath, token, DeviceHeader)
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != 200 || resp.Close {
			t.Fatalf("listing: %d close=%v, want 200 keeping the connection", resp.StatusCode, resp.Close)
		}
		if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
			t.Errorf("idle connection: read %v, want EOF once the server closes it", err)
		}
	})
}

// TestSlowUploadCompletes: an upload whose body takes several times every
// timeout of the server, bytes flowing all along (a photo over a poor
// cellular link), completes; one whose bytes stop is cut off.
func TestSlowUploadCompletes(t *testing.T) {
	st := startSite(t, Config{NetworkTimeout: time.Second}, short)
	data := bytes.Repeat([]byte("slow"), 5000) // 20 kB at 5 kB/s: 4 s
	sum := sha256.Sum256(data)
	status, body, h := do(t, "POST", st.url+FilesPath, as("site-a", "Upload-Length", strconv.Itoa(len(data)), "Upload-Metadata", meta("filename", "2026/slow.jpg", "sha256", hex.EncodeToString(sum[:]))), "")
	if status != 201 {
		t.Fatalf("creation: %d %q", status, body)
	}
	loc := h.Get("Location")
	pr, pw := io.Pipe()
	go func() {
		for i := 0; i < len(data); i += 500 {
			time.Sleep(100 * time.Millisecond)
			if _, err := pw.Write(data[i : i+500]); err != nil {
				return
			}
		}
		pw.Close()
	}()
	start := time.Now()
	status, body, h = doBody(t, "PATCH", loc, as("site-a", "Content-Type", "application/offset+octet-stream", "Upload-Offset", "0"), pr, int64(len(data)))
	if status != 204 || h.Get(VerifiedHeader) != hex.EncodeToString(sum[:]) {
		t.Fatalf("slow PATCH: %d %q, want 204 with the photo verified", status, body)
	}
	t.Logf("the PATCH took %v against timeouts of %v", time.Since(start).Round(time.Millisecond), short.ReadTimeout)
	if b, err := os.ReadFile(filepath.Join(st.root, "site-a", "2026", "slow.jpg")); err != nil || !bytes.Equal(b, data) {
		t.Errorf("photo not stored: %d bytes, %v", len(b), err)
	}

	// A body that stops: the server ends the request, keeping the bytes
	// it got for the device to resume from.
	status, body, h = do(t, "POST", st.url+FilesPath, as("site-a", "Upload-Length", "1000", "Upload-Metadata", meta("filename", "2026/stalled.jpg", "sha256", strings.Repeat("0", 64))), "")
	if status != 201 {
		t.Fatalf("creation: %d %q", status, body)
	}
	loc = h.Get("Location")
	pr, pw = io.Pipe()
	go pw.Write(make([]byte, 100)) // and then nothing
	status, body, _ = doBody(t, "PATCH", loc, as("site-a", "Content-Type", "application/offset+octet-stream", "Upload-Offset", "0"), pr, 1000)
	pw.Close()
	if status != 0 && status < 400 {
		t.Errorf("stalled PATCH: %d %q, want it cut off", status, body)
	}
	if status, _, h := do(t, "HEAD", loc, as("site-a"), ""); status != 200 || h.Get("Upload-Offset") != "100" {
		t.Errorf("after the stall: %d offset %q, want the 100 bytes received", status, h.Get("Upload-Offset"))
	}
}

// doBody is do with a streamed body; status 0 is a transport error.
func doBody(t *testing.T, method, url string, h map[string]string, body io.Reader, n int64) (int, string, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(method, url, body)
	req.ContentLength = n
	req.Header.Set("Tus-Resumable", "1.0.0")
	for k, v := range h {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error(), nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b)), resp.Header
}

// TestConnectionLimit: with every connection the server takes held by
// silent clients, the next client waits until one is cut off, and the
// server never has more open.
func TestConnectionLimit(t *testing.T) {
	l := short
	l.MaxConns = 2
	st := startSite(t, Config{}, l)
	addr := strings.TrimPrefix(st.url, "http://")
	for i := 0; i < 4; i++ {
		dial(t, addr)
	}
	status, body, _ := do(t, "GET", st.url+PhotosPath, as("site-a"), "")
	if status != 200 {
		t.Errorf("listing after the silent clients: %d %q", status, body)
	}
	if m := st.ln.maxOpen.Load(); m != 2 {
		t.Errorf("the server had %d connections open at once, want 2", m)
	}
}

// TestHeaderLimit: headers past MaxHeaderBytes are refused.
func TestHeaderLimit(t *testing.T) {
	st := startSite(t, Config{}, Limits{MaxHeaderBytes: 4 << 10})
	status, _, _ := do(t, "GET", st.url+PhotosPath, as("site-a", "X-Big", strings.Repeat("b", 16<<10)), "")
	if status != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("16 KiB of headers: %d, want 431", status)
	}
}
