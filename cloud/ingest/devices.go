package ingest

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/lapsebox/lapsebox/cloud/archive"
)

// Devices maps each device allowed to upload to the SHA-256 of its token.
// Only hashes are kept at rest: a leaked token file does not let anyone
// upload. Tokens are long random strings, so a plain hash is enough.
type Devices map[string][32]byte

// tokenFile is the JSON token file:
//
//	{"devices": {"glacier-1": {"token_sha256": "<64 hex digits>"}}}
type tokenFile struct {
	Devices map[string]struct {
		TokenSHA256 string `json:"token_sha256"`
	} `json:"devices"`
}

// HashToken returns the hex SHA-256 of token, as the token file holds it.
func HashToken(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// CheckDeviceName reports why name cannot be a device's name (it names
// the device's directory of photos), or nil.
func CheckDeviceName(name string) error { return archive.CheckDevice(name) }

// ParseDevices decodes a token file strictly: unknown fields, a device
// name that is not [A-Za-z0-9][A-Za-z0-9_.-]{0,63} and a hash that is not
// 64 hex digits are errors that name the device.
func ParseDevices(b []byte) (Devices, error) {
	var f tokenFile
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("token file: %w", err)
	}
	d := Devices{}
	for name, e := range f.Devices {
		if err := CheckDeviceName(name); err != nil {
			return nil, fmt.Errorf("token file: %w", err)
		}
		h, err := hex.DecodeString(e.TokenSHA256)
		if err != nil || len(h) != 32 {
			return nil, fmt.Errorf("token file: device %q: token_sha256 %q is not 64 hex digits", name, e.TokenSHA256)
		}
		d[name] = [32]byte(h)
	}
	return d, nil
}

// DevicesWithTokens returns the Devices for device names and their
// tokens, for a server that makes its own tokens (a demo, a test).
func DevicesWithTokens(tokens map[string]string) (Devices, error) {
	d := Devices{}
	for name, token := range tokens {
		if err := CheckDeviceName(name); err != nil {
			return nil, err
		}
		if token == "" {
			return nil, fmt.Errorf("device %q: empty token", name)
		}
		d[name] = sha256.Sum256([]byte(token))
	}
	return d, nil
}

// LoadDevices reads and parses the token file at path.
func LoadDevices(path string) (Devices, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	d, err := ParseDevices(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return d, nil
}

// DeviceHeader names the uploading device; the bearer token proves it.
const DeviceHeader = "Lapsebox-Device"

// errUnauthorized is all a refused request learns, whatever was wrong
// with its credential: which device names exist is not for probing.
const errUnauthorized = "missing or wrong credential (Lapsebox-Device: <name>, Authorization: Bearer <token>)"

// authenticate returns the device r speaks for, or an error for the
// server's log saying what was wrong (never the token).
func (d Devices) authenticate(r *http.Request) (string, error) {
	auth := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(auth, " ")
	if auth == "" || !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", errors.New("no bearer token")
	}
	name := r.Header.Get(DeviceHeader)
	if name == "" {
		return "", errors.New("no " + DeviceHeader + " header")
	}
	sum := sha256.Sum256([]byte(token))
	want, known := d[name]
	// Compare even for an unknown device, so that timing tells nothing.
	match := subtle.ConstantTimeCompare(sum[:], want[:]) == 1
	if len(name) > 64 {
		name = name[:64] + "…"
	}
	if !known {
		return "", fmt.Errorf("unknown device %q", name)
	}
	if !match {
		return "", fmt.Errorf("bad token for device %q", name)
	}
	return name, nil
}
