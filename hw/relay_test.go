package hw

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRecorderRecords(t *testing.T) {
	path := filepath.Join(t.TempDir(), "relay.jsonl")
	r := &Recorder{Device: "camera", Path: path}
	var relay Relay = r
	for i := 0; i < 2; i++ {
		if err := relay.PowerCycle(context.Background(), 5*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if got := r.Requests(); len(got) != 2 || got[0].Relay != "camera" || got[0].Off != 5*time.Second {
		t.Errorf("requests %+v", got)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	var req PowerCycleRequest
	if len(lines) != 2 || json.Unmarshal([]byte(lines[1]), &req) != nil || req.Relay != "camera" {
		t.Errorf("recorded file %q", b)
	}
	bad := &Recorder{Device: "modem", Path: filepath.Join(t.TempDir(), "missing", "x")}
	if err := bad.PowerCycle(context.Background(), time.Second); err == nil || !strings.Contains(err.Error(), "modem") {
		t.Errorf("unwritable record file: %v", err)
	}
}
