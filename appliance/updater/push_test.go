package updater_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/appliance/updater"
	"github.com/lapsebox/lapsebox/image/disk"
	"github.com/lapsebox/lapsebox/image/update"
)

// runPushes runs f's updater, without an update section (a device only
// pushed to), taking pushes through a PushHandler served on loopback;
// when switched, a push that succeeded points the fake gokrazy's next
// boot at the root written, as the tables updated switched do.
func (f *fixture) runPushes(t *testing.T, svc *updater.Service, switched bool) (url string, stop func()) {
	t.Helper()
	pushes := make(chan updater.PushRequest)
	svc.Config.Update = nil
	svc.Pushes = pushes
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- svc.Run(ctx) }()
	h := &updater.PushHandler{Password: f.gokrazy.Password, Requests: pushes, Wait: 5 * time.Second}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if switched && rec.Code == http.StatusOK {
			f.gokrazy.Switch()
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
	}))
	return srv.URL, func() {
		srv.Close()
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

// bootCode is MBR boot code whose BIOS loader finds vmlinuz and
// cmdline.txt in boot slot 0.
func bootCode() []byte {
	code := make([]byte, disk.BootCodeSize)
	copy(code, "loader")
	binary.LittleEndian.PutUint32(code[432:], uint32(disk.BootSlotStart(0)+40))
	binary.LittleEndian.PutUint32(code[436:], uint32(disk.BootSlotStart(0)+900))
	return code
}

// TestPushBoot pushes an image with new boot files as lapsebox update
// does, to a device without an update section: gokrazy writes the root,
// updated the boot files, into the slot not in use, naming that root,
// with the boot code moved to that slot; the tables switch to it, and
// the device reboots through the firmware. Back on the new build, the
// device rests on slot 0 again.
func TestPushBoot(t *testing.T) {
	f := start(t, "02:00")
	url, stop := f.runPushes(t, f.svc, true)
	boot2 := bootFS(t, "1", 7)
	img := update.Image{Root: strings.NewReader(build2.Format(time.RFC3339)), Boot: bytes.NewReader(boot2), MBR: bootCode(),
		BuildTimestamp: build2.Format(time.RFC3339)}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dev := update.Device{BaseURL: f.svc.Gokrazy.BaseURL, Password: f.gokrazy.Password, Updated: url}
	var details []string
	if err := update.Push(ctx, dev, img, func(p update.Progress) {
		if p.Detail != "" {
			details = append(details, p.Detail)
		}
	}); err != nil {
		t.Fatalf("push: %v (%q)", err, details)
	}
	stop()
	if calls := f.gokrazy.Calls(); calls != "GET /update/features PUT /update/root POST /reboot?kexec=off GET /" {
		t.Errorf("gokrazy saw %q; want the root written, then a reboot through the firmware", calls)
	}
	if f.gokrazy.Boot() != nil || f.gokrazy.MBR() != nil {
		t.Error("gokrazy wrote boot files or boot code in place")
	}
	slot1, mbr, gpt := f.bootSlot(t, 1, len(boot2))
	if mbr != 1 || gpt != 1 {
		t.Fatalf("the tables name boot slots %d (MBR) and %d (GPT), want 1", mbr, gpt)
	}
	if !bytes.Equal(slot1, bootFS(t, "2", 7)) {
		t.Error("boot slot 1 does not hold the pushed boot files naming root B")
	}
	if slot0, _, _ := f.bootSlot(t, 0, len(f.boot1)); !bytes.Equal(slot0, f.boot1) {
		t.Error("the boot files in use were written")
	}
	d, _ := os.ReadFile(f.disk)
	if got, want := binary.LittleEndian.Uint32(d[432:]), uint32(disk.BootSlotStart(1)+40); got != want || !bytes.HasPrefix(d, []byte("loader")) {
		t.Errorf("the MBR's boot code finds vmlinuz at LBA %d, want %d in slot 1 (the pushed code, moved)", got, want)
	}

	// Back on the new build, from slot 1: to rest on slot 0.
	svc := f.service()
	svc.Build.Build, svc.Build.BootSHA256 = build2, sha256hex(boot2)
	_, stop = f.runPushes(t, svc, false)
	stop()
	slot0, mbr, gpt := f.bootSlot(t, 0, len(boot2))
	if mbr != 0 || gpt != 0 || !bytes.Equal(slot0, slot1) {
		t.Errorf("after the reboot the tables name slots %d and %d, slot 0 holds slot 1's files: %v; want slot 0, a copy", mbr, gpt, bytes.Equal(slot0, slot1))
	}
}

// TestPushBootAttacks sends updated's handler what a push must not get
// through: no password or a wrong one, other methods and paths, a body
// that does not match its hash, boot code of the wrong size, more than a
// slot holds, bytes that are no gokrazy boot file system, and a push
// while a release runs on trial or while updated is busy. Each is
// refused with its reason, and the disk stays as it was.
func TestPushBootAttacks(t *testing.T) {
	f := start(t, "02:00")
	url, stop := f.runPushes(t, f.svc, false)
	defer stop()
	boot2 := bootFS(t, "1", 7)
	before, _ := os.ReadFile(f.disk)
	put := func(path, password string, body []byte, hdr map[string]string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPut, url+path, bytes.NewReader(body))
		if password != "" {
			req.SetBasicAuth("gokrazy", password)
		}
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		return resp.StatusCode, b.String()
	}
	sum := map[string]string{update.BootSHA256Header: sha256hex(boot2)}
	random := bytes.Repeat([]byte("not a FAT "), 1000)
	for _, tt := range []struct {
		name, path, password string
		body                 []byte
		hdr                  map[string]string
		status               int
		says                 string
	}{
		{"no password", update.BootSlotPath, "", boot2, sum, 401, "password"},
		{"a wrong password", update.BootSlotPath, "secretpx", boot2, sum, 401, "password"},
		{"another path", "/update/boot", f.gokrazy.Password, boot2, sum, 404, ""},
		{"a path below", update.BootSlotPath + "/../../perm", f.gokrazy.Password, boot2, sum, 404, ""},
		{"no hash", update.BootSlotPath, f.gokrazy.Password, boot2, nil, 400, "sha256"},
		{"a hash that is no hash", update.BootSlotPath, f.gokrazy.Password, boot2, map[string]string{update.BootSHA256Header: "../../etc"}, 400, "sha256"},
		{"a body cut short", update.BootSlotPath, f.gokrazy.Password, boot2[:len(boot2)/2], sum, 400, "nothing written"},
		{"boot code of the wrong size", update.BootSlotPath, f.gokrazy.Password, boot2,
			map[string]string{update.BootSHA256Header: sha256hex(boot2), update.BootCodeHeader: base64.StdEncoding.EncodeToString(make([]byte, 512))}, 400, "446 bytes"},
		{"boot code that is no base64", update.BootSlotPath, f.gokrazy.Password, boot2,
			map[string]string{update.BootSHA256Header: sha256hex(boot2), update.BootCodeHeader: "%%%"}, 400, "base64"},
		{"no boot file system", update.BootSlotPath, f.gokrazy.Password, random, map[string]string{update.BootSHA256Header: sha256hex(random)}, 400, "not the boot file system"},
	} {
		status, body := put(tt.path, tt.password, tt.body, tt.hdr)
		if status != tt.status || !strings.Contains(body, tt.says) {
			t.Errorf("%s: HTTP %d %q, want %d saying %q", tt.name, status, body, tt.status, tt.says)
		}
		if strings.Contains(body, f.svc.Perm) || strings.Contains(body, f.disk) {
			t.Errorf("%s: the answer names a path of the device: %q", tt.name, body)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, url+update.BootSlotPath, nil)
	req.SetBasicAuth("gokrazy", f.gokrazy.Password)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %v, %v; want 405", resp, err)
	}

	// More than a slot holds is refused before a byte of it is read.
	conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "PUT %s HTTP/1.1\r\nHost: x\r\nAuthorization: Basic %s\r\n%s: %s\r\nContent-Length: %d\r\n\r\n",
		update.BootSlotPath, base64.StdEncoding.EncodeToString([]byte("gokrazy:"+f.gokrazy.Password)),
		update.BootSHA256Header, sha256hex(boot2), disk.BootSectors*disk.SectorSize+1)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil || resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("more than a slot holds: %v, %v; want 413", resp, err)
	}
	conn.Close()

	// Busy: nobody takes the request.
	busy := httptest.NewServer(&updater.PushHandler{Password: f.gokrazy.Password, Requests: make(chan updater.PushRequest), Wait: 50 * time.Millisecond})
	defer busy.Close()
	url2 := url
	url = busy.URL
	if status, body := put(update.BootSlotPath, f.gokrazy.Password, boot2, sum); status != http.StatusConflict || !strings.Contains(body, "busy") {
		t.Errorf("while updated is busy: HTTP %d %q, want 409", status, body)
	}
	url = url2

	// A client that keeps guessing is slowed down, whatever it sends.
	guessed := 0
	for ; guessed < 50; guessed++ {
		if status, _ := put(update.BootSlotPath, fmt.Sprintf("guess%d", guessed), boot2, sum); status == http.StatusTooManyRequests {
			break
		}
	}
	if status, _ := put(update.BootSlotPath, f.gokrazy.Password, boot2, sum); guessed == 50 || status != http.StatusTooManyRequests {
		t.Errorf("after %d wrong passwords the right one gets HTTP %d, want 429 until the client waited", guessed, status)
	}

	if after, _ := os.ReadFile(f.disk); !bytes.Equal(after, before) {
		t.Error("a refused push changed the disk")
	}
}

// TestPushBootOnTrial refuses boot files pushed while a release runs on
// trial: its root is the one gokrazy calls inactive.
func TestPushBootOnTrial(t *testing.T) {
	f := start(t, "02:00")
	svc := f.onTrial(build2)
	url, stop := f.runPushes(t, svc, false)
	defer stop()
	before, _ := os.ReadFile(f.disk)
	boot2 := bootFS(t, "1", 7)
	err := update.Push(context.Background(), update.Device{BaseURL: svc.Gokrazy.BaseURL, Password: f.gokrazy.Password, Updated: url},
		update.Image{Root: strings.NewReader("root"), Boot: bytes.NewReader(boot2), BuildTimestamp: build2.Format(time.RFC3339)}, nil)
	t.Log(err)
	if err == nil || !strings.Contains(err.Error(), "a release runs on trial") {
		t.Errorf("push during a trial: %v, want a refusal", err)
	}
	if after, _ := os.ReadFile(f.disk); !bytes.Equal(after, before) {
		t.Error("the refused push changed the disk")
	}
	if strings.Contains(f.gokrazy.Calls(), "/reboot") || f.gokrazy.Boot() != nil {
		t.Errorf("after the refusal gokrazy saw %q", f.gokrazy.Calls())
	}
}
