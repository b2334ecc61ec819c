package gokrazyhttp

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
)

// User is the user name of gokrazy's web interface; lapsebox's own pages
// share it, and its password.
const User = "gokrazy"

// passwordFile is gokrazy's password file, in /perm or /etc.
const passwordFile = "gokr-pw.txt"

// ErrNoPassword is returned by DevicePassword for an image built without a
// password: nothing may then be accepted over the network.
var ErrNoPassword = errors.New("this device has no HTTP password")

// DevicePassword returns the password gokrazy's web interface accepts,
// read the way gokrazy's init reads it (gokrazy.go in
// github.com/gokrazy/gokrazy): permDir/gokr-pw.txt, else
// etcDir/gokr-pw.txt, and only when the image has etcDir/gokr-pw.txt at
// all. Errors name the file, never its content.
func DevicePassword(permDir, etcDir string) (string, error) {
	etc := filepath.Join(etcDir, passwordFile)
	if _, err := os.Stat(etc); errors.Is(err, fs.ErrNotExist) {
		return "", ErrNoPassword
	}
	b, err := os.ReadFile(filepath.Join(permDir, passwordFile))
	if err != nil {
		b, err = os.ReadFile(etc)
	}
	if err != nil {
		return "", fmt.Errorf("reading the device password: %w", err)
	}
	pw := string(bytes.TrimSpace(b))
	if pw == "" {
		return "", ErrNoPassword
	}
	return pw, nil
}

// Authorized reports whether r carries Basic credentials for User and
// password. Both are hashed before a constant-time comparison, so that
// neither their content nor their length shows in the time taken.
func Authorized(r *http.Request, password string) bool {
	user, pass, ok := r.BasicAuth()
	u, wu := sha256.Sum256([]byte(user)), sha256.Sum256([]byte(User))
	p, wp := sha256.Sum256([]byte(pass)), sha256.Sum256([]byte(password))
	return subtle.ConstantTimeCompare(u[:], wu[:])&subtle.ConstantTimeCompare(p[:], wp[:]) == 1 && ok
}
