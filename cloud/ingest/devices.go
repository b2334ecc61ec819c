package ingest

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strings"
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

var deviceName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

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
		if !deviceName.MatchString(name) {
			return nil, fmt.Errorf("token file: device name %q: want [A-Za-z0-9][A-Za-z0-9_.-]{0,63}", name)
		}
		h, err := hex.DecodeString(e.TokenSHA256)
		if err != nil || len(h) != 32 {
			return nil, fmt.Errorf("token file: device %q: token_sha256 %q is not 64 hex digits", name, e.TokenSHA256)
		}
		d[name] = [32]byte(h)
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

// authError is a refused credential: an HTTP status and what to tell the
// device (never the token).
type authError struct {
	status int
	msg    string
}

func (e *authError) Error() string { return e.msg }

// authenticate returns the device r speaks for.
func (d Devices) authenticate(r *http.Request) (string, error) {
	auth := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(auth, " ")
	if auth == "" || !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", &authError{http.StatusUnauthorized, "missing bearer token (Authorization: Bearer <token>)"}
	}
	name := r.Header.Get(DeviceHeader)
	if name == "" {
		return "", &authError{http.StatusUnauthorized, "missing " + DeviceHeader + " header"}
	}
	sum := sha256.Sum256([]byte(token))
	want, known := d[name]
	// Compare even for an unknown device, so that timing tells nothing.
	match := subtle.ConstantTimeCompare(sum[:], want[:]) == 1
	if !known {
		if len(name) > 64 {
			name = name[:64] + "…"
		}
		return "", &authError{http.StatusForbidden, fmt.Sprintf("unknown device %q", name)}
	}
	if !match {
		return "", &authError{http.StatusUnauthorized, fmt.Sprintf("bad token for device %q", name)}
	}
	return name, nil
}
