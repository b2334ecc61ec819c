package status

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/lapsebox/lapsebox/internal/gokrazyhttp"
)

// State is what a gokrazy service is doing.
type State string

// The states of a gokrazy service.
const (
	// StateRunning: the process is alive and gokrazy keeps it supervised.
	StateRunning State = "running"
	// StateStopping: the process is alive but gokrazy was told to stop it
	// (or it is the last run of a run-once service).
	StateStopping State = "stopping"
	// StateStopped: the process is gone and gokrazy will not start it again:
	// it exited with status 0 or 125, was stopped by hand, or was run once.
	StateStopped State = "stopped"
	// StateExited: the process is gone and gokrazy will restart it within
	// a second. A service seen here repeatedly is crashing.
	StateExited State = "exited"
	// StateNotStarted: gokrazy has no process for the service: it waits for
	// the clock to be set, or its binary could not be started.
	StateNotStarted State = "not started"
	// StateUnknown: whether the process is alive could not be read.
	StateUnknown State = "unknown"
)

// Service is one of gokrazy's supervised processes.
type Service struct {
	// Name is the base name of Path ("camerad").
	Name string `json:"name"`
	// Path is the binary ("/user/camerad", "/gokrazy/ntp").
	Path string `json:"path"`
	// Diverted is the binary run instead of Path, if any (gokrazy's
	// "divert" for development).
	Diverted string `json:"diverted,omitempty"`
	// State says whether the service is running.
	State State `json:"state"`
	// Pid is the process ID of the last process started.
	Pid int `json:"pid,omitempty"`
	// Started is when gokrazy last started the process. gokrazy does not
	// count restarts; a recent Started on a long-running appliance means
	// the service was restarted then.
	Started time.Time `json:"started,omitzero"`
	// UpSeconds is the time since Started, while the service runs; 0 if
	// Started is after the snapshot (the clock was set back since).
	UpSeconds float64 `json:"upSeconds,omitempty"`
	// RSSBytes is the running process's resident memory.
	RSSBytes int64 `json:"rssBytes,omitempty"`
	// RSSAnonBytes is the part of RSSBytes that is the process's own
	// memory (heap, stacks); the rest are pages of its binary and
	// libraries, which the page cache holds and can drop and reread.
	RSSAnonBytes int64 `json:"rssAnonBytes,omitempty"`
	// ContextSwitches counts the switches to the running process's
	// threads since they started: its wakeups. Two snapshots apart
	// give its rate; an idle service should add less than one a second.
	ContextSwitches uint64 `json:"contextSwitches,omitempty"`
	// MonitorSwitches is the part of ContextSwitches that is the Go
	// runtime's monitor thread's (sysmon, the process's second thread):
	// it polls while any of the process's goroutines runs, tens of times
	// for each of the process's wake-ups. ContextSwitches minus
	// MonitorSwitches counts the process's own.
	MonitorSwitches uint64 `json:"monitorSwitches,omitempty"`
}

// gokrazyStatus is the part of the JSON gokrazy serves at / (see
// status.go in github.com/gokrazy/gokrazy) that statusd uses.
type gokrazyStatus struct {
	Services       []gokrazyService
	BuildTimestamp string
	Hostname       string
	Model          string
	Kernel         string
}

// gokrazyService is how gokrazy marshals a service (service.MarshalJSON in
// gokrazy's supervise.go). Args is left out on purpose: a service's flags
// may carry secrets.
type gokrazyService struct {
	Stopped   bool // gokrazy will not (re)start the service
	StartTime time.Time
	Pid       int // of the last process started, 0 if none; stays set after it exits
	Path      string
	Diverted  string
}

// maxGokrazyResponse bounds what is read from gokrazy. Its status JSON is a
// few KiB; logs are not part of it.
const maxGokrazyResponse = 4 << 20

// fetchGokrazy asks gokrazy for its status over its unix socket.
func (c *Collector) fetchGokrazy(ctx context.Context) (*gokrazyStatus, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	where := fmt.Sprintf("gokrazy: GET / over %s", c.cfg.GokrazySocket)

	pw, pwFile, err := gokrazyhttp.ReadPassword(c.cfg.PasswordFiles)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://gokrazy/", nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	req.Header.Set("Accept", "application/json")
	if pwFile != "" {
		req.SetBasicAuth("gokrazy", pw)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		// Not "Get "http://gokrazy/": …": the URL is made up.
		if ue := (*url.Error)(nil); errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxGokrazyResponse+1))
	if err != nil {
		return nil, fmt.Errorf("%s: reading response: %w", where, err)
	}
	if resp.StatusCode != http.StatusOK {
		msg := string(bytes.TrimSpace(body))
		if len(msg) > 200 {
			msg = strings.ToValidUTF8(msg[:200], "") + "…"
		}
		if resp.StatusCode == http.StatusUnauthorized {
			if pwFile == "" {
				msg += fmt.Sprintf(" (no password file found among %q)", c.cfg.PasswordFiles)
			} else {
				msg += fmt.Sprintf(" (password from %s)", pwFile)
			}
		}
		return nil, fmt.Errorf("%s: %s: %s", where, resp.Status, msg)
	}
	if len(body) > maxGokrazyResponse {
		return nil, fmt.Errorf("%s: response larger than %d bytes", where, maxGokrazyResponse)
	}
	gs, err := parseGokrazyStatus(body)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	return gs, nil
}

// parseGokrazyStatus decodes the JSON gokrazy serves at /.
func parseGokrazyStatus(b []byte) (*gokrazyStatus, error) {
	var gs gokrazyStatus
	if err := json.Unmarshal(b, &gs); err != nil {
		return nil, fmt.Errorf("decoding status JSON: %w", err)
	}
	return &gs, nil
}

// servicesFrom turns gokrazy's services into Services, asking procDir
// whether each process is alive: gokrazy's JSON keeps the PID of a process
// that has exited.
func servicesFrom(gss []gokrazyService, procDir string, now time.Time) []Service {
	services := make([]Service, 0, len(gss))
	for _, gs := range gss {
		s := Service{
			Name:     path.Base(gs.Path),
			Path:     gs.Path,
			Diverted: gs.Diverted,
			Pid:      gs.Pid,
			Started:  gs.StartTime,
		}
		var alive bool
		var err error
		if gs.Pid > 0 {
			alive, err = processAlive(procDir, gs.Pid)
		}
		switch {
		case gs.Pid <= 0:
			s.Pid = 0
			if gs.Stopped {
				s.State = StateStopped
			} else {
				s.State = StateNotStarted
			}
		case err != nil:
			s.State = StateUnknown
		case alive && gs.Stopped:
			s.State = StateStopping
		case alive:
			s.State = StateRunning
		case gs.Stopped:
			s.State = StateStopped
		default:
			s.State = StateExited
		}
		if (s.State == StateRunning || s.State == StateStopping) && !s.Started.IsZero() {
			// Never negative: right after boot the clock may be stepped
			// back a little past a start time.
			s.UpSeconds = max(now.Sub(s.Started), 0).Seconds()
		}
		if s.State == StateRunning || s.State == StateStopping {
			// Best effort: a process that just ended has no usage.
			if u, err := readUsage(procDir, s.Pid); err == nil {
				s.RSSBytes, s.RSSAnonBytes, s.ContextSwitches, s.MonitorSwitches = u.rss, u.anon, u.switches, u.monitorSwitches
			}
		}
		services = append(services, s)
	}
	return services
}
