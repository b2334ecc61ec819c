package hw_test

import (
	"bufio"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/hw"
	"github.com/lapsebox/lapsebox/hw/hwtest"
)

// serve starts a RelayServer on a unix socket with a GPIO relay "camera"
// (real off times: 50 ms) and an unwired "modem".
func serve(t *testing.T) (socket string, chip *hwtest.Chip, camera *hw.GPIORelay, modem *hw.Unwired) {
	t.Helper()
	dir := t.TempDir()
	chip = &hwtest.Chip{Name: "gpiochip0", Label: "test", LineNames: make([]string, 4)}
	l, err := hwtest.NewGPIO(chip).Request(hw.RelayLine("test", "1", "watchdogd", false))
	if err != nil {
		t.Fatal(err)
	}
	camera = &hw.GPIORelay{Device: "camera", Line: l, Caps: hw.Caps{Off: 50 * time.Millisecond, MinInterval: time.Hour}}
	modem = &hw.Unwired{Recorder: hw.Recorder{Device: "modem", Path: filepath.Join(dir, "relay-requests.jsonl")}, Why: "no hardware section"}
	socket = hwtest.ServeRelays(t, map[string]hw.Cycler{"camera": camera, "modem": modem})
	return socket, chip, camera, modem
}

func TestRemotePowerCycle(t *testing.T) {
	socket, chip, camera, modem := serve(t)
	ctx := context.Background()
	cam := &hw.Remote{Device: "camera", From: "camerad", Socket: socket}
	var relay hw.Relay = cam
	if err := relay.PowerCycle(ctx, 10*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	// Returned once the power was back.
	if ch := chip.Changes(1); len(ch) != 2 || chip.Level(1) != 0 {
		t.Fatalf("line changes %+v", ch)
	}
	if c := camera.State().Cycles; len(c) != 1 || c[0].From != "camerad" || c[0].Off != 50*time.Millisecond {
		t.Errorf("cycles %+v", c)
	}
	// The caps answer through the socket, with the reason.
	err := relay.PowerCycle(ctx, 0)
	var re *hw.RefusedError
	if !errors.As(err, &re) || re.Relay != "camera" || !strings.Contains(re.Reason, "at most one every 1h0m0s") {
		t.Errorf("second cycle: %v", err)
	}
	// An unwired relay records the request and says so.
	err = (&hw.Remote{Device: "modem", From: "modemd", Socket: socket}).PowerCycle(ctx, time.Second)
	if !errors.As(err, &re) || !strings.Contains(re.Reason, "no relay wired (no hardware section); request recorded") {
		t.Errorf("unwired: %v", err)
	}
	if n := len(modem.Requests()); n != 1 {
		t.Errorf("%d modem requests recorded", n)
	}
	err = (&hw.Remote{Device: "pump", Socket: socket}).PowerCycle(ctx, 0)
	if !errors.As(err, &re) || !strings.Contains(re.Reason, `no relay named "pump" (relays: camera, modem)`) {
		t.Errorf("unknown relay: %v", err)
	}
	// No watchdogd: an error naming the socket, quickly.
	err = (&hw.Remote{Device: "camera", Socket: filepath.Join(t.TempDir(), "none.sock")}).PowerCycle(ctx, 0)
	if err == nil || errors.Is(err, hw.ErrRefused) || !strings.Contains(err.Error(), "none.sock") {
		t.Errorf("no server: %v", err)
	}
}

// Whatever arrives on the socket is checked before any relay moves.
func TestRelayServerRefusesBadRequests(t *testing.T) {
	socket, chip, _, _ := serve(t)
	for _, tc := range []struct{ name, send, want string }{
		{"not JSON", "hello\n", "bad request"},
		{"unknown field", `{"relay":"camera","offMs":0,"from":"x","force":true}` + "\n", "unknown field"},
		{"bad relay name", `{"relay":"../../etc","offMs":0}` + "\n", "bad relay name"},
		{"bad requester", `{"relay":"camera","from":"a b\u0000"}` + "\n", "bad requester name"},
		{"negative off", `{"relay":"camera","offMs":-5}` + "\n", "off time -5 ms"},
		{"off too long", `{"relay":"camera","offMs":86400000}` + "\n", "off time 86400000 ms: want 0 to 300000"},
		{"too long", `{"relay":"` + strings.Repeat("a", 5000) + "\n", "request longer than 1024 bytes"},
		{"no newline", `{"relay":"camera"}`, ""},
	} {
		conn, err := net.Dial("unix", socket)
		if err != nil {
			t.Fatal(err)
		}
		conn.Write([]byte(tc.send))
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		line, _ := bufio.NewReader(conn).ReadString('\n')
		conn.Close()
		if tc.want == "" {
			if line != "" {
				t.Errorf("%s: answered %q", tc.name, line)
			}
			continue
		}
		if !strings.Contains(line, tc.want) || !strings.Contains(line, `"error"`) {
			t.Errorf("%s: %q lacks %q", tc.name, line, tc.want)
		}
	}
	if n := len(chip.Changes(1)); n != 0 {
		t.Errorf("bad requests moved the relay %d times", n)
	}
	if _, err := os.Stat(socket); err != nil {
		t.Error(err)
	}
}
