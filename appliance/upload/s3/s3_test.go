package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/lapsebox/lapsebox/appliance/upload"
	"github.com/lapsebox/lapsebox/appliance/upload/uploadtest"
)

func TestUpload(t *testing.T) {
	t.Parallel()
	for _, style := range []string{"path", "virtual-host"} {
		t.Run(style, func(t *testing.T) {
			t.Parallel()
			s := startStore(t, style == "virtual-host")
			tg := newTarget(t, s.url(), func(c *Config) {
				c.Prefix = "site-a/"
				c.MultipartThreshold, c.PartSize = 6<<20, 5<<20
				if style == "virtual-host" {
					c.PathStyle = false
					c.Endpoint = "http://" + strings.Replace(s.addr(), "127.0.0.1", "localhost", 1)
					// bucket.localhost is this machine, whatever the resolver says.
					tr := c.Client.HTTPClient.Transport.(*http.Transport)
					tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
						return (&net.Dialer{}).DialContext(ctx, network, s.addr())
					}
				}
			})
			want := map[string][]byte{}
			for i, size := range []int{0, 1, 1000, 3<<20 + 17, 12<<20 + 5} {
				name := fmt.Sprintf("2026/11/26/2026112612000%d.jpg", i)
				if i == 2 {
					name = "2026/11/26/with space+plus&amp=é.jpg" // escaping, signed
				}
				item, data := uploadtest.Photo(name, size, uint64(i))
				var r uploadtest.Resume
				if err := tg.Upload(context.Background(), item, r.Save); err != nil {
					t.Fatalf("%s (%d bytes): %v", name, size, err)
				}
				if r.State() != nil {
					t.Errorf("%s: resume state %s left", name, r.State())
				}
				want["site-a/"+name] = data
			}
			s.check(want)
			names, err := tg.List(context.Background(), "2026/11/26/2026")
			if err != nil {
				t.Fatal(err)
			}
			if len(names) != 4 || names[0] != "2026/11/26/20261126120000.jpg" {
				t.Errorf("List = %q, want the 4 names without the prefix", names)
			}
		})
	}
}

func TestListPages(t *testing.T) {
	t.Parallel()
	s := startStore(t, false)
	tg := newTarget(t, s.url(), func(c *Config) { c.ListPageSize = 3 })
	var wantNames []string
	for i := 0; i < 8; i++ {
		item, _ := uploadtest.Photo(fmt.Sprintf("2026/11/%02d/x.jpg", i+1), 10, uint64(i))
		var r uploadtest.Resume
		if err := tg.Upload(context.Background(), item, r.Save); err != nil {
			t.Fatal(err)
		}
		wantNames = append(wantNames, item.Name)
	}
	got, err := tg.List(context.Background(), "2026/")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != strings.Join(wantNames, ",") {
		t.Errorf("List = %q, want %q", got, wantNames)
	}
	if got, err := tg.List(context.Background(), "2027/"); err != nil || len(got) != 0 {
		t.Errorf("List(2027/) = %q, %v", got, err)
	}
}

// TestIdempotent uploads a photo twice, then a different photo under the
// same key: refused, then allowed to overwrite.
func TestIdempotent(t *testing.T) {
	t.Parallel()
	s := startStore(t, false)
	h := uploadtest.StartHTTPProxy(t, s.url())
	tg := newTarget(t, h.URL(), nil)
	item, data := uploadtest.Photo("2026/11/26/20261126120000.jpg", 200<<10, 1)
	for i := 0; i < 2; i++ {
		var r uploadtest.Resume
		if err := tg.Upload(context.Background(), item, r.Save); err != nil {
			t.Fatal(err)
		}
	}
	if n := h.Requests("PUT"); n != 1 {
		t.Errorf("%d PUTs, want 1", n)
	}
	other, otherData := uploadtest.Photo(item.Name, 200<<10, 2)
	var r uploadtest.Resume
	if err := tg.Upload(context.Background(), other, r.Save); !upload.IsPermanent(err) || !strings.Contains(err.Error(), "already under this key") {
		t.Errorf("a different photo: got %v, want a permanent error", err)
	}
	s.check(map[string][]byte{item.Name: data})
	over := newTarget(t, h.URL(), func(c *Config) { c.Overwrite = true })
	if err := over.Upload(context.Background(), other, r.Save); err != nil {
		t.Fatal(err)
	}
	s.check(map[string][]byte{item.Name: otherData})
}

// TestRefused checks the errors of a bad credential and a missing bucket.
func TestRefused(t *testing.T) {
	t.Parallel()
	s := startStore(t, false)
	item, _ := uploadtest.Photo("2026/11/26/20261126120000.jpg", 1000, 1)
	for _, tc := range []struct {
		name   string
		mod    func(*Config)
		status int
		msg    string
	}{
		// HEAD answers carry no body, so the first refusal may say only
		// its status; versitygw answers an unknown key with 404.
		{"bad secret", func(c *Config) { c.SecretKey = "guess" }, 403, "403 Forbidden"},
		{"unknown key", func(c *Config) { c.AccessKey = "stolen" }, 404, "No user exists with the provided access key"},
		{"no bucket", func(c *Config) { c.Bucket = "missing" }, 404, "NoSuchBucket"},
	} {
		tg := newTarget(t, s.url(), tc.mod)
		var r uploadtest.Resume
		err := tg.Upload(context.Background(), item, r.Save)
		var p *upload.PermanentError
		if !errors.As(err, &p) || p.StatusCode != tc.status || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: got %v, want a permanent %d saying %q", tc.name, err, tc.status, tc.msg)
		}
		if strings.Contains(fmt.Sprint(err), "s3cret") {
			t.Errorf("%s: the error shows the secret: %v", tc.name, err)
		}
	}
	s.check(nil)
}

// metered is an item's reader as the uploader gives it: Read passes
// through the uplink's share, counted here; Unmetered does not.
type metered struct {
	*bytes.Reader
	read int64
}

func (m *metered) Read(p []byte) (int, error) {
	n, err := m.Reader.Read(p)
	m.read += int64(n)
	return n, err
}

func (m *metered) Close() error             { return nil }
func (m *metered) Unmetered() io.ReadSeeker { return m.Reader }

var _ upload.Unmetered = (*metered)(nil)

// TestPartsHashedPastTheMeter checks that a multipart upload's checksums
// are read past the uplink's share: through it, hashing a part took the
// link's time once more than sending it.
func TestPartsHashedPastTheMeter(t *testing.T) {
	t.Parallel()
	s := startStore(t, false)
	tg := newTarget(t, s.url(), func(c *Config) { c.MultipartThreshold, c.PartSize = 6<<20, 5<<20 })
	item, data := uploadtest.Photo("2026/11/26/20261126120000.cr2", 12<<20+5, 7)
	var opened []*metered
	item.Open = func() (io.ReadSeekCloser, error) {
		m := &metered{Reader: bytes.NewReader(data)}
		opened = append(opened, m)
		return m, nil
	}
	var r uploadtest.Resume
	if err := tg.Upload(context.Background(), item, r.Save); err != nil {
		t.Fatal(err)
	}
	var read int64
	for _, m := range opened {
		read += m.read
	}
	if read != int64(len(data)) {
		t.Errorf("%d bytes read through the meter for a %d-byte object in 3 parts, want each byte once", read, len(data))
	}
	s.check(map[string][]byte{item.Name: data})
}
