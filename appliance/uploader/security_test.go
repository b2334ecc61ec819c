package uploader

import (
	"bytes"
	"fmt"
	"log"
	"strings"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/appliance/config"
	"github.com/lapsebox/lapsebox/appliance/store"
	"github.com/lapsebox/lapsebox/appliance/upload"
)

// TestErrorsRedacted: an error that carries a URL with a password and a
// token in its query shows neither in the outbox entry, the status (last
// error, parked reasons) nor the log.
func TestErrorsRedacted(t *testing.T) {
	st, _ := store.Open(t.TempDir())
	fill(t, st, 2, 1000, "dav")
	ft := &fakeTarget{fail: func(name string) error {
		err := fmt.Errorf(`Put "https://alice:hunter2@dav.example.com/%s?token=s3cret": connection refused`, name)
		if strings.HasSuffix(name, "120500.jpg") {
			return &upload.PermanentError{StatusCode: 403, Err: err}
		}
		return err
	}}
	var logs bytes.Buffer
	u := &Uploader{Store: st, Targets: []*Target{{Config: config.Target{Name: "dav", Kind: config.WebDAV, Send: config.SendJPG}, Transport: ft, ConfigHash: "v1"}},
		Log: log.New(&logs, "", 0), Poll: 10 * time.Millisecond, MinBackoff: time.Hour, MaxBackoff: time.Hour}
	runUntil(t, u, 10*time.Second, func() bool {
		s := u.Snapshot().Targets[0]
		return s.Parked == 1 && s.LastError != ""
	})
	es, err := st.Pending("dav")
	if err != nil {
		t.Fatal(err)
	}
	s := u.Snapshot().Targets[0]
	shown := []string{s.LastError, logs.String()}
	shown = append(shown, s.ParkedReasons...)
	for _, e := range es {
		shown = append(shown, e.LastError, e.Parked)
	}
	for _, v := range shown {
		if strings.Contains(v, "hunter2") || strings.Contains(v, "s3cret") || strings.Contains(v, "alice") {
			t.Errorf("a secret shows: %q", v)
		}
	}
	if !strings.Contains(s.LastError, "https://dav.example.com/") || !strings.Contains(s.LastError, "token=REDACTED") {
		t.Errorf("last error %q lost what a person needs (the host, the path, the query's names)", s.LastError)
	}
}
