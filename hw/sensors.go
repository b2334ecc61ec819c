package hw

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Sensors reads the board's health from the kernel: SoC temperatures
// (thermal zones), the Raspberry Pi firmware's under-voltage and
// throttling flags, the use of the disk /perm is on, uptime and the clock.
// A sensor the kernel does not have is left out, not an error.
type Sensors struct {
	Sys  string // "/sys" if empty
	Proc string // "/proc" if empty
	Perm string // the file system whose use is read; "" reads none
	// ClockFloor is the earliest time the clock may plausibly read (a
	// clock before it was never set).
	ClockFloor time.Time
	// Now is the clock (time.Now if nil).
	Now func() time.Time
}

// Readings are the sensors at one instant.
type Readings struct {
	Temperatures []Temperature
	Throttle     *Throttle // nil: the kernel has no such node (not a Pi)
	Disk         *Disk     // nil: Perm unset or unreadable (see Errs)
	Uptime       time.Duration
	Clock        Clock
	// Errs are sensors that exist but could not be read.
	Errs []string
}

// Temperature is one thermal zone.
type Temperature struct {
	Zone    string // "thermal_zone0"
	Type    string // "cpu-thermal"
	Celsius float64
}

// Throttle is the Raspberry Pi firmware's report on power and heat.
type Throttle struct {
	Raw uint32
	// Now.
	UnderVoltage, FrequencyCapped, Throttled, SoftTempLimit bool
	// Since boot.
	UnderVoltageOccurred, FrequencyCappedOccurred, ThrottledOccurred, SoftTempLimitOccurred bool
	// Source is the node read: "get_throttled" (the Pi's own kernels
	// report every flag) or "rpi_volt" (mainline's hwmon: under-voltage
	// only).
	Source string
}

// The bits of the firmware's get_throttled.
const (
	throttleUnderVoltage        = 1 << 0
	throttleFrequencyCapped     = 1 << 1
	throttleThrottled           = 1 << 2
	throttleSoftTempLimit       = 1 << 3
	throttleUnderVoltageOccured = 1 << 16
	throttleCappedOccurred      = 1 << 17
	throttleThrottledOccurred   = 1 << 18
	throttleSoftTempOccurred    = 1 << 19
)

// ParseThrottled decodes the firmware's get_throttled value ("50005",
// "0x50005").
func ParseThrottled(s string) (*Throttle, error) {
	t := strings.TrimPrefix(strings.TrimSpace(s), "0x")
	v, err := strconv.ParseUint(t, 16, 32)
	if err != nil {
		return nil, fmt.Errorf("get_throttled %q: not a hexadecimal number", strings.TrimSpace(s))
	}
	b := uint32(v)
	return &Throttle{
		Raw:                     b,
		UnderVoltage:            b&throttleUnderVoltage != 0,
		FrequencyCapped:         b&throttleFrequencyCapped != 0,
		Throttled:               b&throttleThrottled != 0,
		SoftTempLimit:           b&throttleSoftTempLimit != 0,
		UnderVoltageOccurred:    b&throttleUnderVoltageOccured != 0,
		FrequencyCappedOccurred: b&throttleCappedOccurred != 0,
		ThrottledOccurred:       b&throttleThrottledOccurred != 0,
		SoftTempLimitOccurred:   b&throttleSoftTempOccurred != 0,
		Source:                  "get_throttled",
	}, nil
}

// Disk is the use of a file system.
type Disk struct {
	Path                  string
	UsedBytes, TotalBytes uint64
}

// UsedPercent is the share of the file system in use, as df counts it
// (blocks reserved for root count as used).
func (d *Disk) UsedPercent() float64 {
	if d.TotalBytes == 0 {
		return 0
	}
	return 100 * float64(d.UsedBytes) / float64(d.TotalBytes)
}

// Clock is the state of the system clock.
type Clock struct {
	Now time.Time
	// Plausible: not before the floor; a clock never set reads 1970 on
	// boards without a real-time clock.
	Plausible bool
	// Synchronized is the kernel's view: a daemon disciplines the clock
	// (adjtimex). gokrazy's ntp steps the clock with settimeofday
	// instead, which the kernel reports as unsynchronized; nil where
	// unknown.
	Synchronized *bool
}

func (s *Sensors) path(root, def string, elem ...string) string {
	if root == "" {
		root = def
	}
	return filepath.Join(append([]string{root}, elem...)...)
}

// Read reads every sensor.
func (s *Sensors) Read() Readings {
	var r Readings
	fail := func(what string, err error) {
		r.Errs = append(r.Errs, fmt.Sprintf("%s: %v", what, err))
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	r.Clock = Clock{Now: now()}
	r.Clock.Plausible = !r.Clock.Now.Before(s.ClockFloor)
	r.Clock.Synchronized = clockSynchronized()

	zones, _ := filepath.Glob(s.path(s.Sys, "/sys", "class", "thermal", "thermal_zone*"))
	sort.Strings(zones)
	for _, z := range zones {
		milli, err := readInt(filepath.Join(z, "temp"))
		if err != nil {
			fail(filepath.Base(z), err)
			continue
		}
		typ, _ := os.ReadFile(filepath.Join(z, "type"))
		r.Temperatures = append(r.Temperatures, Temperature{Zone: filepath.Base(z), Type: strings.TrimSpace(string(typ)), Celsius: float64(milli) / 1000})
	}

	var err error
	if r.Throttle, err = s.throttle(); err != nil {
		fail("throttle", err)
	}

	if b, err := os.ReadFile(s.path(s.Proc, "/proc", "uptime")); err != nil {
		fail("uptime", err)
	} else if f := strings.Fields(string(b)); len(f) == 0 {
		fail("uptime", errors.New("empty"))
	} else if sec, err := strconv.ParseFloat(f[0], 64); err != nil {
		fail("uptime", err)
	} else {
		r.Uptime = time.Duration(sec * float64(time.Second))
	}

	if s.Perm != "" {
		if d, err := diskUse(s.Perm); err != nil {
			fail("disk", err)
		} else {
			r.Disk = d
		}
	}
	return r
}

// throttle reads the firmware's flags where the kernel exposes them.
func (s *Sensors) throttle() (*Throttle, error) {
	for _, pattern := range []string{
		"devices/platform/soc/soc:firmware/get_throttled",
		"devices/platform/*firmware*/get_throttled",
		"devices/platform/*/*firmware*/get_throttled",
	} {
		matches, _ := filepath.Glob(s.path(s.Sys, "/sys", pattern))
		if len(matches) == 0 {
			continue
		}
		b, err := os.ReadFile(matches[0])
		if err != nil {
			return nil, err
		}
		return ParseThrottled(string(b))
	}
	hwmons, _ := filepath.Glob(s.path(s.Sys, "/sys", "class", "hwmon", "hwmon*"))
	for _, h := range hwmons {
		name, err := os.ReadFile(filepath.Join(h, "name"))
		if err != nil || strings.TrimSpace(string(name)) != "rpi_volt" {
			continue
		}
		v, err := readInt(filepath.Join(h, "in0_lcrit_alarm"))
		if err != nil {
			return nil, err
		}
		return &Throttle{UnderVoltage: v != 0, Source: "rpi_volt"}, nil
	}
	return nil, nil
}

func readInt(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return 0, fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %q is not a number", filepath.Base(path), strings.TrimSpace(string(b)))
	}
	return v, nil
}
