// Package release is lapsebox's signed releases: a manifest that says what
// an image is (board, hostnames, build, the sha256 of its root, boot and
// MBR and of every block of them) signed with an ed25519 key kept outside
// the repository, whose public half is baked into the images.
//
// A device verifies a release before it writes anything: the signature
// over the manifest's exact bytes with the key it trusts, then that the
// release is for its board and hostname, newer than what it runs and not
// asking for a newer base than it has. Every block it fetches is then
// checked against the manifest's hash of it, and each part as a whole
// against the part's hash (blocks.go).
package release

import (
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"regexp"
	"time"
)

// signingContext is prepended to the manifest's bytes before signing, so
// that a signature over a manifest can never be taken for one over
// anything else the key might sign.
const signingContext = "lapsebox release manifest v1\n"

// BlockSize is the largest block a part is cut into (chunk.go): what
// cloudd stores and serves at most.
const BlockSize = 64 << 10

// MaxSignedSize bounds a signed manifest read from the network: a 500 MiB
// root in 64 KiB blocks needs about 600 KiB of block hashes.
const MaxSignedSize = 4 << 20

// Errors a verification wraps, for errors.Is.
var (
	ErrSignature = errors.New("bad signature")
	ErrWrongKey  = errors.New("signed by a key this device does not trust")
	ErrBoard     = errors.New("release is for another board")
	ErrHostname  = errors.New("release is for other hostnames")
	ErrDowngrade = errors.New("release is not newer than the running build")
	ErrBase      = errors.New("release needs a newer running build")
	ErrMalformed = errors.New("malformed manifest")
	ErrBlockHash = errors.New("block does not match its hash in the manifest")
	ErrPartHash  = errors.New("part does not match its hash in the manifest")
)

// Manifest describes one release.
type Manifest struct {
	// Version labels the release for people ("2026.05.14-site7").
	Version string `json:"version"`
	// Build is the image's build timestamp, which gokrazy reports once
	// the device runs it; it orders releases: a device installs only a
	// Build later than the one it runs.
	Build time.Time `json:"build"`
	// Board is the image's board ("pc", "rpi", "virt").
	Board string `json:"board"`
	// Channel is the release channel it was published to ("stable").
	Channel string `json:"channel"`
	// Hostnames is a path.Match pattern of the hostnames it fits: the
	// partition UUIDs in its boot files derive from the hostname.
	Hostnames string `json:"hostnames"`
	// MinBuild, if set, is the oldest running build that may install the
	// release (one that changed what the device must already do).
	MinBuild time.Time `json:"minBuild,omitzero"`
	// BlockSize is the largest of Parts' blocks.
	BlockSize int `json:"blockSize"`
	// Root is the root file system (squashfs), Boot the boot file system
	// (FAT16), MBR the 446 bytes of BIOS boot code (nil on boards that
	// boot otherwise).
	Root Part  `json:"root"`
	Boot Part  `json:"boot"`
	MBR  *Part `json:"mbr,omitempty"`
}

// Part is one region a release writes, and its blocks.
type Part struct {
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	// Blocks are the hex sha256 of each content-defined block, in
	// order; Sizes their lengths (at most BlockSize, adding up to Size).
	Blocks []string `json:"blocks"`
	Sizes  []int    `json:"sizes"`
}

// Offset returns where block i starts.
func (p *Part) Offset(i int) int64 {
	var off int64
	for _, n := range p.Sizes[:i] {
		off += int64(n)
	}
	return off
}

// Signed is a manifest as published: its exact bytes, and the signature
// over them. Verifying the bytes before decoding them means no question
// of how JSON is re-encoded ever arises.
type Signed struct {
	Manifest  []byte `json:"manifest"`
	KeyID     string `json:"keyId"`
	Signature []byte `json:"signature"`
}

// Sign encodes m and signs it with key.
func Sign(m *Manifest, key ed25519.PrivateKey) ([]byte, error) {
	if err := m.check(); err != nil {
		return nil, err
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	s := Signed{
		Manifest:  b,
		KeyID:     KeyID(key.Public().(ed25519.PublicKey)),
		Signature: ed25519.Sign(key, append([]byte(signingContext), b...)),
	}
	return json.Marshal(s)
}

// Device is what a release is checked against: the device that would
// install it.
type Device struct {
	Board    string
	Hostname string
	// Build is the build timestamp of the running root.
	Build time.Time
}

// Open checks the signature of a signed manifest with the trusted key
// and decodes it, without looking at what it says. Use Verify for a
// release to install.
func Open(data []byte, trusted ed25519.PublicKey) (*Manifest, error) {
	s, err := decodeSigned(data)
	if err != nil {
		return nil, err
	}
	if want := KeyID(trusted); s.KeyID != want {
		return nil, fmt.Errorf("release: %w: signed by key %q, the device trusts %s", ErrWrongKey, trim(s.KeyID), want)
	}
	if !ed25519.Verify(trusted, append([]byte(signingContext), s.Manifest...), s.Signature) {
		return nil, fmt.Errorf("release: %w: the manifest was changed after signing, or signed by another key (key %s)", ErrSignature, s.KeyID)
	}
	return decodeManifest(s.Manifest)
}

// Inspect decodes a signed manifest and checks its fields fit together,
// without checking its signature: for cloudd, which stores and serves
// releases but is not what devices trust.
func Inspect(data []byte) (*Manifest, error) {
	s, err := decodeSigned(data)
	if err != nil {
		return nil, err
	}
	return decodeManifest(s.Manifest)
}

func decodeSigned(data []byte) (*Signed, error) {
	if len(data) > MaxSignedSize {
		return nil, fmt.Errorf("release: %w: %d bytes, at most %d", ErrMalformed, len(data), MaxSignedSize)
	}
	var s Signed
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("release: %w: %v", ErrMalformed, err)
	}
	return &s, nil
}

