package fleet

import (
	"crypto/sha256"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/appliance/heartbeat"
	"github.com/lapsebox/lapsebox/cloud/state"
	"github.com/lapsebox/lapsebox/cloud/state/statetest"
)

// fleetOf makes a state of n devices, each with a heartbeat (an update
// section included), a tenth of them silent with their alert firing,
// another tenth with a release rolled back, and a Service on it.
func fleetOf(b *testing.B, dsn string, n int) *Service {
	db := statetest.Open(b, dsn)
	svc := New(Config{DB: db, Now: func() time.Time { return t0.Add(time.Hour) }, Location: time.UTC, Logger: quiet()})
	for i := range n {
		name := fmt.Sprintf("site-%04d", i)
		if err := db.AddDevice(ctx, state.Device{Name: name, TokenSHA256: sha256.Sum256([]byte(name)), Created: t0}); err != nil {
			b.Fatal(err)
		}
		at := t0.Add(time.Hour - time.Minute)
		if i%10 == 0 {
			at = t0
		}
		d := &device{name: name, connected: true, queue: i % 17, missed: i % 3, captures: 100, update: &heartbeat.Update{State: "waiting",
			Channel: "stable", Version: "2026.06.09", Build: t0.AddDate(0, 0, -7), CommittedVersion: "2026.06.09", Committed: t0.AddDate(0, 0, -7),
			Last: &heartbeat.Attempt{Time: t0.AddDate(0, 0, -6), Version: "2026.06.09", Result: "installed", RootBytes: 120 << 20, FetchedBytes: 9 << 20}}}
		if i%10 == 5 {
			d.update.Last = &heartbeat.Attempt{Time: t0.Add(-time.Hour), Version: "2026.06.16", Result: "rolled back",
				Error: "camerad took no picture in the 30 minutes of the trial", RootBytes: 120 << 20, FetchedBytes: 7 << 20, Failures: 1}
		}
		if err := svc.Record(ctx, name, d.heartbeat(at), at); err != nil {
			b.Fatal(err)
		}
	}
	if err := svc.EvaluateAll(ctx, t0.Add(time.Hour)); err != nil {
		b.Fatal(err)
	}
	return svc
}

// The fleet page of 1,000 devices, rendered from the state: against the
// JSON API's answer for the same devices, the reference.
func BenchmarkFleetPage1000(b *testing.B) {
	for _, be := range statetest.Backends {
		b.Run(be.Name, func(b *testing.B) {
			svc := fleetOf(b, be.DSN(b), 1000)
			req := httptest.NewRequest("GET", "/fleet", nil)
			b.Run("page", func(b *testing.B) {
				var size int
				for b.Loop() {
					page, err := svc.RenderPage(req, t0.Add(time.Hour), "state", false, "nonce")
					if err != nil {
						b.Fatal(err)
					}
					size = len(page)
				}
				b.ReportMetric(float64(size), "bytes/page")
			})
			api := svc.APIHandler()
			b.Run("json-reference", func(b *testing.B) {
				for b.Loop() {
					rec := httptest.NewRecorder()
					api.ServeHTTP(rec, httptest.NewRequest("GET", "/api/v1/devices", nil))
					if rec.Code != 200 {
						b.Fatal(rec.Code)
					}
				}
			})
		})
	}
}
