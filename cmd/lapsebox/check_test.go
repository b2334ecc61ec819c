package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/appliance/heartbeat"
	"github.com/lapsebox/lapsebox/cloud/server"
	"github.com/lapsebox/lapsebox/cloud/server/servertest"
	"github.com/lapsebox/lapsebox/cloud/state"
	"github.com/lapsebox/lapsebox/internal/testtool"
)

// TestMain lets the test binary be the lapsebox command, so that Nagios
// runs the real check command: a wrapper script sets asMain.
func TestMain(m *testing.M) {
	if os.Getenv(asMain) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

const asMain = "LAPSEBOX_TEST_AS_MAIN"

// cloudWithDevices runs cloudd in-process with devices in the states the
// check tells apart, and returns its admin URL.
func cloudWithDevices(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	s := servertest.Start(t, server.Config{}, server.Options{})
	now := time.Now()
	beat := func(name string, received, captured time.Time) {
		t.Helper()
		if err := s.DB.AddDevice(ctx, state.Device{Name: name, TokenSHA256: sha256.Sum256([]byte(name)), Created: now}); err != nil {
			t.Fatal(err)
		}
		if received.IsZero() {
			return
		}
		hb := &heartbeat.Heartbeat{V: 1, Time: received, Camera: &heartbeat.Camera{State: "waiting", Connected: true, LastCapture: captured},
			Queues: []heartbeat.Queue{{Target: "cloud", Pending: 2}}}
		if err := s.Fleet.Record(ctx, name, hb, received); err != nil {
			t.Fatal(err)
		}
	}
	beat("cam-ok", now.Add(-time.Minute), now.Add(-2*time.Minute))
	beat("cam-old", now.Add(-time.Minute), now.Add(-time.Hour))
	beat("cam-silent", now.Add(-time.Hour), now.Add(-time.Hour))
	if err := s.Fleet.EvaluateAll(ctx, now); err != nil {
		t.Fatal(err)
	}
	return s.AdminURL
}

// The check command run by a real Nagios 4, started by the test with a
// configuration of its own: the state Nagios records for each device is
// the one the plugin conventions give.
func TestCheckUnderNagios(t *testing.T) {
	nagios := testtool.Program(t, "nagios4")
	admin := cloudWithDevices(t)
	dir := t.TempDir()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	plugin := filepath.Join(dir, "lapsebox")
	os.WriteFile(plugin, []byte(fmt.Sprintf("#!/bin/sh\n%s=1 exec %s \"$@\"\n", asMain, self)), 0o755)
	services := []struct {
		device, args string
		state        int
	}{
		{"cam-ok", "-warning 1800 -critical 7200", 0},
		{"cam-old", "-warning 1800 -critical 7200", 1},
		{"cam-silent", "", 2},
		{"cam-nope", "", 3},
	}
	writeNagiosConfig(t, dir, plugin, admin, func(add func(device, args string)) {
		for _, s := range services {
			add(s.device, s.args)
		}
	})
	if out, err := exec.Command(nagios, "-v", filepath.Join(dir, "nagios.cfg")).CombinedOutput(); err != nil {
		t.Fatalf("nagios4 -v: %v\n%s", err, out)
	}
	cmd := exec.Command(nagios, filepath.Join(dir, "nagios.cfg"))
	cmd.Dir = dir
	log, _ := os.Create(filepath.Join(dir, "stdout.log"))
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	})
	// Nagios makes its command pipe once it runs.
	pipe := filepath.Join(dir, "nagios.cmd")
	waitUntil(t, "Nagios's command pipe", exited, func() bool {
		fi, err := os.Stat(pipe)
		return err == nil && fi.Mode()&os.ModeNamedPipe != 0
	})
	forced := time.Now().Unix()
	f, err := os.OpenFile(pipe, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range services {
		fmt.Fprintf(f, "[%d] SCHEDULE_FORCED_SVC_CHECK;cloudd;%s;%d\n", forced, s.device, forced)
	}
	f.Close()
	status := filepath.Join(dir, "status.dat")
	var got map[string]map[string]string
	waitUntil(t, "Nagios to record the forced checks", exited, func() bool {
		got = serviceStatus(status)
		for _, s := range services {
			st := got[s.device]
			last, _ := strconv.ParseInt(st["last_check"], 10, 64)
			if st["has_been_checked"] != "1" || last < forced {
				return false
			}
		}
		return true
	})
	for _, s := range services {
		st := got[s.device]
		if st["current_state"] != strconv.Itoa(s.state) {
			t.Errorf("%s: Nagios recorded state %s, want %d (output %q)", s.device, st["current_state"], s.state, st["plugin_output"])
		}
		t.Logf("%s: %s | %s", s.device, st["plugin_output"], st["performance_data"])
	}
	if p := got["cam-ok"]["performance_data"]; !strings.Contains(p, "picture_age=") || !strings.Contains(p, ";1800;7200;0;") {
		t.Errorf("cam-ok's performance data %q", p)
	}
}

