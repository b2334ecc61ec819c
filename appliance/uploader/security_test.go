package uploader

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"log"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/appliance/config"
	"github.com/lapsebox/lapsebox/appliance/store"
	"github.com/lapsebox/lapsebox/appliance/upload"
	"github.com/lapsebox/lapsebox/cloud/ingest"
	"github.com/lapsebox/lapsebox/cloud/ingest/ingesttest"
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

// TestSpoolShareFullKeepsPhoto: a device over its share of cloudd's spool
// gets an answer that says why and when to come back; the photo stays in
// the outbox, not parked, due then, and goes once there is room.
func TestSpoolShareFullKeepsPhoto(t *testing.T) {
	c := ingesttest.Start(t, ingesttest.Options{Tokens: map[string]string{device: token}, Config: ingest.Config{MaxUploads: 1}})
	// An upload the device abandoned (its answer was lost, say) holds the
	// device's share.
	req, _ := http.NewRequest("POST", c.URL()+ingest.FilesPath, nil)
	for k, v := range map[string]string{"Tus-Resumable": "1.0.0", "Authorization": "Bearer " + token, ingest.DeviceHeader: device, "Upload-Length": "10",
		"Upload-Metadata": "filename " + base64.StdEncoding.EncodeToString([]byte("lost.jpg")) + ",sha256 " + base64.StdEncoding.EncodeToString([]byte(strings.Repeat("0", 64)))} {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 201 {
		t.Fatalf("abandoned upload: %v %v", resp, err)
	}
	resp.Body.Close()
	abandoned := resp.Header.Get("Location")

	st, _ := store.Open(t.TempDir())
	want := fill(t, st, 1, 1000, "cloud")
	u := &Uploader{Store: st, Targets: []*Target{cloudTarget(t, c.URL(), config.Target{})}, Poll: 10 * time.Millisecond}
	start := time.Now()
	runUntil(t, u, 30*time.Second, func() bool { return u.Snapshot().Targets[0].LastError != "" })
	es, err := st.Pending("cloud")
	if err != nil || len(es) != 1 {
		t.Fatalf("outbox: %v, %v; want the photo still there", es, err)
	}
	e := es[0]
	if e.Parked != "" || !strings.Contains(e.LastError, "unfinished uploads") || e.NextAttempt.Before(start.Add(50*time.Minute)) {
		t.Errorf("entry %+v: want it pending, saying why, due in about an hour (the server's Retry-After)", e)
	}
	t.Logf("the device was told: %s (next attempt in %v)", e.LastError, time.Until(e.NextAttempt).Round(time.Minute))
	// Room is made (the abandoned upload goes); the photo is due again.
	del, _ := http.NewRequest("DELETE", abandoned, nil)
	del.Header = req.Header.Clone()
	if resp, err := http.DefaultClient.Do(del); err != nil || resp.StatusCode != 204 {
		t.Fatalf("DELETE of the abandoned upload: %v %v", resp, err)
	}
	e.NextAttempt = time.Now()
	if err := st.Update(e); err != nil {
		t.Fatal(err)
	}
	runUntil(t, u, 30*time.Second, func() bool { return pending(t, st, "cloud") == 0 })
	got := c.Received(device)
	for name, sum := range want {
		if got[name] != sum {
			t.Errorf("%s: cloud has %q, want %s", name, got[name], sum)
		}
	}
}
