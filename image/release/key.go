package release

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// KeyID names a public key in errors and manifests: the first 8 bytes of
// the SHA-256 of the key, in hex. It lets "signed by another key" say
// which one, without a key ever being compared by its label alone.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// GenerateKey writes a new ed25519 key pair: the private key to path
// (PKCS #8 PEM, mode 0600) and the public key to path+".pub" (PKIX PEM).
// It refuses to overwrite either file, and to write into a git checkout,
// where a private key would be one "git add" from being published.
func GenerateKey(path string) (ed25519.PublicKey, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	if repo := gitCheckout(filepath.Dir(abs)); repo != "" {
		return nil, fmt.Errorf("release: %s is inside the git checkout %s: keep the signing key outside any repository", abs, repo)
	}
	for _, p := range []string{abs, abs + ".pub"} {
		if _, err := os.Lstat(p); err == nil {
			return nil, fmt.Errorf("release: %s exists: not overwriting a key (releases signed with it would no longer verify)", p)
		}
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return nil, err
	}
	if err := writeNew(abs, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return nil, err
	}
	if err := writeNew(abs+".pub", MarshalPublicKey(pub), 0o644); err != nil {
		os.Remove(abs)
		return nil, err
	}
	return pub, nil
}

// gitCheckout returns the closest directory at or above dir holding .git,
// or "".
func gitCheckout(dir string) string {
	for {
		if _, err := os.Lstat(filepath.Join(dir, ".git")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// writeNew creates path with data, failing if it exists.
func writeNew(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("release: %s exists: not overwriting a key", path)
		}
		return fmt.Errorf("release: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("release: writing %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("release: writing %s: %w", path, err)
	}
	return f.Close()
}

// MarshalPublicKey encodes pub as PKIX PEM, the form baked into images.
func MarshalPublicKey(pub ed25519.PublicKey) []byte {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		panic("release: marshalling an ed25519 public key: " + err.Error())
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// ParsePublicKey decodes a PKIX PEM ed25519 public key; name prefixes
// errors.
func ParsePublicKey(name string, data []byte) (ed25519.PublicKey, error) {
	b, _ := pem.Decode(data)
	if b == nil || b.Type != "PUBLIC KEY" {
		return nil, fmt.Errorf("release: %s: not a PEM public key", name)
	}
	k, err := x509.ParsePKIXPublicKey(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("release: %s: %w", name, err)
	}
	pub, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("release: %s: a %T, want an ed25519 key", name, k)
	}
	return pub, nil
}

// ReadPublicKey reads a public key file.
func ReadPublicKey(path string) (ed25519.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("release: %w", err)
	}
	return ParsePublicKey(path, b)
}

// ReadPrivateKey reads a private key file written by GenerateKey. A file
// that others may read is refused: the key signs what every device runs.
func ReadPrivateKey(path string) (ed25519.PrivateKey, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("release: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("release: %s has mode %v: others may read the signing key; chmod 600 it", path, fi.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("release: %w", err)
	}
	b, _ := pem.Decode(data)
	if b == nil || b.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("release: %s: not a PEM private key", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("release: %s: %w", path, err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("release: %s: a %T, want an ed25519 key", path, k)
	}
	return priv, nil
}
