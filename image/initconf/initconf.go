// Package initconf is what a lapsebox image's init reads at boot: the
// build timestamp and the programs to supervise. The image build writes
// it into the root file system as data, not into the init's code, so
// that the init binary is the same in every build of the same source:
// a release that changes only the configuration then changes a small
// file, not a binary, and a device pulling it fetches a few blocks.
package initconf

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
)

// Path is where the image keeps its Config.
const Path = "/etc/lapsebox/init.json"

// Config is the init's configuration.
type Config struct {
	// BuildTimestamp identifies the build: gokrazy reports it, and an
	// updater waits for it after switching roots.
	BuildTimestamp string `json:"buildTimestamp"`
	// Services are started in this order: gokrazy's own programs, then
	// the appliance's.
	Services []Service `json:"services"`
}

// Service is one supervised program.
type Service struct {
	Path         string   `json:"path"` // "/user/statusd"
	Args         []string `json:"args,omitempty"`
	Env          []string `json:"env,omitempty"` // added to the init's environment
	DontStart    bool     `json:"dontStart,omitempty"`
	WaitForClock bool     `json:"waitForClock,omitempty"`
}

// Marshal encodes c, indented, keys in a fixed order: the same
// configuration gives the same bytes.
func (c *Config) Marshal() ([]byte, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// Parse decodes and checks a Config; unknown fields are errors, so that
// an init never runs a configuration it half understands.
func Parse(data []byte) (*Config, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var c Config
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("initconf: %w", err)
	}
	if dec.More() {
		return nil, errors.New("initconf: data after the configuration")
	}
	if err := c.check(); err != nil {
		return nil, err
	}
	return &c, nil
}

// Read reads and parses the Config at path.
func Read(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("initconf: %w", err)
	}
	c, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

func (c *Config) check() error {
	if c.BuildTimestamp == "" {
		return errors.New("initconf: no build timestamp")
	}
	seen := map[string]bool{}
	for i, s := range c.Services {
		switch {
		case !strings.HasPrefix(s.Path, "/"):
			return fmt.Errorf("initconf: service %d: path %q is not absolute", i, s.Path)
		case seen[s.Path]:
			return fmt.Errorf("initconf: service %d: %s listed twice", i, s.Path)
		case s.DontStart && s.WaitForClock:
			return fmt.Errorf("initconf: service %s: both dontStart and waitForClock", s.Path)
		}
		seen[s.Path] = true
		for _, e := range s.Env {
			if k, _, ok := strings.Cut(e, "="); !ok || k == "" {
				return fmt.Errorf("initconf: service %s: environment entry %q is not KEY=value", s.Path, e)
			}
		}
	}
	return nil
}
