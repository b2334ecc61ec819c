package capture

import (
	"time"

	"github.com/lapsebox/lapsebox/appliance/request"
)

// captureRequested takes a pending request for a picture now (modemd
// posts one when an SMS says "capture"); it reports whether there was one.
func (l *Loop) captureRequested() bool {
	if l.Requests == "" {
		return false
	}
	r, ok, err := request.Take(l.Requests, request.Capture)
	if err != nil {
		l.Log.Printf("capture request: %v", err)
	}
	if ok {
		l.Log.Printf("a picture now, asked by %s (%s) at %s", r.From, r.Reason, r.Time.Format(time.RFC3339))
	}
	return ok
}