func decodeManifest(b []byte) (*Manifest, error) {
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("release: %w: %v", ErrMalformed, err)
	}
	if err := m.check(); err != nil {
		return nil, err
	}
	return &m, nil
}

// Verify opens a signed manifest (Open) and checks that dev may install
// it: its board and hostname, a Build later than dev's, and no MinBuild
// later than dev's.
func Verify(data []byte, trusted ed25519.PublicKey, dev Device) (*Manifest, error) {
	m, err := Open(data, trusted)
	if err != nil {
		return nil, err
	}
	if m.Board != dev.Board {
		return nil, fmt.Errorf("release: %s: %w: built for %q, this device is %q", m.Version, ErrBoard, m.Board, dev.Board)
	}
	if ok, _ := path.Match(m.Hostnames, dev.Hostname); !ok {
		return nil, fmt.Errorf("release: %s: %w: built for %q, this device is %q", m.Version, ErrHostname, m.Hostnames, dev.Hostname)
	}
	if !m.Build.After(dev.Build) {
		return nil, fmt.Errorf("release: %s: %w: release build %s, running %s", m.Version, ErrDowngrade,
			m.Build.Format(time.RFC3339), dev.Build.Format(time.RFC3339))
	}
	if !m.MinBuild.IsZero() && dev.Build.Before(m.MinBuild) {
		return nil, fmt.Errorf("release: %s: %w: it installs on builds from %s, this device runs %s", m.Version, ErrBase,
			m.MinBuild.Format(time.RFC3339), dev.Build.Format(time.RFC3339))
	}
	return m, nil
}

var (
	sha256Hex = regexp.MustCompile(`^[0-9a-f]{64}$`)
	// NamePattern is what a board or channel name looks like: it names
	// no file, but it shows in logs and URLs.
	NamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)
)

// IsHash reports whether s is a lower-case hex SHA-256, the only form a
// block is ever named by.
func IsHash(s string) bool { return sha256Hex.MatchString(s) }

// check reports a manifest whose fields do not fit together.
func (m *Manifest) check() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("release: %w: %s", ErrMalformed, fmt.Sprintf(format, args...))
	}
	switch {
	case m.Build.IsZero():
		return bad("no build timestamp")
	case !NamePattern.MatchString(m.Board):
		return bad("board %q", trim(m.Board))
	case !NamePattern.MatchString(m.Channel):
		return bad("channel %q", trim(m.Channel))
	case m.BlockSize != BlockSize:
		return bad("block size %d, want %d", m.BlockSize, BlockSize)
	case len(m.Version) > 64:
		return bad("version longer than 64 bytes")
	}
	if _, err := path.Match(m.Hostnames, ""); err != nil || m.Hostnames == "" {
		return bad("hostnames %q: not a pattern", trim(m.Hostnames))
	}
	parts := []struct {
		name string
		p    *Part
	}{{"root", &m.Root}, {"boot", &m.Boot}, {"mbr", m.MBR}}
	for _, p := range parts {
		if p.p == nil {
			continue
		}
		if err := p.p.check(m.BlockSize); err != nil {
			return bad("%s: %v", p.name, err)
		}
	}
	return nil
}

func (p *Part) check(blockSize int) error {
	if p.Size <= 0 {
		return fmt.Errorf("size %d", p.Size)
	}
	if !IsHash(p.SHA256) {
		return fmt.Errorf("sha256 %q is not 64 hex digits", trim(p.SHA256))
	}
	if len(p.Sizes) != len(p.Blocks) {
		return fmt.Errorf("%d block hashes, %d block sizes", len(p.Blocks), len(p.Sizes))
	}
	var sum int64
	for i, h := range p.Blocks {
		if !IsHash(h) {
			return fmt.Errorf("block %d: %q is not 64 hex digits", i, trim(h))
		}
		if n := p.Sizes[i]; n <= 0 || n > blockSize {
			return fmt.Errorf("block %d: size %d, want 1 to %d", i, n, blockSize)
		}
		sum += int64(p.Sizes[i])
	}
	if sum != p.Size {
		return fmt.Errorf("blocks add up to %d bytes, the part is %d", sum, p.Size)
	}
	return nil
}

// Hashes returns every block hash the manifest names, once each.
func (m *Manifest) Hashes() []string {
	seen := map[string]bool{}
	var out []string
	for _, p := range []*Part{&m.Root, &m.Boot, m.MBR} {
		if p == nil {
			continue
		}
		for _, h := range p.Blocks {
			if !seen[h] {
				seen[h] = true
				out = append(out, h)
			}
		}
	}
	return out
}

// trim shortens a string from outside for an error message.
func trim(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// hexSum is the lower-case hex of a digest.
func hexSum(b []byte) string { return hex.EncodeToString(b) }
