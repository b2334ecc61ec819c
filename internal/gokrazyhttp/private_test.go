package gokrazyhttp

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestPrivateOnly(t *testing.T) {
	h := PrivateOnly("statusd", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	for _, tc := range []struct {
		remote string
		want   int
	}{
		{"127.0.0.1:5000", http.StatusOK},
		{"10.0.2.2:5000", http.StatusOK},
		{"192.168.1.20:5000", http.StatusOK},
		{"172.16.0.9:1", http.StatusOK},
		{"[::1]:5000", http.StatusOK},
		{"[fd00::1]:5000", http.StatusOK},
		{"[fe80::1%eth0]:5000", http.StatusOK},
		{"[::ffff:10.1.2.3]:5000", http.StatusOK},
		{"100.64.3.4:5000", http.StatusForbidden}, // carrier-grade NAT: the cellular side
		{"8.8.8.8:5000", http.StatusForbidden},
		{"[2001:db8::1]:5000", http.StatusForbidden},
		{"garbage", http.StatusForbidden},
	} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/", nil)
		req.RemoteAddr = tc.remote
		h.ServeHTTP(rec, req)
		if rec.Code != tc.want {
			t.Errorf("client %s: HTTP %d, want %d", tc.remote, rec.Code, tc.want)
		}
	}
}
