package status

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestFetch reads statusd's snapshot over HTTP on loopback, as the host
// tool does, from statusd's own handler.
func TestFetch(t *testing.T) {
	tr := newTree(t)
	tr.defaultGokrazy(t)
	tr.write(t, "etc/gokr-pw.txt", "image-password-not-used\n") // /perm's wins, as in gokrazy
	cfg := tr.config()
	cfg.BootSHA256 = "b007"
	srv := httptest.NewServer(NewServer(NewCollector(cfg), Options{EtcDir: tr.etc, Logf: func(string, ...any) {}}))
	defer srv.Close()
	ctx := context.Background()

	snap, err := Fetch(ctx, srv.URL+"/", testPassword)
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	if snap.Build.BootSHA256 != "b007" || snap.Build.GokrazyTimestamp != "2026-07-01T09:30:00+02:00" || snap.Hostname != "lapsebox-glacier" {
		t.Errorf("Fetch's snapshot: build %+v, host %q", snap.Build, snap.Hostname)
	}
	_, err = Fetch(ctx, srv.URL, "wrong")
	if err == nil || !strings.Contains(err.Error(), "401") || strings.Contains(err.Error(), "wrong") {
		t.Errorf("Fetch with a wrong password: %v, want 401 without the password", err)
	}
	for _, bad := range []string{"", "lapsebox:8080", "ftp://lapsebox/", "http://gokrazy:pw@lapsebox:8080/", "http:///x"} {
		if _, err := Fetch(ctx, bad, testPassword); err == nil || strings.Contains(err.Error(), "pw@") {
			t.Errorf("Fetch(%q): %v, want a refusal that shows no password", bad, err)
		}
	}
}

// TestFetchAttacks: what answers in statusd's place gets no second
// request, and no more than a bounded read.
func TestFetchAttacks(t *testing.T) {
	var elsewhere int
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { elsewhere++ }))
	defer other.Close()
	for name, h := range map[string]http.HandlerFunc{
		"redirect": func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, other.URL+"/api/status", http.StatusFound)
		},
		"not JSON": func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("<html>captive portal</html>")) },
		"endless": func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`{"hostname":"`))
			chunk := []byte(strings.Repeat("a", 1<<16))
			for range 200 { // 12.5 MiB, more than Fetch reads
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		},
	} {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(h)
			defer srv.Close()
			if snap, err := Fetch(context.Background(), srv.URL, testPassword); err == nil {
				t.Errorf("Fetch: %+v, want an error", snap)
			}
		})
	}
	if elsewhere != 0 {
		t.Errorf("a redirect was followed %d times, with the password", elsewhere)
	}
}
