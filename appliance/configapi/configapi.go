// Package configapi puts a site configuration on a running appliance and
// reads it back over HTTP: the endpoint statusd serves at /api/config, and
// the client that "lapsebox config push" and "lapsebox config pull" use.
//
// Every request needs gokrazy's HTTP password (user "gokrazy"), compared in
// constant time; a client that keeps failing is slowed down. A pushed file
// is validated as "lapsebox config check" does (Check), processing specs
// included, and every problem comes back with its line and field; a valid
// one replaces /perm/lapsebox/config.json crash-safely, the file it replaces
// kept as config.json.prev, and camerad and uploadd, which watch the file,
// start again with it within seconds. A pull gives the configuration in use
// with every secret's value replaced by "[redacted]" unless the secrets are
// asked for; a pulled file pushed back keeps the device's secrets for its
// "[redacted]" values, so that they need never leave the device.
package configapi

import (
	"github.com/lapsebox/lapsebox/appliance/config"
	"github.com/lapsebox/lapsebox/appliance/process"
)

// Path is where statusd serves the endpoint.
const Path = "/api/config"

// SourceHeader names the configuration a pull returned: "config.json",
// "config.json.prev" (config.json is invalid) or "default" (there is
// none).
const SourceHeader = "Lapsebox-Config-Source"

// Check validates a site configuration the way the device accepts one:
// config.ParseChecked with every processing spec checked by
// appliance/process. name prefixes every error.
func Check(name string, data []byte) (*config.Config, error) {
	return config.ParseChecked(name, data, process.CheckSpec)
}

// Problem is one thing wrong with a pushed configuration.
type Problem struct {
	// Line is the line in the file, 0 if not known.
	Line int `json:"line,omitempty"`
	// Field is the path of the bad value ("targets[0].url"), if any.
	Field string `json:"field,omitempty"`
	// Message says what is wrong.
	Message string `json:"message"`
}

// reply is the JSON body of every answer but a pull's.
type reply struct {
	// Error says why the request failed.
	Error string `json:"error,omitempty"`
	// Problems lists what is wrong with a refused configuration.
	Problems []Problem `json:"problems,omitempty"`
	// Changed is false when the pushed file is the one in place already.
	Changed bool `json:"changed,omitempty"`
	// PreviousKept says that the file replaced was kept as
	// config.json.prev.
	PreviousKept bool `json:"previousKept,omitempty"`
	// Targets is the number of upload targets of the accepted file.
	Targets int `json:"targets,omitempty"`
}
