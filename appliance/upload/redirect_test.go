package upload_test

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-retryablehttp"

	"github.com/lapsebox/lapsebox/appliance/upload"
	"github.com/lapsebox/lapsebox/appliance/upload/s3"
	"github.com/lapsebox/lapsebox/appliance/upload/tus"
	"github.com/lapsebox/lapsebox/appliance/upload/uploadtest"
	"github.com/lapsebox/lapsebox/appliance/upload/webdav"
	"github.com/lapsebox/lapsebox/cloud/ingest/ingesttest"
)

// elsewhere is a server the device was not configured to talk to: it
// records every request it gets.
type elsewhere struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []string
}

func newElsewhere(t *testing.T) *elsewhere {
	e := &elsewhere{}
	e.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		e.mu.Lock()
		e.reqs = append(e.reqs, r.Method+" "+r.URL.Path+" Authorization="+r.Header.Get("Authorization")+" device="+r.Header.Get("Lapsebox-Device")+" body="+strconv.Itoa(len(b))+" bytes")
		e.mu.Unlock()
		w.Header().Set("Location", r.URL.Path)
		w.Header().Set("Upload-Offset", "0")
		w.WriteHeader(http.StatusCreated)
	}))
	t.Cleanup(e.Close)
	return e
}

func (e *elsewhere) requests() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.reqs...)
}

// TestCredentialsStayHome checks that no target follows its server to
// another scheme or host: a redirect or a tus Location elsewhere is an
// error, and the other server never sees a request (nor the token, the
// device's name or the photo).
func TestCredentialsStayHome(t *testing.T) {
	quiet := slog.New(slog.DiscardHandler)
	for _, tc := range []struct {
		name string
		tls  bool // the configured server speaks https; elsewhere is http
		// answer is the configured server's answer to every request,
		// given elsewhere's URL.
		answer func(w http.ResponseWriter, r *http.Request, other string)
		target func(url string, c *retryablehttp.Client) (upload.Target, error)
	}{
		{"tus redirect", false, redirect(http.StatusTemporaryRedirect), newTus},
		{"tus redirect from https to http", true, redirect(http.StatusPermanentRedirect), newTus},
		{"tus Location elsewhere", false, func(w http.ResponseWriter, r *http.Request, other string) {
			w.Header().Set("Location", other+"/v1/files/0123456789abcdef0123456789abcdef")
			w.WriteHeader(http.StatusCreated)
		}, newTus},
		{"tus Location from https to http", true, func(w http.ResponseWriter, r *http.Request, other string) {
			w.Header().Set("Location", other+"/v1/files/0123456789abcdef0123456789abcdef")
			w.WriteHeader(http.StatusCreated)
		}, newTus},
		{"webdav redirect", false, redirect(http.StatusTemporaryRedirect), newWebDAV},
		{"webdav redirect from https to http", true, redirect(http.StatusPermanentRedirect), newWebDAV},
		{"s3 redirect", false, redirect(http.StatusTemporaryRedirect), newS3},
		{"s3 redirect from https to http", true, redirect(http.StatusTemporaryRedirect), newS3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			other := newElsewhere(t)
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body)
				tc.answer(w, r, other.URL)
			})
			var home *httptest.Server
			if tc.tls {
				home = httptest.NewTLSServer(h)
			} else {
				home = httptest.NewServer(h)
			}
			defer home.Close()
			roots := x509.NewCertPool()
			if tc.tls {
				roots.AddCert(home.Certificate())
			}
			c := upload.NewClient(upload.ClientOptions{
				MinWait: time.Millisecond, MaxWait: 10 * time.Millisecond,
				TLSConfig: &tls.Config{RootCAs: roots},
				Logger:    quiet,
			})
			tg, err := tc.target(home.URL, c)
			if err != nil {
				t.Fatal(err)
			}
			item, _ := uploadtest.Photo("2026/11/26/x.jpg", 1000, 1)
			err = tg.Upload(context.Background(), item, func(json.RawMessage) error { return nil })
			if err == nil {
				t.Fatal("Upload succeeded")
			}
			if got := other.requests(); len(got) > 0 {
				t.Errorf("the other server got %d requests: %q", len(got), got)
			}
			if !strings.Contains(err.Error(), other.Listener.Addr().String()) || !strings.Contains(err.Error(), "refus") {
				t.Errorf("error %q does not say it refused to go to %s", err, other.URL)
			}
		})
	}
}