// writeNagiosConfig writes nagios.cfg and objects.cfg in dir: one host,
// a service running plugin per device.
func writeNagiosConfig(t *testing.T, dir, plugin, admin string, services func(add func(device, args string))) {
	t.Helper()
	os.MkdirAll(filepath.Join(dir, "checkresults"), 0o755)
	user := "root"
	if os.Geteuid() != 0 {
		user = strconv.Itoa(os.Geteuid())
	}
	main := fmt.Sprintf(`log_file=%[1]s/nagios.log
cfg_file=%[1]s/objects.cfg
object_cache_file=%[1]s/objects.cache
precached_object_file=%[1]s/objects.precache
status_file=%[1]s/status.dat
status_update_interval=1
nagios_user=%[2]s
nagios_group=%[2]s
check_external_commands=1
command_file=%[1]s/nagios.cmd
lock_file=%[1]s/nagios.lock
temp_file=%[1]s/nagios.tmp
temp_path=%[1]s
check_result_path=%[1]s/checkresults
check_result_reaper_frequency=1
retain_state_information=0
state_retention_file=%[1]s/retention.dat
query_socket=%[1]s/nagios.qh
execute_service_checks=1
enable_notifications=0
interval_length=60
use_syslog=0
log_rotation_method=n
illegal_macro_output_chars=`+"`"+`~$&|'"<>
`, dir, user)
	var b strings.Builder
	fmt.Fprintf(&b, `define timeperiod {
  timeperiod_name always
  alias always
  sunday 00:00-24:00
  monday 00:00-24:00
  tuesday 00:00-24:00
  wednesday 00:00-24:00
  thursday 00:00-24:00
  friday 00:00-24:00
  saturday 00:00-24:00
}
define command {
  command_name check_lapsebox
  command_line %s check -server $ARG1$ -device $ARG2$ $ARG3$
}
define command {
  command_name up
  command_line /bin/true
}
define contact {
  contact_name nobody
  host_notifications_enabled 0
  service_notifications_enabled 0
  host_notification_period always
  service_notification_period always
  host_notification_options n
  service_notification_options n
  host_notification_commands up
  service_notification_commands up
}
define host {
  host_name cloudd
  address 127.0.0.1
  check_command up
  max_check_attempts 1
  check_period always
  notification_period always
  contacts nobody
}
`, plugin)
	services(func(device, args string) {
		fmt.Fprintf(&b, `define service {
  host_name cloudd
  service_description %s
  check_command check_lapsebox!%s!%s!%s
  max_check_attempts 1
  check_interval 1440
  retry_interval 1440
  notification_interval 1440
  check_period always
  notification_period always
  contacts nobody
}
`, device, admin, device, args)
	})
	os.WriteFile(filepath.Join(dir, "nagios.cfg"), []byte(main), 0o644)
	os.WriteFile(filepath.Join(dir, "objects.cfg"), []byte(b.String()), 0o644)
}

// serviceStatus reads status.dat's servicestatus blocks, by service.
func serviceStatus(path string) map[string]map[string]string {
	out := map[string]map[string]string{}
	f, err := os.Open(path)
	if err != nil {
		return out
	}
	defer f.Close()
	var cur map[string]string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "servicestatus {":
			cur = map[string]string{}
		case line == "}" && cur != nil:
			out[cur["service_description"]] = cur
			cur = nil
		case cur != nil:
			if k, v, ok := strings.Cut(line, "="); ok {
				cur[k] = v
			}
		}
	}
	return out
}

// waitUntil polls cond until it holds, failing if Nagios exits or two
// minutes pass (a bound for a stuck test, not a speed requirement).
func waitUntil(t *testing.T, what string, exited <-chan error, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		select {
		case err := <-exited:
			t.Fatalf("waiting for %s: nagios4 exited: %v", what, err)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: gave up after 2 minutes", what)
		}
	}
}
