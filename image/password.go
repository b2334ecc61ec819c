package image

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// PasswordPath returns where the HTTP password of d lives: its PasswordFile,
// relative to configDir unless absolute, or configDir/<hostname>/http-password.txt.
func PasswordPath(d *Description, configDir string) string {
	p := d.PasswordFile
	if p == "" {
		p = filepath.Join(d.Hostname, "http-password.txt")
	}
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(configDir, p)
}

// DefaultConfigDir is the user's lapsebox configuration directory, where
// device passwords are kept out of the repository.
func DefaultConfigDir() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("finding the configuration directory for device passwords: %w", err)
	}
	return filepath.Join(dir, "lapsebox"), nil
}

// Password reads the HTTP password of d, creating the file with a random
// password the first time: no image ships with a password anybody knows.
func Password(d *Description, configDir string) (password, path string, err error) {
	path = PasswordPath(d, configDir)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		pw := rand.Text()
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return "", path, fmt.Errorf("creating password file: %w", err)
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return "", path, fmt.Errorf("creating password file: %w", err)
		}
		if _, err := f.WriteString(pw + "\n"); err != nil {
			f.Close()
			return "", path, fmt.Errorf("writing password file: %w", err)
		}
		if err := f.Close(); err != nil {
			return "", path, fmt.Errorf("writing password file: %w", err)
		}
		return pw, path, nil
	}
	if err != nil {
		return "", path, fmt.Errorf("reading password file: %w", err)
	}
	pw := strings.TrimSpace(string(b))
	if pw == "" || strings.ContainsAny(pw, " \t\r\n:") {
		return "", path, fmt.Errorf("password file %s: want one line without spaces or colons", path)
	}
	return pw, path, nil
}
