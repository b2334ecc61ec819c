package config

import "encoding/json"

// The JSON shape of a configuration file. Values that need parsing
// (durations, times of day, days, time zones, kinds) are plain strings here,
// so that decoding fails only on JSON syntax, unknown fields and JSON types
// (errors that strictjson reports with their line), and every bad value is
// reported at once, with its field and line, by validate.

type fileConfig struct {
	Site      fileSite          `json:"site"`
	Camera    fileCamera        `json:"camera"`
	Schedule  fileSchedule      `json:"schedule"`
	Targets   []fileTarget      `json:"targets"`
	Retention fileRetention     `json:"retention"`
	Modem     fileModem         `json:"modem"`
	Update    *fileUpdate       `json:"update,omitempty"`
	Hardware  *fileHardware     `json:"hardware,omitempty"`
	Status    fileStatus        `json:"status"`
	Secrets   map[string]string `json:"secrets"`
}

type fileSite struct {
	Name      string   `json:"name"`
	TimeZone  string   `json:"time_zone"`
	Latitude  *float64 `json:"latitude,omitempty"`
	Longitude *float64 `json:"longitude,omitempty"`
}

type fileCamera struct {
	Model   string `json:"model"`
	Serial  string `json:"serial"`
	Mode    string `json:"mode"`
	Keep    string `json:"keep"`
	MinSize int64  `json:"min_size"`
}

type fileSchedule struct {
	Interval string       `json:"interval"`
	MinGap   string       `json:"min_gap"`
	Windows  []fileWindow `json:"windows"`
}

type fileWindow struct {
	Days     []string `json:"days,omitempty"`
	Start    string   `json:"start"`
	End      string   `json:"end"`
	Interval string   `json:"interval,omitempty"`
}

type fileTarget struct {
	Name              string          `json:"name"`
	Kind              string          `json:"kind"`
	Secret            string          `json:"secret,omitempty"`
	URL               string          `json:"url,omitempty"`
	Bucket            string          `json:"bucket,omitempty"`
	Region            string          `json:"region,omitempty"`
	User              string          `json:"user,omitempty"`
	Send              string          `json:"send,omitempty"`
	Process           json.RawMessage `json:"process,omitempty"`
	Windows           []fileWindow    `json:"windows,omitempty"`
	MinInterval       string          `json:"min_interval,omitempty"`
	MaxBytesPerSecond int64           `json:"max_bytes_per_second,omitempty"`
	Concurrency       int             `json:"concurrency,omitempty"`
	Priority          int             `json:"priority,omitempty"`
}

type fileRetention struct {
	MaxAge    string `json:"max_age"`
	HighWater int    `json:"high_water"`
	LowWater  int    `json:"low_water"`
	Critical  int    `json:"critical"`
}

// defaults returns the values a file starts from: a field the file leaves
// out keeps its default (decoding merges into this value).
func defaults() fileConfig {
	return fileConfig{
		Camera:    fileCamera{Mode: string(Capture), Keep: string(KeepJPG), MinSize: DefaultMinSize},
		Schedule:  fileSchedule{Interval: "5m", MinGap: "3s"},
		Retention: fileRetention{MaxAge: "0", HighWater: 85, LowWater: 75, Critical: 95},
		Modem:     defaultModem(),
	}
}
