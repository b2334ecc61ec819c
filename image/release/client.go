package release

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Paths of cloudd's release API. The device's requests carry its
// credential (Lapsebox-Device and a bearer token, as its uploads do); the
// publisher's an operator's (HTTP Basic).
const (
	// LatestPath + board/channel: the channel's latest signed manifest.
	LatestPath = "/v1/releases/"
	// BlockPath + hash: one block of a published release.
	BlockPath = "/v1/blocks/"
	// PatchPath + from + "/" + to: a patch (image/delta) that turns the
	// part whose sha256 is from into the part whose sha256 is to, both
	// roots or both boot file systems of releases the server
	// published; ranges may be asked for.
	PatchPath = "/v1/patches/"
	// PublishPath + board/channel: PUT a signed manifest whose blocks
	// were all stored.
	PublishPath = "/v1/admin/releases/"
	// PublishBlockPath + hash: HEAD (stored?) and PUT one block.
	PublishBlockPath = "/v1/admin/blocks/"
)

// ErrNoRelease is returned by Client.Latest when the channel has none.
var ErrNoRelease = errors.New("no release on this channel")

// Client talks to cloudd's release API.
type Client struct {
	// BaseURL is cloudd's public address ("https://cloud.example.com").
	BaseURL string
	// HTTP is the client (nil: http.DefaultClient); give it timeouts.
	HTTP *http.Client
	// Auth sets the request's credential.
	Auth func(*http.Request)
}

