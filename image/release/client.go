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

func (c *Client) do(ctx context.Context, method, path string, body []byte, max int64) ([]byte, int, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(c.BaseURL, "/")+path, rd)
	if err != nil {
		return nil, 0, err
	}
	if c.Auth != nil {
		c.Auth(req)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
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

// Transfer is what a release costs a device that runs an earlier build:
// the bytes of the release's blocks that the earlier build's root (and
// boot file system) lacks. A device finds more of them than this in what
// it has (its partitions, at any offset), so Bytes bounds its download
// from above.
type Transfer struct {
	// Version and Build name the earlier release; Version is empty for
	// a build no stored release has (a device as flashed), which
	// fetches at most the whole root.
	Version string    `json:"version,omitempty"`
	Build   time.Time `json:"build"`
	Bytes   int64     `json:"bytes"`
	// Devices run that build, as their last heartbeats say.
	Devices []string `json:"devices,omitempty"`
}