func redirect(code int) func(w http.ResponseWriter, r *http.Request, other string) {
	return func(w http.ResponseWriter, r *http.Request, other string) {
		http.Redirect(w, r, other+r.URL.Path, code)
	}
}

func newTus(url string, c *retryablehttp.Client) (upload.Target, error) {
	return tus.New(tus.Config{URL: url, Device: "glacier-1", Token: "secret-token", Transfer: upload.Transfer{Client: c, Rounds: 2, Logger: slog.New(slog.DiscardHandler)}})
}

func newWebDAV(url string, c *retryablehttp.Client) (upload.Target, error) {
	return webdav.New(webdav.Config{URL: url + "/dav/", User: "alice", Password: "secret-password", Transfer: upload.Transfer{Client: c, Rounds: 2, Logger: slog.New(slog.DiscardHandler)}})
}

func newS3(url string, c *retryablehttp.Client) (upload.Target, error) {
	return s3.New(s3.Config{Endpoint: url, Bucket: "photos", PathStyle: true, AccessKey: "AKID", SecretKey: "secret-key", Transfer: upload.Transfer{Client: c, Rounds: 2, Logger: slog.New(slog.DiscardHandler)}})
}

func TestSameOrigin(t *testing.T) {
	for _, tc := range []struct {
		base, u string
		same    bool
	}{
		{"https://cloud.example.com", "https://cloud.example.com/v1/files/x", true},
		{"https://cloud.example.com", "https://CLOUD.example.com:443/x", true},
		{"http://h:80/", "http://h/x", true},
		{"https://cloud.example.com", "http://cloud.example.com/x", false},
		{"https://cloud.example.com", "https://cloud.example.com:8443/x", false},
		{"https://cloud.example.com", "https://evil.example.com/x", false},
		{"https://cloud.example.com", "https://sub.cloud.example.com/x", false},
		{"http://127.0.0.1:8080", "http://127.0.0.1:8081/x", false},
	} {
		b, _ := url.Parse(tc.base)
		u, _ := url.Parse(tc.u)
		if got := upload.SameOrigin(b, u); got != tc.same {
			t.Errorf("SameOrigin(%s, %s) = %v, want %v", tc.base, tc.u, got, tc.same)
		}
	}
}

// TestResumeStateElsewhere: resume state saved for another server (the
// configuration changed since) is dropped without a request to it, and
// the photo goes to the configured server from the start.
func TestResumeStateElsewhere(t *testing.T) {
	c := ingesttest.Start(t, ingesttest.Options{Tokens: map[string]string{"glacier-1": "secret-token"}})
	other := newElsewhere(t)
	tg, err := tus.New(tus.Config{URL: c.URL(), Device: "glacier-1", Token: "secret-token", Transfer: upload.Transfer{Logger: slog.New(slog.DiscardHandler)}})
	if err != nil {
		t.Fatal(err)
	}
	for i, size := range []int{1000, 999} { // the same photo, and one whose size changed
		item, data := uploadtest.Photo(fmt.Sprintf("2026/11/26/%d.jpg", i), 1000, uint64(i))
		state, _ := json.Marshal(map[string]any{"url": other.URL + "/v1/files/0123456789abcdef0123456789abcdef", "offset": 500, "size": size, "sha256": item.SHA256})
		item.Resume = state
		if err := tg.Upload(context.Background(), item, func(json.RawMessage) error { return nil }); err != nil {
			t.Fatalf("%s: %v", item.Name, err)
		}
		sum := sha256.Sum256(data)
		if got := c.Received("glacier-1")[item.Name]; got != hex.EncodeToString(sum[:]) {
			t.Errorf("%s: the server has %q", item.Name, got)
		}
	}
	if got := other.requests(); len(got) > 0 {
		t.Errorf("the server of the old resume state got %d requests: %q", len(got), got)
	}
}
