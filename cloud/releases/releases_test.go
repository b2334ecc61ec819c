package releases_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/appliance/heartbeat"
	"github.com/lapsebox/lapsebox/cloud/ingest"
	"github.com/lapsebox/lapsebox/cloud/releases"
	"github.com/lapsebox/lapsebox/cloud/server"
	"github.com/lapsebox/lapsebox/cloud/server/servertest"
	"github.com/lapsebox/lapsebox/image/release"
)

var build1 = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

type fixture struct {
	cloud *servertest.Cloud
	priv  ed25519.PrivateKey
	pub   ed25519.PublicKey
}

func start(t *testing.T) *fixture {
	t.Helper()
	c := servertest.Start(t, server.Config{}, server.Options{})
	c.AddDevice(t, "site7", "token-site7")
	c.AddDevice(t, "site8", "token-site8")
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	return &fixture{cloud: c, priv: priv, pub: pub}
}

func (f *fixture) publisher() *release.Client {
	return &release.Client{BaseURL: f.cloud.URL, Auth: func(r *http.Request) { r.SetBasicAuth("admin", f.cloud.Password) }}
}

func (f *fixture) device(name, token string) *release.Client {
	return &release.Client{BaseURL: f.cloud.URL, Auth: func(r *http.Request) {
		r.Header.Set(ingest.DeviceHeader, name)
		r.Header.Set("Authorization", "Bearer "+token)
	}}
}

// makeRelease returns a release of random parts, signed.
func (f *fixture) makeRelease(t *testing.T, build time.Time, root []byte) ([]byte, *release.Manifest, map[*release.Part]io.ReaderAt) {
	t.Helper()
	return f.makeReleaseWith(t, build, root, random(release.BlockSize+10))
}

// makeReleaseWith is makeRelease with the boot file system boot.
func (f *fixture) makeReleaseWith(t *testing.T, build time.Time, root, boot []byte) ([]byte, *release.Manifest, map[*release.Part]io.ReaderAt) {
	t.Helper()
	m := &release.Manifest{Version: build.Format("2006.01.02"), Build: build, Board: "pc", Channel: "stable",
		Hostnames: "lapsebox", BlockSize: release.BlockSize}
	var err error
	if m.Root, err = release.NewPart(bytes.NewReader(root), int64(len(root))); err != nil {
		t.Fatal(err)
	}
	m.Boot, _ = release.NewPart(bytes.NewReader(boot), int64(len(boot)))
	signed, err := release.Sign(m, f.priv)
	if err != nil {
		t.Fatal(err)
	}
	return signed, m, map[*release.Part]io.ReaderAt{&m.Root: bytes.NewReader(root), &m.Boot: bytes.NewReader(boot)}
}

