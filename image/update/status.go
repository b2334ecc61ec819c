package update

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// DeviceStatus is what a gokrazy device reports on GET / with
// Accept: application/json (gokrazy's status.go). Fields the device does not
// send stay zero; fields this type does not know are ignored.
type DeviceStatus struct {
	// BuildTimestamp identifies the running build (set by the image
	// builder in the generated init).
	BuildTimestamp string
	// SBOMHash is the hash of the image's software bill of materials.
	SBOMHash string
	// Hostname is the device's host name.
	Hostname string
	// Model is the board, e.g. "Raspberry Pi 4 Model B Rev 1.5" or "QEMU".
	Model string
	// Kernel is "<sysname> <release> (<machine>)".
	Kernel string
	// PermDev is the device node of the /perm partition, e.g. "/dev/mmcblk0p4".
	PermDev string
	// PermUUID is the PARTUUID of the /perm partition.
	PermUUID string
	// PermUsed, PermAvail and PermTotal are /perm's use in bytes.
	PermUsed, PermAvail, PermTotal int64
	// PrivateAddrs and PublicAddrs are the device's interface addresses.
	PrivateAddrs, PublicAddrs []string
	// Meminfo holds MemTotal and MemAvailable in bytes.
	Meminfo map[string]int64
	// EEPROM is the Raspberry Pi EEPROM state; nil elsewhere.
	EEPROM *EEPROM
	// MountDevices are the extra file systems the image mounts.
	MountDevices []Filesystem
	// Services are the supervised programs.
	Services []Service
}

// Service is one supervised program in DeviceStatus.
type Service struct {
	// Path is the program, e.g. "/user/camerad".
	Path string
	// Args is its command line, program name first.
	Args []string
	// Stopped is true when the service is not running and not being
	// restarted (stopped on the web UI, or exited with status 125).
	Stopped bool
	// StartTime is when the current process started.
	StartTime time.Time
	// Pid is the current process ID, 0 if none.
	Pid int
	// Diverted is the path of a binary replacing Path (gok run), if any.
	Diverted string
}

// EEPROM is the Raspberry Pi bootloader EEPROM state a device reports.
type EEPROM struct {
	PieepromSHA256 string // sha256 of the installed pieeprom
	VL805SHA256    string // sha256 of the installed VL805 firmware
	FirmwareDate   string // build date of the running firmware, yyyy-mm-dd
}

// Filesystem is the use of one mounted file system in DeviceStatus.
type Filesystem struct {
	Dev                string // mount target
	Used, Avail, Total int64  // bytes
}

// Service returns the service whose Path or base name is name, or nil.
func (s *DeviceStatus) Service(name string) *Service {
	for i := range s.Services {
		p := s.Services[i].Path
		if p == name || p[strings.LastIndexByte(p, '/')+1:] == name {
			return &s.Services[i]
		}
	}
	return nil
}

// Status fetches the device's status (GET / with Accept: application/json).
func Status(ctx context.Context, dev Device) (*DeviceStatus, error) {
	c, err := newClient(dev)
	if err != nil {
		return nil, err
	}
	return c.status(ctx, StepStatus, false)
}

// statusDecodeError means GET / answered 2xx with something that is not
// gokrazy's status JSON.
type statusDecodeError struct{ err error }

func (e *statusDecodeError) Error() string { return e.err.Error() }
func (e *statusDecodeError) Unwrap() error { return e.err }

func (c *client) status(ctx context.Context, step string, closeConn bool) (*DeviceStatus, error) {
	req, err := c.newRequest(ctx, http.MethodGet, "/", nil)
	if err != nil {
		return nil, &Error{Step: step, Method: http.MethodGet, URL: c.url("/"), Err: err}
	}
	req.Header.Set("Accept", "application/json")
	// While waiting for a reboot, every poll uses a new connection: an old
	// one may point at the previous boot of the device.
	req.Close = closeConn
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, &Error{Step: step, Method: http.MethodGet, URL: c.url("/"), Err: unwrapURLError(err)}
	}
	b, err := readResponse(step, req, resp)
	if err != nil {
		return nil, err
	}
	st, err := parseStatus(b)
	if err != nil {
		return nil, &Error{Step: step, Method: http.MethodGet, URL: c.url("/"), StatusCode: 0, Err: &statusDecodeError{err}}
	}
	return st, nil
}

// parseStatus decodes gokrazy's status JSON.
func parseStatus(b []byte) (*DeviceStatus, error) {
	var st DeviceStatus
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("decoding status JSON (%d bytes starting %q): %v", len(b), errBody(b[:min(len(b), 64)]), err)
	}
	if st.BuildTimestamp == "" {
		return nil, fmt.Errorf("status JSON has no BuildTimestamp (%d bytes starting %q); is this a gokrazy device?", len(b), errBody(b[:min(len(b), 64)]))
	}
	return &st, nil
}

// Features is the device's answer to GET /update/features.
type Features struct {
	// Features is the device's comma-separated feature list, e.g.
	// "partuuid,updatehash,gpt,".
	Features string
	// EEPROM is the Raspberry Pi EEPROM state; nil elsewhere.
	EEPROM *EEPROM
}

// Has reports whether the device announces feature name.
func (f *Features) Has(name string) bool {
	for _, s := range strings.Split(f.Features, ",") {
		if strings.TrimSpace(s) == name {
			return true
		}
	}
	return false
}

// List returns the features for a person to read: "partuuid, updatehash,
// gpt" (the device's list ends with a comma).
func (f *Features) List() string {
	var names []string
	for _, s := range strings.Split(f.Features, ",") {
		if s = strings.TrimSpace(s); s != "" {
			names = append(names, s)
		}
	}
	return strings.Join(names, ", ")
}

// GetFeatures fetches the device's update features (GET /update/features).
func GetFeatures(ctx context.Context, dev Device) (*Features, error) {
	c, err := newClient(dev)
	if err != nil {
		return nil, err
	}
	return c.features(ctx)
}

func (c *client) features(ctx context.Context) (*Features, error) {
	b, err := c.do(ctx, StepFeatures, http.MethodGet, "/update/features",
		http.Header{"Accept": {"application/json"}})
	if err != nil {
		return nil, err
	}
	f, err := parseFeatures(b)
	if err != nil {
		return nil, &Error{Step: StepFeatures, Method: http.MethodGet, URL: c.url("/update/features"), Err: err}
	}
	return f, nil
}

// parseFeatures decodes the JSON answer of /update/features, or the plain
// text one that devices send when they ignore the Accept header.
func parseFeatures(b []byte) (*Features, error) {
	t := bytes.TrimSpace(b)
	if len(t) > 0 && t[0] == '{' {
		var f struct {
			Features *string `json:"features"`
			EEPROM   *EEPROM `json:"EEPROM"`
		}
		if err := json.Unmarshal(t, &f); err != nil {
			return nil, fmt.Errorf("decoding features JSON %q: %v", errBody(t), err)
		}
		if f.Features == nil {
			return nil, fmt.Errorf("features JSON %q has no \"features\" field", errBody(t))
		}
		return &Features{Features: *f.Features, EEPROM: f.EEPROM}, nil
	}
	s := string(t)
	if s == "" || strings.ContainsAny(s, " <>\n\t{}") {
		return nil, errors.New("features answer " + fmt.Sprintf("%q", errBody(t)) + " is neither JSON nor a feature list")
	}
	return &Features{Features: s}, nil
}
