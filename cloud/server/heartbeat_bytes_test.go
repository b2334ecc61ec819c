package server_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/appliance/heartbeat"
	"github.com/lapsebox/lapsebox/appliance/statusfile"
	"github.com/lapsebox/lapsebox/appliance/upload"
	"github.com/lapsebox/lapsebox/cloud/server"
	"github.com/lapsebox/lapsebox/cloud/server/servertest"
	"github.com/lapsebox/lapsebox/cloud/state"
)

// countingConn counts the bytes a connection carries both ways, and
// says when it is closed.
type countingConn struct {
	net.Conn
	n      atomic.Int64
	closed chan struct{}
	once   sync.Once
}

func (c *countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.n.Add(int64(n))
	return n, err
}

func (c *countingConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.n.Add(int64(n))
	return n, err
}

func (c *countingConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { close(c.closed) })
	return err
}

// roundTripper records whether each response's TLS session was resumed.
type roundTripper struct {
	http.RoundTripper
	resumed []bool
}

func (rt *roundTripper) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := rt.RoundTripper.RoundTrip(r)
	if err == nil && resp.TLS != nil {
		rt.resumed = append(rt.resumed, resp.TLS.DidResume)
	}
	return resp, err
}

// selfSigned writes a certificate for 127.0.0.1 and its key, and returns
// their paths and a pool trusting it.
func selfSigned(t testing.TB) (cert, key string, pool *x509.CertPool) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "cloudd"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(k)
	dir := t.TempDir()
	cert, key = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	c, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(c)
	return cert, key, pool
}

