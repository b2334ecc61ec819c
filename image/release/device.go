package release

import (
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Files the image build puts into the root file system, read by the
// device's update service.
const (
	// KeyPath holds the public key releases must be signed with (PKIX
	// PEM); an image without it accepts no pulled release.
	KeyPath = "/etc/lapsebox/release-key.pem"
	// BuildPath holds the image's BuildInfo.
	BuildPath = "/etc/lapsebox/build.json"
)

// BuildInfo is what an image says about itself, so that the device can
// check a release against what it runs.
type BuildInfo struct {
	Board    string    `json:"board"`
	Hostname string    `json:"hostname"`
	Build    time.Time `json:"build"`
	// Version is the source the image was built from: the commit
	// ("0123456789ab", "-dirty" if the checkout had changes), or empty
	// when the build could not tell.
	Version string `json:"version,omitempty"`
	// BootSHA256 is the sha256 of the boot file system built with this
	// root: the device's boot partition holds it, although gokrazy
	// rewrites its command lines and the vfat driver its dirty flag and
	// access dates, so its bytes no longer tell. Empty in images built
	// before it was recorded.
	BootSHA256 string `json:"bootSHA256,omitempty"`
}

// Device returns the Device b describes.
func (b BuildInfo) Device() Device {
	return Device{Board: b.Board, Hostname: b.Hostname, Build: b.Build}
}

// StageFiles writes the release key (if any) and b into a staged root
// file system at dir.
func StageFiles(dir string, b BuildInfo, key ed25519.PublicKey) error {
	data, err := json.Marshal(b)
	if err != nil {
		return err
	}
	files := map[string][]byte{BuildPath: data}
	if key != nil {
		files[KeyPath] = MarshalPublicKey(key)
	}
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			return fmt.Errorf("release: staging %s: %w", name, err)
		}
	}
	return nil
}

// ReadBuildInfo reads the running image's BuildInfo under root ("/" on
// a device).
func ReadBuildInfo(root string) (BuildInfo, error) {
	var b BuildInfo
	p := filepath.Join(root, filepath.FromSlash(BuildPath))
	data, err := os.ReadFile(p)
	if err != nil {
		return b, fmt.Errorf("release: %w (an image built before releases?)", err)
	}
	if err := json.Unmarshal(data, &b); err != nil {
		return b, fmt.Errorf("release: %s: %w", p, err)
	}
	return b, nil
}