// send makes a request to cloudd with the client's credential; header,
// if set, adds to it.
func (c *Client) send(ctx context.Context, method, path string, body []byte, header http.Header) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(c.BaseURL, "/")+path, rd)
	if err != nil {
		return nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if c.Auth != nil {
		c.Auth(req)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	return hc.Do(req)
}

func (c *Client) do(ctx context.Context, method, path string, body []byte, max int64) ([]byte, int, error) {
	resp, err := c.send(ctx, method, path, body, nil)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		return nil, resp.StatusCode, fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	if int64(len(b)) > max {
		return nil, resp.StatusCode, fmt.Errorf("%s %s: answer longer than %d bytes", method, path, max)
	}
	if resp.StatusCode/100 != 2 {
		msg := strings.TrimSpace(string(b))
		if len(msg) > 200 {
			msg = msg[:200] + "…"
		}
		return b, resp.StatusCode, fmt.Errorf("%s %s: HTTP %d: %s", method, path, resp.StatusCode, msg)
	}
	return b, resp.StatusCode, nil
}

// Latest returns the signed manifest of the channel's latest release for
// board, unverified: Verify it.
func (c *Client) Latest(ctx context.Context, board, channel string) ([]byte, error) {
	b, status, err := c.do(ctx, http.MethodGet, LatestPath+board+"/"+channel, nil, MaxSignedSize)
	if status == http.StatusNotFound {
		return nil, fmt.Errorf("release: %s/%s: %w", board, channel, ErrNoRelease)
	}
	if err != nil {
		return nil, fmt.Errorf("release: %w", err)
	}
	return b, nil
}

// Block fetches one block by its hash; the caller checks it (Assemble
// does).
func (c *Client) Block(ctx context.Context, hash string) ([]byte, error) {
	if !IsHash(hash) {
		return nil, fmt.Errorf("release: block %q: not a sha256", trim(hash))
	}
	b, _, err := c.do(ctx, http.MethodGet, BlockPath+hash, nil, BlockSize)
	return b, err
}

// ErrNoPatch is returned by Client.Patch when the server has no patch
// from the device's part (not one of a release it published) or none
// smaller than the blocks.
var ErrNoPatch = errors.New("no patch for this part")

// MaxPatchRange bounds the bytes one Patch request asks for: a short
// request on a slow link ends well inside the server's timeouts, and a
// dropped link costs at most this much again.
const MaxPatchRange = 1 << 20

// Patch fetches bytes [off, off+n) of the patch from the part from to
// the part to, roots or boot file systems (n ≤ MaxPatchRange; fewer at the patch's end) and the
// patch's total size. The caller checks what it assembles (delta's
// Apply checks the output's sha256).
func (c *Client) Patch(ctx context.Context, from, to string, off, n int64) ([]byte, int64, error) {
	if !IsHash(from) || !IsHash(to) {
		return nil, 0, fmt.Errorf("release: patch %q to %q: not sha256s", trim(from), trim(to))
	}
	if off < 0 || n <= 0 || n > MaxPatchRange {
		return nil, 0, fmt.Errorf("release: patch range of %d bytes at %d: want 1 to %d bytes", n, off, MaxPatchRange)
	}
	resp, err := c.send(ctx, http.MethodGet, PatchPath+from+"/"+to, nil,
		http.Header{"Range": {fmt.Sprintf("bytes=%d-%d", off, off+n-1)}})
	if err != nil {
		return nil, 0, fmt.Errorf("release: patch: %w", err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusPartialContent:
	case http.StatusNotFound:
		return nil, 0, fmt.Errorf("release: %w", ErrNoPatch)
	default:
		return nil, 0, fmt.Errorf("release: GET %s: HTTP %d", PatchPath, resp.StatusCode)
	}
	var first, last, total int64
	cr := resp.Header.Get("Content-Range")
	if _, err := fmt.Sscanf(cr, "bytes %d-%d/%d", &first, &last, &total); err != nil ||
		first != off || last < first || last >= off+n || last >= total {
		return nil, 0, fmt.Errorf("release: patch: Content-Range %q does not answer bytes %d-%d", trim(cr), off, off+n-1)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, last-first+2))
	if err != nil {
		return nil, 0, fmt.Errorf("release: patch: reading bytes %d-%d: %w", first, last, err)
	}
	if int64(len(b)) != last-first+1 {
		return nil, 0, fmt.Errorf("release: patch: %d bytes for bytes %d-%d", len(b), first, last)
	}
	return b, total, nil
}

// Publish stores the blocks of the parts that cloudd lacks and then the
// signed manifest as the channel's latest. parts are the release's
// regions, in the manifest's order (root, boot, MBR). It returns the
// bytes of blocks sent and what the server says the release costs its
// devices.
func (c *Client) Publish(ctx context.Context, signed []byte, m *Manifest, parts map[*Part]io.ReaderAt) (Published, error) {
	var sent int64
	done := map[string]bool{}
	buf := make([]byte, BlockSize)
	for p, r := range parts {
		off := int64(0)
		for i, h := range p.Blocks {
			blockOff := off
			off += int64(p.Sizes[i])
			if done[h] {
				continue
			}
			done[h] = true
			_, status, err := c.do(ctx, http.MethodHead, PublishBlockPath+h, nil, 0)
			if status == http.StatusOK {
				continue
			}
			if status != http.StatusNotFound {
				return Published{Sent: sent}, fmt.Errorf("release: %w", err)
			}
			b := buf[:p.Sizes[i]]
			if _, err := r.ReadAt(b, blockOff); err != nil {
				return Published{Sent: sent}, fmt.Errorf("release: reading block %d: %w", i, err)
			}
			if Hash(b) != h {
				return Published{Sent: sent}, fmt.Errorf("release: block %d: %w: the image changed since the manifest was made", i, ErrBlockHash)
			}
			if _, _, err := c.do(ctx, http.MethodPut, PublishBlockPath+h, b, 4096); err != nil {
				return Published{Sent: sent}, fmt.Errorf("release: %w", err)
			}
			sent += int64(len(b))
		}
	}
	answer, _, err := c.do(ctx, http.MethodPut, PublishPath+m.Board+"/"+m.Channel, signed, maxPublished)
	if err != nil {
		return Published{Sent: sent}, fmt.Errorf("release: %w", err)
	}
	pub := Published{Sent: sent}
	if len(answer) > 0 {
		if err := json.Unmarshal(answer, &pub); err != nil {
			return pub, fmt.Errorf("release: published, but the server's answer is not understood: %w", err)
		}
		pub.Sent = sent
	}
	return pub, nil
}

// maxPublished bounds the answer to a publication.
const maxPublished = 1 << 20

// Published is what a publication did: the bytes of blocks sent, and
// (the server's answer) what the release costs devices on earlier
// builds, oldest first.
type Published struct {
	Sent      int64      `json:"-"`
	Transfers []Transfer `json:"transfers"`
}

// Transfer is what a release costs a device that runs an earlier build,
// in bytes as they travel: the patch from the earlier root to the
// release's (when the server made one), or else the release's root
// blocks that the earlier build's root and boot file system lack, each
// gzipped as the server sends it (GzipBlock); plus, when the boot file
// system changed, the patch of the boot file system or the boot blocks
// they lack. A device finds more blocks than this in what it has (its
// partitions, at any offset), so Bytes bounds its download from above.
type Transfer struct {
	// Version and Build name the earlier release; Version is empty for
	// a build no stored release has (a device as flashed), which
	// fetches at most every block of the root.
	Version string    `json:"version,omitempty"`
	Build   time.Time `json:"build"`
	Bytes   int64     `json:"bytes"`
	// Patch is the size of the patches (the root's, the boot file
	// system's), 0 if there is none.
	Patch int64 `json:"patch,omitempty"`
	// Devices run that build, as their last heartbeats say.
	Devices []string `json:"devices,omitempty"`
}
