package update

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/image/update/updatetest"
)

// TestPushBootSlotFallback pushes boot files to devices whose updated
// cannot take them: nothing listens on its port, or an updated without
// the handler answers 404. gokrazy then writes them in place, as
// before, and the push says so. An updated that refuses them (409)
// stops the push: nothing is written in place, and no reboot asked.
func TestPushBootSlotFallback(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()
	notFound := httptest.NewServer(http.NotFoundHandler())
	defer notFound.Close()
	refusing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(BootSHA256Header) == "" {
			t.Error("the push carries no hash")
		}
		http.Error(w, "a release runs on trial: commit it or reboot first", http.StatusConflict)
	}))
	defer refusing.Close()
	for _, tt := range []struct {
		name, updated string
		inPlace       bool
	}{
		{"nothing listening", closed, true},
		{"an updated without the handler", notFound.URL, true},
		{"an updated that refuses", refusing.URL, false},
	} {
		dev := updatetest.New(t, oldBuild)
		url := dev.Start()
		var log progressLog
		img := testImage(make([]byte, MBRSize))
		err := Push(context.Background(), Device{BaseURL: url, Password: dev.Password, Updated: tt.updated}, img, log.add)
		said := false
		for _, p := range log.ps {
			said = said || (p.Step == StepBoot && strings.Contains(p.Detail, "gokrazy writes them over the boot partition in place"))
		}
		switch {
		case tt.inPlace && (err != nil || dev.Boot() == nil || dev.MBR() == nil || !said || dev.Build() != newBuild):
			t.Errorf("%s: %v, boot written %v, said %v, build %s; want the boot files written in place, said, and the new build", tt.name, err, dev.Boot() != nil, said, dev.Build())
		case !tt.inPlace:
			var e *Error
			if !errors.As(err, &e) || e.StatusCode != http.StatusConflict || !strings.Contains(err.Error(), "on trial") {
				t.Errorf("%s: %v, want the refusal", tt.name, err)
			}
			if dev.Boot() != nil || strings.Contains(dev.Calls(), "/reboot") || strings.Contains(dev.Calls(), "/update/switch") {
				t.Errorf("%s: gokrazy saw %q after the refusal", tt.name, dev.Calls())
			}
		}
	}
}

// TestPushBootSlotWaitsForUpdated pushes boot files to a device whose
// updated starts listening only after the push reached them (a device
// just booted): the push waits for it rather than writing in place.
func TestPushBootSlotWaitsForUpdated(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	dev := updatetest.New(t, oldBuild)
	url := dev.Start()
	img := testImage(make([]byte, MBRSize))
	took := make(chan string, 1)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		sum := sha256.Sum256(b)
		took <- r.Header.Get(BootCodeHeader)
		dev.Switch()
		fmt.Fprintf(w, "%x\n", sum)
	})}
	defer srv.Close()
	go func() {
		time.Sleep(bootSlotPatience / 2)
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Error(err)
			return
		}
		srv.Serve(ln)
	}()
	var log progressLog
	if err := Push(context.Background(), Device{BaseURL: url, Password: dev.Password, Updated: "http://" + addr}, img, log.add); err != nil {
		t.Fatalf("push: %v", err)
	}
	select {
	case code := <-took:
		if want := base64.StdEncoding.EncodeToString(img.MBR); code != want {
			t.Errorf("updated got boot code %q, want the image's", code)
		}
	default:
		t.Fatal("the push never reached updated")
	}
	if dev.Boot() != nil || dev.MBR() != nil || strings.Contains(dev.Calls(), "/update/switch") {
		t.Errorf("gokrazy wrote boot files in place or switched: %q", dev.Calls())
	}
}
