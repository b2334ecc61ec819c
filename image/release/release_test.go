package release

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var (
	t1 = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	t2 = t1.Add(24 * time.Hour)
)

func newKey(t *testing.T) (ed25519.PublicKey, ed25519.PrivateKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return pub, priv
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func testManifest(t *testing.T, root []byte) *Manifest {
	t.Helper()
	rp, err := NewPart(bytes.NewReader(root), int64(len(root)))
	if err != nil {
		t.Fatal(err)
	}
	boot := randomBytes(t, 3*BlockSize+17)
	bp, _ := NewPart(bytes.NewReader(boot), int64(len(boot)))
	mbr := randomBytes(t, 446)
	mp, _ := NewPart(bytes.NewReader(mbr), int64(len(mbr)))
	return &Manifest{Version: "v2", Build: t2, Board: "pc", Channel: "stable", Hostnames: "lapsebox*",
		BlockSize: BlockSize, Root: rp, Boot: bp, MBR: &mp}
}

// resign re-encodes a signed manifest after change edits its decoded
// envelope, keeping the original signature.
func resign(t *testing.T, signed []byte, change func(s *Signed)) []byte {
	t.Helper()
	var s Signed
	if err := json.Unmarshal(signed, &s); err != nil {
		t.Fatal(err)
	}
	change(&s)
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestVerify(t *testing.T) {
	pub, priv := newKey(t)
	otherPub, otherPriv := newKey(t)
	m := testManifest(t, randomBytes(t, 5*BlockSize+100))
	good, err := Sign(m, priv)
	if err != nil {
		t.Fatal(err)
	}
	dev := Device{Board: "pc", Hostname: "lapsebox-site7", Build: t1}
	signWith := func(key ed25519.PrivateKey, change func(m *Manifest)) []byte {
		c := *m
		change(&c)
		b, err := Sign(&c, key)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name    string
		data    []byte
		trusted ed25519.PublicKey
		dev     Device
		want    error
		msg     string // in the error
	}{
		{name: "good", data: good, trusted: pub, dev: dev},
		{name: "tampered manifest", data: resign(t, good, func(s *Signed) {
			s.Manifest = bytes.Replace(s.Manifest, []byte(`"board":"pc"`), []byte(`"board":"rpi"`), 1)
		}), trusted: pub, dev: dev, want: ErrSignature, msg: "changed after signing"},
		{name: "tampered block hash", data: resign(t, good, func(s *Signed) {
			s.Manifest = bytes.Replace(s.Manifest, []byte(m.Root.Blocks[2]), []byte(strings.Repeat("0", 64)), 1)
		}), trusted: pub, dev: dev, want: ErrSignature},
		{name: "bad signature", data: resign(t, good, func(s *Signed) { s.Signature[0] ^= 1 }),
			trusted: pub, dev: dev, want: ErrSignature},
		{name: "key id swapped to the trusted one", data: resign(t, signWith(otherPriv, func(*Manifest) {}), func(s *Signed) { s.KeyID = KeyID(pub) }),
			trusted: pub, dev: dev, want: ErrSignature},
		{name: "wrong key", data: signWith(otherPriv, func(*Manifest) {}), trusted: pub, dev: dev,
			want: ErrWrongKey, msg: KeyID(otherPub)},
		{name: "wrong board", data: signWith(priv, func(m *Manifest) { m.Board = "rpi" }), trusted: pub, dev: dev,
			want: ErrBoard, msg: `built for "rpi", this device is "pc"`},
		{name: "wrong hostname", data: signWith(priv, func(m *Manifest) { m.Hostnames = "glacier-*" }), trusted: pub, dev: dev,
			want: ErrHostname},
		{name: "same version", data: good, trusted: pub, dev: Device{Board: "pc", Hostname: "lapsebox", Build: t2},
			want: ErrDowngrade, msg: "release build 2026-05-02T12:00:00Z, running 2026-05-02T12:00:00Z"},
		{name: "older version", data: signWith(priv, func(m *Manifest) { m.Build = t1.Add(-time.Hour) }), trusted: pub, dev: dev,
			want: ErrDowngrade},
		{name: "needs newer base", data: signWith(priv, func(m *Manifest) { m.MinBuild = t1.Add(time.Hour) }), trusted: pub, dev: dev,
			want: ErrBase},
		{name: "not JSON", data: []byte("{"), trusted: pub, dev: dev, want: ErrMalformed},
		{name: "too large", data: make([]byte, MaxSignedSize+1), trusted: pub, dev: dev, want: ErrMalformed},
		{name: "signed but inconsistent", data: func() []byte {
			c := *m
			c.Root.Blocks = c.Root.Blocks[1:]
			b, _ := json.Marshal(c)
			return mustJSON(t, Signed{Manifest: b, KeyID: KeyID(pub), Signature: ed25519.Sign(priv, append([]byte(signingContext), b...))})
		}(), trusted: pub, dev: dev, want: ErrMalformed, msg: "block sizes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Verify(tt.data, tt.trusted, tt.dev)
			if tt.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				if got.Root.SHA256 != m.Root.SHA256 || got.Version != "v2" || !got.Build.Equal(t2) {
					t.Errorf("verified manifest %+v, want %+v", got, m)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify: %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("Verify: %q does not say %q", err, tt.msg)
			}
		})
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// blockServer is a Fetcher over a map, counting what it serves; bad
// serves a wrong block for one hash.
type blockServer struct {
	blocks map[string][]byte
	bad    string
	served int
}

func (s *blockServer) Block(_ context.Context, h string) ([]byte, error) {
	if h == s.bad {
		return []byte("not the block"), nil
	}
	b, ok := s.blocks[h]
	if !ok {
		return nil, fmt.Errorf("no block %s", h)
	}
	s.served += len(b)
	return b, nil
}

func serverFor(data []byte) *blockServer {
	s := &blockServer{blocks: map[string][]byte{}}
	p, _ := NewPart(bytes.NewReader(data), int64(len(data)))
	for i, h := range p.Blocks {
		off := p.Offset(i)
		s.blocks[h] = data[off : off+int64(p.Sizes[i])]
	}
	return s
}

func TestAssemble(t *testing.T) {
	old := randomBytes(t, 10*BlockSize)
	// The new root keeps blocks 0-3 and 6-9 of the old one, at other
	// offsets, and has two new blocks and a short tail.
	newRoot := slicesConcat(old[6*BlockSize:], randomBytes(t, 2*BlockSize), old[:4*BlockSize], randomBytes(t, 1000))
	p, err := NewPart(bytes.NewReader(newRoot), int64(len(newRoot)))
	if err != nil {
		t.Fatal(err)
	}
	sources := []Source{{R: bytes.NewReader(old), Size: int64(len(old))}}
	idx, err := NewIndex(sources...)
	if err != nil {
		t.Fatal(err)
	}
	srv := serverFor(newRoot)
	staging, err := os.Create(filepath.Join(t.TempDir(), "root.staging"))
	if err != nil {
		t.Fatal(err)
	}
	defer staging.Close()

	// What must travel: the blocks the old root does not have. The moved
	// old data is found again; only the new bytes and the blocks cut
	// across each of the three seams travel.
	var missing []int
	var local, fetch int64
	for i, h := range p.Blocks {
		if _, ok := idx[h]; ok {
			local += int64(p.Sizes[i])
		} else {
			missing = append(missing, i)
			fetch += int64(p.Sizes[i])
		}
	}
	if fetch > 2*BlockSize+1000+3*2*MaxChunk || local < 8*BlockSize-3*2*MaxChunk {
		t.Errorf("%d bytes to fetch, %d local: content-defined blocks should find the moved 8 blocks", fetch, local)
	}

	// A first attempt that stops at the second fetched block: the
	// server then sends a wrong block.
	srv.bad = p.Blocks[missing[1]]
	st, err := Assemble(context.Background(), p, staging, sources, idx, srv)
	if !errors.Is(err, ErrBlockHash) {
		t.Fatalf("Assemble with a bad block: %v, want ErrBlockHash", err)
	}
	if st.Fetched != int64(p.Sizes[missing[0]]) || st.FetchedBlocks != 1 {
		t.Errorf("first attempt: %+v, want 1 fetched block", st)
	}
	done := p.Offset(missing[1])

	// The resumed attempt keeps what the first one wrote.
	srv.bad, srv.served = "", 0
	st, err = Assemble(context.Background(), p, staging, sources, idx, srv)
	if err != nil {
		t.Fatal(err)
	}
	if st.Resumed != done || st.Resumed+st.Local+st.Fetched != int64(len(newRoot)) || st.Fetched != fetch-int64(p.Sizes[missing[0]]) {
		t.Errorf("resumed attempt: %+v; want the first %d bytes resumed, %d fetched", st, done, fetch-int64(p.Sizes[missing[0]]))
	}
	if int64(srv.served) != st.Fetched {
		t.Errorf("server served %d bytes, stats say %d", srv.served, st.Fetched)
	}
	got, _ := os.ReadFile(staging.Name())
	if !bytes.Equal(got, newRoot) {
		t.Fatal("assembled part differs from the release's")
	}
}

// A source that changes under the assembly (a corrupted local block) is
// caught by the block hash and fetched instead; a staging file with a
// wrong tail beyond the part is caught by nothing because only Size
// bytes count, but a wrong byte inside is refetched.
func TestAssembleCorruptLocal(t *testing.T) {
	old := randomBytes(t, 3*BlockSize)
	p, _ := NewPart(bytes.NewReader(old), int64(len(old)))
	idx, _ := NewIndex(Source{R: bytes.NewReader(old), Size: int64(len(old))})
	corrupt := bytes.Clone(old)
	corrupt[BlockSize+5] ^= 0xff
	sources := []Source{{R: bytes.NewReader(corrupt), Size: int64(len(corrupt))}}
	staging, _ := os.Create(filepath.Join(t.TempDir(), "s"))
	defer staging.Close()
	srv := serverFor(old)
	st, err := Assemble(context.Background(), p, staging, sources, idx, srv)
	if err != nil {
		t.Fatal(err)
	}
	if st.FetchedBlocks != 1 || st.Local+st.Fetched != int64(len(old)) {
		t.Errorf("stats %+v, want the corrupted block fetched and the others local", st)
	}
}

func TestCheckPart(t *testing.T) {
	data := randomBytes(t, 1000)
	p, _ := NewPart(bytes.NewReader(data), int64(len(data)))
	if err := CheckPart(bytes.NewReader(data), p); err != nil {
		t.Fatal(err)
	}
	data[10] ^= 1
	if err := CheckPart(bytes.NewReader(data), p); !errors.Is(err, ErrPartHash) {
		t.Errorf("CheckPart of changed bytes: %v, want ErrPartHash", err)
	}
	if err := CheckPart(bytes.NewReader(data[:999]), p); !errors.Is(err, ErrPartHash) {
		t.Errorf("CheckPart of short bytes: %v, want ErrPartHash", err)
	}
}

func slicesConcat(s ...[]byte) []byte { return bytes.Join(s, nil) }

func TestGenerateKey(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "keys", "release-key")
	pub, err := GenerateKey(p)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("private key mode %v, want 0600", fi.Mode().Perm())
	}
	priv, err := ReadPrivateKey(p)
	if err != nil {
		t.Fatal(err)
	}
	pub2, err := ReadPublicKey(p + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	if !pub.Equal(pub2) || !pub.Equal(priv.Public()) {
		t.Error("the key files do not hold the generated pair")
	}
	before, _ := os.ReadFile(p)
	if _, err := GenerateKey(p); err == nil || !strings.Contains(err.Error(), "not overwriting") {
		t.Errorf("GenerateKey over an existing key: %v, want a refusal", err)
	}
	if after, _ := os.ReadFile(p); !bytes.Equal(before, after) {
		t.Error("the existing key was changed")
	}

	repo := filepath.Join(dir, "repo")
	os.MkdirAll(filepath.Join(repo, ".git"), 0o755)
	if _, err := GenerateKey(filepath.Join(repo, "sub", "key")); err == nil || !strings.Contains(err.Error(), "git checkout") {
		t.Errorf("GenerateKey in a git checkout: %v, want a refusal", err)
	}

	os.Chmod(p, 0o644)
	if _, err := ReadPrivateKey(p); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("ReadPrivateKey of a world-readable key: %v, want a refusal", err)
	}
}

func TestGzipSize(t *testing.T) {
	data := bytes.Repeat([]byte("a root file system, uncompressed at rest "), 4000)
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write(data)
	zw.Close()
	n, err := GzipSize(bytes.NewReader(data))
	if err != nil || n != int64(z.Len()) || n >= int64(len(data))/20 {
		t.Errorf("GzipSize = %d, %v; want %d (gzip's own), well under the %d bytes", n, err, z.Len(), len(data))
	}
}
