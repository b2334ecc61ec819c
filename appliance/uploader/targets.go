package uploader

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/lapsebox/lapsebox/appliance/config"
	"github.com/lapsebox/lapsebox/appliance/process"
	"github.com/lapsebox/lapsebox/appliance/upload"
	"github.com/lapsebox/lapsebox/appliance/upload/s3"
	"github.com/lapsebox/lapsebox/appliance/upload/tus"
	"github.com/lapsebox/lapsebox/appliance/upload/webdav"
)

// Transports makes the transport of each kind of target; tests and later
// kinds add theirs.
var Transports = map[config.Kind]func(t config.Target, secret, device string) (upload.Target, error){
	config.Cloud: func(t config.Target, secret, device string) (upload.Target, error) {
		return tus.New(tus.Config{URL: strings.TrimSuffix(t.URL, "/"), Device: device, Token: secret})
	},
	config.WebDAV: func(t config.Target, secret, device string) (upload.Target, error) {
		return webdav.New(webdav.Config{URL: t.URL, User: t.User, Password: secret})
	},
	// A live-cam page reads one fixed name, replaced atomically, from the
	// customer's WebDAV share.
	config.LiveCam: func(t config.Target, secret, device string) (upload.Target, error) {
		return webdav.New(webdav.Config{URL: t.URL, User: t.User, Password: secret, FixedName: "latest.jpg"})
	},
	// The access key is the target's user, the secret key its secret.
	config.S3: func(t config.Target, secret, device string) (upload.Target, error) {
		// Most S3-compatible servers want path-style addressing; AWS the other.
		return s3.New(s3.Config{Endpoint: t.URL, Region: t.Region, Bucket: t.Bucket, Prefix: device + "/", AccessKey: t.User, SecretKey: secret,
			PathStyle: !strings.Contains(t.URL, "amazonaws.com")})
	},
}

// Build makes the targets of a configuration. A target that cannot be
// made is reported in errs and left out; its entries wait in the outbox.
func Build(cfg *config.Config, device string) (targets []*Target, errs []error) {
	for _, t := range cfg.Targets {
		tg, err := build(cfg, t, device)
		if err != nil {
			errs = append(errs, fmt.Errorf("target %s: %w", t.Name, err))
			continue
		}
		targets = append(targets, tg)
	}
	return targets, errs
}

func build(cfg *config.Config, t config.Target, device string) (*Target, error) {
	tg := &Target{Config: t, ConfigHash: configHash(cfg, t)}
	if len(t.Process) > 0 {
		spec, err := process.ParseSpec(t.Name+".process", t.Process)
		if err != nil {
			return nil, err
		}
		if tg.Processor, err = process.New(spec); err != nil {
			return nil, err
		}
	}
	if t.Send == config.SendNothing {
		tg.Transport = nowhere{}
		return tg, nil
	}
	mk, ok := Transports[t.Kind]
	if !ok {
		return nil, fmt.Errorf("kind %s is not supported by this build", t.Kind)
	}
	var secret string
	if t.Secret != "" {
		secret = cfg.Secrets[t.Secret].Reveal()
	}
	tr, err := mk(t, secret, device)
	if err != nil {
		return nil, err
	}
	tg.Transport = tr
	return tg, nil
}

// configHash identifies everything that decides how a target is sent to,
// its secret included (a fixed password un-parks what a wrong one parked).
func configHash(cfg *config.Config, t config.Target) string {
	h := sha256.New()
	b, _ := json.Marshal(struct {
		T      config.Target
		Secret string
	}{t, cfg.Secrets[t.Secret].Reveal()})
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))[:12]
}