func random(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func TestPublishAndPull(t *testing.T) {
	f := start(t)
	ctx := context.Background()
	dev := f.device("site7", "token-site7")
	if _, err := dev.Latest(ctx, "pc", "stable"); !errors.Is(err, release.ErrNoRelease) {
		t.Fatalf("Latest before any release: %v, want ErrNoRelease", err)
	}
	root1 := random(4*release.BlockSize + 5)
	signed1, m1, parts1 := f.makeRelease(t, build1, root1)
	done, err := f.publisher().Publish(ctx, signed1, m1, parts1)
	if err != nil {
		t.Fatal(err)
	}
	if want := m1.Root.Size + m1.Boot.Size; done.Sent != want || len(done.Transfers) != 0 {
		t.Errorf("first publication sent %d bytes, want %d; transfers %+v, want none", done.Sent, want, done.Transfers)
	}

	// v2 shares 3 of v1's 5 root blocks' bytes: only the others travel.
	root2 := bytes.Join([][]byte{root1[:3*release.BlockSize], random(release.BlockSize + 100)}, nil)
	signed2, m2, parts2 := f.makeRelease(t, build1.Add(time.Hour), root2)
	done, err = f.publisher().Publish(ctx, signed2, m2, parts2)
	if err != nil {
		t.Fatal(err)
	}
	sent := done.Sent
	idx1, _ := release.NewIndex(release.Source{R: bytes.NewReader(root1), Size: int64(len(root1))})
	need := idx1.Need(m2.Root)
	if need > release.BlockSize+100+2*release.MaxChunk {
		t.Errorf("v2 needs %d bytes of v1's blocks; only the new %d bytes and the block cut across the seam should", need, release.BlockSize+100)
	}
	if want := need + m2.Boot.Size; sent != want {
		t.Errorf("second publication sent %d bytes, want %d (only the new blocks)", sent, want)
	}
	// What it costs a device on v1: the patch of its root, smaller than
	// the root's new blocks (the block across the seam is mostly v1's),
	// and the new boot file system's blocks.
	if tr := done.Transfers; len(tr) != 1 || tr[0].Version != m1.Version || !tr[0].Build.Equal(build1) ||
		tr[0].Patch <= 0 || tr[0].Patch >= need || tr[0].Bytes != tr[0].Patch+m2.Boot.Size {
		t.Errorf("transfers %+v, want one from %s: a patch under the %d bytes of root blocks, plus the %d of boot", tr, m1.Version, need, m2.Boot.Size)
	}

	got, err := dev.Latest(ctx, "pc", "stable")
	if err != nil {
		t.Fatal(err)
	}
	m, err := release.Verify(got, f.pub, release.Device{Board: "pc", Hostname: "lapsebox", Build: build1})
	if err != nil {
		t.Fatal(err)
	}
	if m.Root.SHA256 != m2.Root.SHA256 {
		t.Fatal("Latest is not the last publication")
	}
	// The device assembles v2 from its v1 root and the server.
	src := []release.Source{{R: bytes.NewReader(root1), Size: int64(len(root1))}}
	idx, _ := release.NewIndex(src...)
	staging, err := os.Create(filepath.Join(t.TempDir(), "root"))
	if err != nil {
		t.Fatal(err)
	}
	defer staging.Close()
	st, err := release.Assemble(ctx, m.Root, staging, src, idx, dev)
	if err != nil {
		t.Fatal(err)
	}
	if st.Fetched != need || st.Local != m.Root.Size-need {
		t.Errorf("assembly %+v: want %d bytes fetched, the rest local", st, need)
	}

	// A restarted cloudd serves the same.
	s2, err := releases.Open(filepath.Join(f.cloud.Config.Root, ".releases"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if b, _, ok := s2.Latest("pc", "stable"); !ok || !bytes.Equal(b, got) {
		t.Error("the reopened store lost the latest release")
	}
}

func TestAttacks(t *testing.T) {
	f := start(t)
	ctx := context.Background()
	root := random(2 * release.BlockSize)
	signed, m, parts := f.makeRelease(t, build1, root)
	if _, err := f.publisher().Publish(ctx, signed, m, parts); err != nil {
		t.Fatal(err)
	}
	// A block stored but in no published release.
	orphan := random(100)
	sum := sha256.Sum256(orphan)
	orphanHash := hex.EncodeToString(sum[:])
	if _, _, err := doReq(f, "PUT", release.PublishBlockPath+orphanHash, orphan, adminAuth(f)); err != nil {
		t.Fatal(err)
	}
	site7 := deviceAuth("site7", "token-site7")
	good := m.Root.Blocks[0]
	tests := []struct {
		name   string
		method string
		path   string
		body   []byte
		auth   func(*http.Request)
		status int
		avoid  string // must not appear in the answer
	}{
		{"block, device", "GET", release.BlockPath + good, nil, site7, 200, ""},
		{"block, no credential", "GET", release.BlockPath + good, nil, nil, 401, ""},
		{"block, other device's token", "GET", release.BlockPath + good, nil, deviceAuth("site7", "token-site8"), 401, ""},
		{"block, unknown device", "GET", release.BlockPath + good, nil, deviceAuth("nobody", "token-site7"), 401, ""},
		{"block, operator instead of device", "GET", release.BlockPath + good, nil, adminAuth(f), 401, ""},
		{"block, traversal", "GET", release.BlockPath + "..%2f..%2f.state%2ffleet.db", nil, site7, 404, "fleet"},
		{"block, dot-dot", "GET", release.BlockPath + "../index.json", nil, site7, 0, "stable"},
		{"block, upper case", "GET", release.BlockPath + strings.ToUpper(good), nil, site7, 404, ""},
		{"block, stored but unpublished", "GET", release.BlockPath + orphanHash, nil, site7, 404, ""},
		{"latest, unknown channel", "GET", release.LatestPath + "pc/beta", nil, site7, 404, ""},
		{"latest, traversal in channel", "GET", release.LatestPath + "pc/..%2findex.json", nil, site7, 404, ""},
		{"latest, other device's token", "GET", release.LatestPath + "pc/stable", nil, deviceAuth("site8", "token-site7"), 401, ""},
		{"publish, device token", "PUT", release.PublishPath + "pc/stable", signed, site7, 401, ""},
		{"publish, wrong password", "PUT", release.PublishPath + "pc/stable", signed, func(r *http.Request) { r.SetBasicAuth("admin", "guess") }, 401, ""},
		{"publish, same build again", "PUT", release.PublishPath + "pc/stable", signed, adminAuth(f), 409, ""},
		{"publish, other channel than the manifest's", "PUT", release.PublishPath + "pc/beta", signed, adminAuth(f), 409, ""},
		{"publish, not a manifest", "PUT", release.PublishPath + "pc/stable", []byte("{}"), adminAuth(f), 400, ""},
		{"publish, too large", "PUT", release.PublishPath + "pc/stable", make([]byte, release.MaxSignedSize+1), adminAuth(f), 413, ""},
		{"put block, wrong content", "PUT", release.PublishBlockPath + good, []byte("other bytes"), adminAuth(f), 400, ""},
		{"put block, too large", "PUT", release.PublishBlockPath + good, make([]byte, release.BlockSize+1), adminAuth(f), 413, ""},
		{"put block, not a hash", "PUT", release.PublishBlockPath + "x.json", []byte("x"), adminAuth(f), 400, ""},
		{"put block, device token", "PUT", release.PublishBlockPath + orphanHash, orphan, site7, 401, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body, err := doReq(f, tt.method, tt.path, tt.body, tt.auth)
			if err != nil && tt.status != 0 {
				t.Fatal(err)
			}
			if tt.status != 0 && status != tt.status {
				t.Errorf("%s %s: HTTP %d (%q), want %d", tt.method, tt.path, status, trimBody(body), tt.status)
			}
			if tt.status == 0 && status == 200 {
				t.Errorf("%s %s: HTTP 200 %q", tt.method, tt.path, trimBody(body))
			}
			if tt.avoid != "" && strings.Contains(string(body), tt.avoid) {
				t.Errorf("answer %q shows %q", trimBody(body), tt.avoid)
			}
		})
	}

	// A newer manifest whose blocks were not stored is refused.
	signed2, _, _ := f.makeRelease(t, build1.Add(time.Hour), random(100))
	if status, body, _ := doReq(f, "PUT", release.PublishPath+"pc/stable", signed2, adminAuth(f)); status != 409 || !strings.Contains(string(body), "not stored") {
		t.Errorf("publishing without the blocks: HTTP %d %q, want 409 naming the missing blocks", status, body)
	}

	// A block damaged on the server's disk is not served, and the
	// answer names no path.
	blockFile := filepath.Join(f.cloud.Config.Root, ".releases", "blocks", good)
	data, _ := os.ReadFile(blockFile)
	data[0] ^= 1
	os.WriteFile(blockFile, data, 0o644)
	status, body, _ := doReq(f, "GET", release.BlockPath+good, nil, site7)
	if status != 500 || strings.Contains(string(body), f.cloud.Config.Root) {
		t.Errorf("damaged block: HTTP %d %q, want 500 without a path", status, body)
	}
}

func adminAuth(f *fixture) func(*http.Request) {
	return func(r *http.Request) { r.SetBasicAuth("admin", f.cloud.Password) }
}

func deviceAuth(name, token string) func(*http.Request) {
	return func(r *http.Request) {
		r.Header.Set(ingest.DeviceHeader, name)
		r.Header.Set("Authorization", "Bearer "+token)
	}
}

func doReq(f *fixture, method, path string, body []byte, auth func(*http.Request)) (int, []byte, error) {
	req, err := http.NewRequest(method, f.cloud.URL+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	if auth != nil {
		auth(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

func trimBody(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "…"
	}
	return string(b)
}

// beat sends a heartbeat from device whose updated runs build.
func (f *fixture) beat(t *testing.T, device, token string, build time.Time) {
	t.Helper()
	body, err := heartbeat.Encode(&heartbeat.Heartbeat{V: heartbeat.Version, Time: time.Now(), Update: &heartbeat.Update{Build: build, Version: "as flashed"}})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, f.cloud.URL+heartbeat.Path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Content-Encoding", "gzip")
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set(ingest.DeviceHeader, device)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("heartbeat of %s: %s", device, resp.Status)
	}
}

// A publication tells what the release costs each device, by the build
// its heartbeats report, in bytes as they travel: a device on an earlier
// release fetches a patch or the blocks that release lacks, one on a
// build never published at most every block of the root, each gzipped
// on the way.
func TestPublicationTransfers(t *testing.T) {
	f := start(t)
	ctx := context.Background()
	root1 := random(6 * release.BlockSize)
	signed1, m1, parts1 := f.makeRelease(t, build1, root1)
	if _, err := f.publisher().Publish(ctx, signed1, m1, parts1); err != nil {
		t.Fatal(err)
	}
	flashed := build1.Add(-24 * time.Hour)
	f.beat(t, "site7", "token-site7", build1)
	f.beat(t, "site8", "token-site8", flashed)

	// New blocks that compress, as a binary's do, and ones that do not.
	var text []byte
	for i := 0; len(text) < release.BlockSize; i++ {
		text = fmt.Appendf(text, "line %d of a root file system that compresses\n", i*i)
	}
	root2 := bytes.Join([][]byte{root1[:4*release.BlockSize], text, random(release.BlockSize)}, nil)
	signed2, m2, parts2 := f.makeRelease(t, build1.Add(time.Hour), root2)
	// Every block of the root once, each as it travels.
	var whole int64
	seen := map[string]bool{}
	for i, off := 0, 0; i < len(m2.Root.Blocks); i++ {
		n := m2.Root.Sizes[i]
		if !seen[m2.Root.Blocks[i]] {
			seen[m2.Root.Blocks[i]] = true
			if z := release.GzipBlock(root2[off : off+n]); z != nil {
				n = len(z)
			}
			whole += int64(n)
		}
		off += m2.Root.Sizes[i]
	}
	if whole >= m2.Root.Size-release.BlockSize/2 {
		t.Fatalf("the root's blocks take %d of its %d bytes gzipped: the test's text does not compress", whole, m2.Root.Size)
	}
	done, err := f.publisher().Publish(ctx, signed2, m2, parts2)
	if err != nil {
		t.Fatal(err)
	}
	tr := done.Transfers
	if len(tr) != 2 {
		t.Fatalf("transfers %+v, want the flashed build and v1", tr)
	}
	if !tr[0].Build.Equal(flashed) || tr[0].Version != "" || tr[0].Bytes != whole || !slices.Equal(tr[0].Devices, []string{"site8"}) {
		t.Errorf("from the flashed build: %+v, want every block of the root, %d bytes gzipped, for site8", tr[0], whole)
	}
	rootNeed := done.Sent - m2.Boot.Size
	if tr[1].Version != m1.Version || tr[1].Patch <= 0 || tr[1].Patch >= rootNeed || tr[1].Bytes != tr[1].Patch+m2.Boot.Size ||
		!slices.Equal(tr[1].Devices, []string{"site7"}) {
		t.Errorf("from v1: %+v, want a patch under the %d bytes of new root blocks plus the %d of boot, for site7", tr[1], rootNeed, m2.Boot.Size)
	}
}
