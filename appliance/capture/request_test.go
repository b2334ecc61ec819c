package capture

import (
	"reflect"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/appliance/request"
	"github.com/lapsebox/lapsebox/ptp/sim"
)

// A posted request gets a picture between slots, named after the moment
// it was taken, and is taken once.
func TestCaptureRequest(t *testing.T) {
	h := newHarness(t, sim.Config{}, every(time.Hour), day0, day0.Add(30*time.Minute))
	h.loop.Requests = t.TempDir()
	if err := request.Post(h.loop.Requests, request.Capture, request.Request{From: "modemd", Reason: "SMS from +33687650921", Time: day0}); err != nil {
		t.Fatal(err)
	}
	if err := h.loop.Run(h.ctx); err != nil {
		t.Fatal(err)
	}
	want := []string{"photos/2026/11/26/20261126000000.jpg", "photos/2026/11/26/20261126000040.jpg"}
	if got := photosOf(t, h.store); !reflect.DeepEqual(got, want) {
		t.Errorf("photos %q, want the 00:00 slot and the requested one %q", got, want)
	}
	if st := h.loop.Status.Snapshot(); st.Captures != 2 {
		t.Errorf("%d captures", st.Captures)
	}
}
