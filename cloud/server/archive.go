package server

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/lapsebox/lapsebox/cloud/archive"
)

// Defaults of the scrubber.
const (
	DefaultScrubInterval = 24 * time.Hour
	DefaultScrubRate     = 16 << 20 // bytes a second: a fraction of a disk's, none of ingest's
)

// ArchiveConfig is the photos' second copy (one of Dir and S3) and its
// scrubber. Without it photos are kept once.
type ArchiveConfig struct {
	// Dir is a directory on another disk ("/mnt/b/lapsebox").
	Dir string `json:"dir,omitempty"`
	// S3 is a bucket of an S3-compatible store.
	S3 *ArchiveS3Config `json:"s3,omitempty"`
	// ScrubInterval is how often every photo's copies are read and
	// checked (default 24h).
	ScrubInterval Duration `json:"scrub_interval,omitempty"`
	// ScrubRate bounds the scrubber's reads, in bytes a second (default
	// 16 MiB/s).
	ScrubRate int64 `json:"scrub_rate,omitempty"`
}

// ArchiveS3Config is an S3 bucket for the second copy.
type ArchiveS3Config struct {
	Endpoint string `json:"endpoint"`
	Region   string `json:"region,omitempty"`
	Bucket   string `json:"bucket"`
	// Prefix is put before every <device>/<name> ("lapsebox/").
	Prefix    string `json:"prefix,omitempty"`
	AccessKey string `json:"access_key"`
	// SecretKey, or SecretKeyFile, a file holding it (mode 0600).
	SecretKey     string `json:"secret_key,omitempty"`
	SecretKeyFile string `json:"secret_key_file,omitempty"`
	// PathStyle addresses the bucket in the path, as MinIO, Ceph and
	// versitygw want; otherwise in the host name, as AWS prefers.
	PathStyle bool `json:"path_style,omitempty"`
}

// replica returns the second store a configures for the photo tree at
// root and photos up to maxSize bytes, nil for none.
func (a *ArchiveConfig) replica(root string, maxSize int64) (archive.Store, error) {
	s3cfg, err := a.check(root, maxSize)
	switch {
	case err != nil:
		return nil, err
	case s3cfg != nil:
		return archive.NewS3(*s3cfg)
	case a != nil && a.Dir != "":
		return archive.OpenDir(filepath.Clean(a.Dir))
	}
	return nil, nil
}

// check validates a for photos up to maxSize bytes (0: unchecked)
// without touching a disk or the network, and returns the S3 store's
// configuration if it is one.
func (a *ArchiveConfig) check(root string, maxSize int64) (*archive.S3Config, error) {
	if a == nil || a.Dir == "" && a.S3 == nil {
		return nil, nil
	}
	if a.Dir != "" && a.S3 != nil {
		return nil, errors.New("archive: dir and s3 are both set; give one")
	}
	if a.ScrubInterval < 0 || a.ScrubRate < 0 {
		return nil, errors.New("archive: scrub_interval and scrub_rate must not be negative")
	}
	if a.Dir != "" {
		if !filepath.IsAbs(a.Dir) {
			return nil, fmt.Errorf("archive: dir %q: want an absolute path", a.Dir)
		}
		d, r := filepath.Clean(a.Dir), filepath.Clean(root)
		if absRoot, err := filepath.Abs(r); err == nil {
			r = absRoot
		}
		if d == r || strings.HasPrefix(d+"/", r+"/") || strings.HasPrefix(r+"/", d+"/") {
			return nil, fmt.Errorf("archive: dir %q: the second copy must not be in the photos' root %q, nor hold it", a.Dir, root)
		}
		return nil, nil
	}
	s := a.S3
	if maxSize > archive.MaxS3Object {
		return nil, fmt.Errorf("archive: s3: ingest.max_size %d is more than the %d bytes an S3 store takes in one PUT", maxSize, int64(archive.MaxS3Object))
	}
	secret := s.SecretKey
	switch {
	case secret != "" && s.SecretKeyFile != "":
		return nil, errors.New("archive: s3: secret_key and secret_key_file are both set; give one")
	case s.SecretKeyFile != "":
		b, err := os.ReadFile(s.SecretKeyFile)
		if err != nil {
			return nil, fmt.Errorf("archive: s3: secret_key_file: %w", err)
		}
		secret = strings.TrimSpace(string(b))
	}
	if s.Endpoint == "" || s.Bucket == "" || s.AccessKey == "" || secret == "" {
		return nil, errors.New("archive: s3: endpoint, bucket, access_key and secret_key (or secret_key_file) are required")
	}
	cfg := &archive.S3Config{Endpoint: s.Endpoint, Region: s.Region, Bucket: s.Bucket, Prefix: s.Prefix,
		AccessKey: s.AccessKey, SecretKey: secret, PathStyle: s.PathStyle}
	// NewS3 checks the endpoint, bucket and prefix, and makes nothing.
	if _, err := archive.NewS3(*cfg); err != nil {
		return nil, err
	}
	return cfg, nil
}

// sameFileSystem reports whether the directories a and b are on one file
// system (one disk, as far as cloudd can tell).
func sameFileSystem(a, b string) bool {
	var sa, sb syscall.Stat_t
	return syscall.Stat(a, &sa) == nil && syscall.Stat(b, &sb) == nil && sa.Dev == sb.Dev
}

// scrub returns the scrubber's interval and rate.
func (a *ArchiveConfig) scrub() (time.Duration, int64) {
	interval, rate := DefaultScrubInterval, int64(DefaultScrubRate)
	if a != nil && a.ScrubInterval > 0 {
		interval = time.Duration(a.ScrubInterval)
	}
	if a != nil && a.ScrubRate > 0 {
		rate = a.ScrubRate
	}
	return interval, rate
}

// OpenArchive opens the archive cfg configures, for a scrub outside a
// running cloudd ("cloudd scrub").
func OpenArchive(cfg Config, log *slog.Logger) (*archive.Archive, error) {
	replica, err := cfg.Archive.replica(cfg.Root, cfg.Ingest.MaxSize)
	if err != nil {
		return nil, fmt.Errorf("cloudd: %w", err)
	}
	return archive.New(cfg.Root, replica, log)
}
