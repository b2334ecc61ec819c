package tus

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/lapsebox/lapsebox/appliance/upload"
	"github.com/lapsebox/lapsebox/appliance/upload/uploadtest"
	"github.com/lapsebox/lapsebox/cloud/ingest"
	"github.com/lapsebox/lapsebox/cloud/ingest/ingesttest"
)

const (
	testDevice = "glacier-1"
	testToken  = "s3cret-token-of-glacier-1"
)

// startCloud starts cloudd in-process for the test device, with cfg
// (Root, Devices and Logger filled in).
func startCloud(t *testing.T, cfg ingest.Config) *ingesttest.Cloud {
	t.Helper()
	cfg.Logger = uploadtest.Logger()
	return ingesttest.Start(t, ingesttest.Options{Tokens: map[string]string{testDevice: testToken}, Config: cfg})
}

// check verifies that c holds exactly want (name → bytes) for the test
// device, each once, and nothing half-written under a final name.
func check(t *testing.T, c *ingesttest.Cloud, want map[string][]byte) {
	t.Helper()
	got := c.Received(testDevice)
	for name, data := range want {
		s := sha256.Sum256(data)
		if got[name] != hex.EncodeToString(s[:]) {
			t.Errorf("server has %s with sha256 %q, want %x (%d bytes)", name, got[name], s, len(data))
		}
		delete(got, name)
	}
	for name := range got {
		t.Errorf("server has an unexpected file %s", name)
	}
}

func newTarget(t *testing.T, url string, mod func(*Config)) *Target {
	t.Helper()
	return uploadtest.New(t, New, Config{URL: url, Device: testDevice, Token: testToken, Transfer: uploadtest.Transfer()}, mod)
}

func isPermanent(err error, code int) bool {
	var p *upload.PermanentError
	return errors.As(err, &p) && p.StatusCode == code
}