// fieldDevice writes the status files of a device in the field: camera,
// a cloud and a live-cam target, a modem, a watchdog, updated.
func fieldDevice(t testing.TB) heartbeat.Sources {
	dir := t.TempDir()
	now := time.Now()
	days, dbm, healthy := 37.4, -97, true
	statusfile.Write(filepath.Join(dir, "camerad.json"), statusfile.Camera{State: "waiting", Captures: 1412, MissedSlots: 3,
		Camera:      &statusfile.CameraInfo{Model: "Canon EOS 600D", Serial: "123456789012", Connected: true, Battery: "100%"},
		LastCapture: &statusfile.Capture{Slot: now.Add(-2 * time.Minute), Files: []string{"photos/2026/11/26/20261126120000.jpg"}, Bytes: 6_482_113},
		Store:       &statusfile.Store{UsedBytes: 21 << 30, TotalBytes: 59 << 30}, Autonomy: &statusfile.Autonomy{Days: &days}})
	statusfile.Write(filepath.Join(dir, "uploadd.json"), statusfile.Uploads{Targets: []statusfile.Target{
		{Name: "cloud", Kind: "cloud", Pending: 1, PendingBytes: 6_482_113, OldestPending: now.Add(-2 * time.Minute), LastSuccess: now.Add(-7 * time.Minute)},
		{Name: "livecam", Kind: "livecam", LastSuccess: now.Add(-2 * time.Minute)}}})
	statusfile.Write(filepath.Join(dir, "modemd.json"), statusfile.Modem{State: "connected",
		Net:  &statusfile.Network{Registration: "registered", Operator: "Orange F", Technology: "LTE", SignalDBM: &dbm, SignalBars: 3},
		Data: statusfile.DataUse{Period: "2026-11-05", UsedBytes: 3_412_000_000, CapBytes: 10 << 30}})
	statusfile.Write(filepath.Join(dir, "watchdogd.json"), map[string]any{"state": "petting", "healthy": &healthy})
	// updated, up to date since it installed the channel's release.
	build := time.Date(2026, 11, 17, 6, 0, 0, 0, time.UTC)
	rel := statusfile.Release{Version: "2026.11.17", Build: build, Manifest: "5d41402abc4b2a76b9719d911017c5925d41402abc4b2a76b9719d911017c592"}
	statusfile.Write(filepath.Join(dir, "updated.json"), statusfile.Update{State: "up to date", Updated: now, Running: build, Version: rel.Version,
		Board: "rpi4", Channel: "stable", Committed: build, CommittedVersion: rel.Version, Available: &rel, NextCheck: now.Add(5 * time.Hour),
		LastAttempt: &statusfile.UpdateAttempt{Time: now.Add(-8 * 24 * time.Hour), Release: rel, Result: "installed",
			RootBytes: 125829120, FetchedBytes: 9437184, ReusedBytes: 116391936, Trial: true}})
	os.WriteFile(filepath.Join(dir, "uptime"), []byte("1209600.12 2400000.00\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "temp"), []byte("48312\n"), 0o644)
	return heartbeat.Sources{StatusDir: dir, ProcDir: dir, ThermalFile: filepath.Join(dir, "temp"), Version: "v0.9.0-20261126120000-0123456789ab"}
}

// The heartbeat's cost on a 4G link: the bytes on the wire (TCP payload,
// TLS included) for one heartbeat to a cloudd over HTTPS, when each one
// opens a connection (the 5 minutes between them outlive idle
// connections and most carriers' NAT), with a full TLS handshake or a
// resumed session, and on a connection kept open; and per day at the
// default interval. The reference is the document itself, JSON and gzip.
func TestHeartbeatBytes(t *testing.T) {
	cert, key, pool := selfSigned(t)
	// Heartbeats 5 minutes apart, as far as cloudd can tell.
	var offset atomic.Int64
	now := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	r := servertest.Start(t, server.Config{TLSCert: cert, TLSKey: key}, server.Options{Now: now})
	r.DB.AddDevice(context.Background(), state.Device{Name: "glacier-1", TokenSHA256: sha256.Sum256([]byte("a-device-token-of-52-characters-0123456789abcdefghijk")), Created: time.Now()})
	r.ReloadDevices(context.Background())
	src := fieldDevice(t)

	h := heartbeat.Collect(src, time.Now())
	raw, _ := heartbeat.Marshal(h)
	gz, _ := heartbeat.Encode(h)

	const perDay = 24 * 60 / 5
	t.Logf("heartbeat document: %d bytes of JSON, %d gzipped", len(raw), len(gz))
	if len(gz) >= len(raw) {
		t.Errorf("gzip does not help: %d ≥ %d bytes", len(gz), len(raw))
	}
	heartbeats := int64(0)
	for _, kx := range []struct {
		name   string
		curves []tls.CurveID
	}{
		{"Go's default key exchange (X25519MLKEM768, post-quantum)", nil},
		{"X25519 only", []tls.CurveID{tls.X25519}},
	} {
		tlsConfig := &tls.Config{RootCAs: pool, ClientSessionCache: tls.NewLRUClientSessionCache(4), CurvePreferences: kx.curves}
		client := upload.NewClient(upload.ClientOptions{TLSConfig: tlsConfig})
		tr := client.HTTPClient.Transport.(*http.Transport)
		rt := &roundTripper{RoundTripper: tr}
		client.HTTPClient.Transport = rt
		conns := make(chan *countingConn, 16)
		dial := tr.DialContext
		tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dial(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			cc := &countingConn{Conn: c, closed: make(chan struct{})}
			conns <- cc
			return cc, nil
		}
		s := &heartbeat.Sender{URL: "https://" + r.PublicAddr(), Device: "glacier-1", Token: "a-device-token-of-52-characters-0123456789abcdefghijk",
			Sources: src, Client: client}
		// connection sends n heartbeats on one new connection, closes it and
		// returns the bytes it carried in its whole life.
		connection := func(n int) int64 {
			t.Helper()
			for range n {
				if err := s.Send(context.Background()); err != nil {
					t.Fatal(err)
				}
				offset.Add(int64(5 * time.Minute))
			}
			c := <-conns
			// The stream ends in the connection's read loop: close it once
			// it is idle.
			for done := false; !done; {
				tr.CloseIdleConnections()
				select {
				case <-c.closed:
					done = true
				case <-time.After(10 * time.Millisecond):
				}
			}
			if len(conns) > 0 {
				t.Fatal("more than one connection")
			}
			return c.n.Load()
		}
		first := connection(1)   // full handshake
		resumed := connection(1) // TLS 1.3 session resumption
		ten := connection(10)    // resumed, then kept alive
		kept := (ten - resumed) / 9
		if len(rt.resumed) != 12 || rt.resumed[0] || !rt.resumed[1] || !rt.resumed[2] {
			t.Errorf("sessions resumed: %v, want all but the first", rt.resumed)
		}

		heartbeats += 12
		t.Logf("%s:", kx.name)
		t.Logf("  new connection, full TLS handshake: %d bytes on the wire, both ways (%d a day at one per 5 minutes)", first, first*perDay)
		t.Logf("  new connection, resumed TLS session: %d bytes (%d a day, %.1f MB a month)", resumed, resumed*perDay, float64(resumed*perDay*30)/1e6)
		t.Logf("  kept-alive connection: %d bytes (%d a day)", kept, kept*perDay)
		if resumed >= first || kept >= resumed {
			t.Errorf("costs out of order: full %d, resumed %d, kept alive %d", first, resumed, kept)
		}
	}
	if st, _ := r.DB.Status(context.Background(), "glacier-1"); st.Heartbeats != heartbeats {
		t.Errorf("%d heartbeats recorded, want %d", st.Heartbeats, heartbeats)
	}

}
