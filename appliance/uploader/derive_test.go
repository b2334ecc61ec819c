package uploader

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/appliance/config"
	"github.com/lapsebox/lapsebox/appliance/process"
	"github.com/lapsebox/lapsebox/appliance/store"
)

// storeJPEGs stores n 800×600 JPEG captures, or data when it is not nil,
// queued for targets, and returns their store paths.
func storeJPEGs(t testing.TB, st *store.Store, n int, data []byte, targets ...string) []string {
	t.Helper()
	var paths []string
	for i := range n {
		b := data
		if b == nil {
			img := image.NewRGBA(image.Rect(0, 0, 800, 600))
			for y := range 600 {
				for x := range 800 {
					img.SetRGBA(x, y, color.RGBA{uint8(x / 4), uint8(y / 3), uint8(40 * i), 0xff})
				}
			}
			var buf bytes.Buffer
			if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
				t.Fatal(err)
			}
			b = buf.Bytes()
		}
		p, err := st.Put(store.Capture{Time: t0.Add(time.Duration(i) * 5 * time.Minute), Files: []store.NewFile{{Ext: ".jpg", Targets: targets,
			Write: func(w io.Writer) error { _, err := w.Write(b); return err }}}})
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p[0].Path)
	}
	return paths
}

// derivedTarget is a WebDAV target sent the outputs of spec.
func derivedTarget(t testing.TB, name string, spec *process.Spec, concurrency int) (*Target, *fakeTarget) {
	t.Helper()
	p, err := process.New(spec)
	if err != nil {
		t.Fatal(err)
	}
	sink := &fakeTarget{}
	return &Target{Config: config.Target{Name: name, Kind: config.WebDAV, Send: config.SendDerived, Concurrency: concurrency},
		Transport: sink, Processor: p, ConfigHash: "h-" + name}, sink
}

// alone returns what p makes of the stored photo by itself, by file name.
func alone(t testing.TB, st *store.Store, p *process.Processor, photo string) map[string][]byte {
	t.Helper()
	f, err := st.OpenPhoto(photo)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m := map[string][]byte{}
	rel := strings.TrimPrefix(photo, "photos/")
	err = p.Process(context.Background(), process.Photo{Name: photo, R: f, Taken: t0}, func(o *process.Output) (io.WriteCloser, error) {
		return &outputBuffer{done: func(b []byte) { m[outputName(rel, o.Name)] = b }}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// Both specs are decoded at 1/2 of 800×600, so each target's outputs are
// byte for byte what its processor makes alone.
var (
	webSpec   = &process.Spec{Outputs: []process.Output{{Name: "large", Width: 400}, {Name: "small", Width: 120}}}
	shareSpec = &process.Spec{Outputs: []process.Output{{Name: "square", Width: 300, Height: 300, Fit: "fill", Quality: 70}}}
)

// TestDerivedTargetsShareOneDecode: two derived targets, sending
// concurrently, decode each photo once between them, and each is sent what
// its processor makes alone. One worker a target: two workers of a target
// may both send a photo (one from a listing made before the other's
// delivery), which would count a second decode.
func TestDerivedTargetsShareOneDecode(t *testing.T) {
	st, _ := store.Open(t.TempDir())
	photos := storeJPEGs(t, st, 4, nil, "web", "share")
	web, webSink := derivedTarget(t, "web", webSpec, 1)
	share, shareSink := derivedTarget(t, "share", shareSpec, 1)
	u := &Uploader{Store: st, Targets: []*Target{web, share}, Poll: 20 * time.Millisecond}
	runUntil(t, u, 20*time.Second, func() bool { return pending(t, st, "web")+pending(t, st, "share") == 0 })
	d := u.Snapshot().Derived
	if d.Decodes != len(photos) || d.Shared != len(photos) || d.KeptBytes != 0 || d.Evicted != 0 {
		t.Errorf("status %+v: want %d decodes, each shared once, nothing left kept", d, len(photos))
	}
	for _, tt := range []struct {
		tg   *Target
		sink *fakeTarget
	}{{web, webSink}, {share, shareSink}} {
		got := tt.sink.received()
		n := 0
		for _, ph := range photos {
			for name, want := range alone(t, st, tt.tg.Processor, ph) {
				n++
				if !bytes.Equal(got[name], want) {
					t.Errorf("%s: %s is %d bytes, not the %d its processor makes alone", tt.tg.Config.Name, name, len(got[name]), len(want))
				}
			}
		}
		if len(got) != n {
			t.Errorf("%s was sent %d files, want %d", tt.tg.Config.Name, len(got), n)
		}
	}
}

// TestDerivedBadPhotoParksEveryTarget: a photo that is not a JPEG is
// decoded once and parks the entry of each target with the reason.
func TestDerivedBadPhotoParksEveryTarget(t *testing.T) {
	st, _ := store.Open(t.TempDir())
	storeJPEGs(t, st, 1, []byte("II*\x00 not a JPEG at all"), "web", "share")
	web, _ := derivedTarget(t, "web", webSpec, 1)
	share, _ := derivedTarget(t, "share", shareSpec, 1)
	u := &Uploader{Store: st, Targets: []*Target{web, share}, Poll: 20 * time.Millisecond}
	runUntil(t, u, 10*time.Second, func() bool {
		s := u.Snapshot().Targets
		return s[0].Parked == 1 && s[1].Parked == 1
	})
	s := u.Snapshot()
	for _, ts := range s.Targets {
		if len(ts.ParkedReasons) != 1 || !strings.Contains(ts.ParkedReasons[0], "not a JPEG") {
			t.Errorf("%s: parked for %q, want the photo's fault", ts.Name, ts.ParkedReasons)
		}
	}
	if s.Derived.Decodes != 1 {
		t.Errorf("%d decodes of the bad photo, want 1", s.Derived.Decodes)
	}
}

// TestDerivedSpecFailingForOneTarget: a spec that does not fit the photo
// parks that target's entry; the other target is sent its outputs from
// the same decode.
func TestDerivedSpecFailingForOneTarget(t *testing.T) {
	st, _ := store.Open(t.TempDir())
	photos := storeJPEGs(t, st, 1, nil, "web", "share")
	web, webSink := derivedTarget(t, "web", webSpec, 1)
	share, _ := derivedTarget(t, "share", &process.Spec{Crop: &process.Crop{X: 700, Y: 0, Width: 300, Height: 300},
		Outputs: []process.Output{{Name: "cut", Width: 250}}}, 1)
	u := &Uploader{Store: st, Targets: []*Target{web, share}, Poll: 20 * time.Millisecond}
	runUntil(t, u, 10*time.Second, func() bool { return pending(t, st, "web") == 0 && u.Snapshot().Targets[0].Parked == 1 })
	s := u.Snapshot()
	if r := s.Targets[0].ParkedReasons; s.Targets[0].Name != "share" || len(r) != 1 || !strings.Contains(r[0], "process: spec") {
		t.Errorf("share parked for %q, want its spec", r)
	}
	if s.Derived.Decodes != 1 {
		t.Errorf("%d decodes, want 1", s.Derived.Decodes)
	}
	got := webSink.received()
	for name, want := range alone(t, st, web.Processor, photos[0]) {
		if !bytes.Equal(got[name], want) {
			t.Errorf("web: %s differs from what its processor makes alone", name)
		}
	}
}

// TestDerivedKeepsResumeState: an output a target delivered before is
// neither made for it again nor sent, when its pictures are made along
// with another target's.
func TestDerivedKeepsResumeState(t *testing.T) {
	st, _ := store.Open(t.TempDir())
	photos := storeJPEGs(t, st, 1, nil, "web", "share")
	rel := strings.TrimPrefix(photos[0], "photos/")
	large := outputName(rel, "large")
	e, ok, err := st.Owed("web", photos[0])
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	e.Resume, _ = json.Marshal(resumeState{Done: []string{large}})
	if err := st.Update(e); err != nil {
		t.Fatal(err)
	}
	web, webSink := derivedTarget(t, "web", webSpec, 1)
	share, _ := derivedTarget(t, "share", shareSpec, 1)
	u := &Uploader{Store: st, Targets: []*Target{share, web}, Poll: 20 * time.Millisecond}
	runUntil(t, u, 10*time.Second, func() bool { return pending(t, st, "web")+pending(t, st, "share") == 0 })
	got := webSink.received()
	if _, ok := got[large]; ok || len(got) != 1 {
		t.Errorf("web was sent %d files (%s among them: %v), want only the one not delivered before", len(got), large, ok)
	}
	if d := u.Snapshot().Derived; d.Decodes != 1 {
		t.Errorf("%d decodes, want 1", d.Decodes)
	}
}

// deriveOne derives e's photo for t as a worker would, and releases it.
func deriveOne(t *testing.T, u *Uploader, tg *Target, photo string) []derivedOutput {
	t.Helper()
	e, ok, err := u.Store.Owed(tg.Config.Name, photo)
	if err != nil || !ok {
		t.Fatalf("%s does not owe %s: %v", tg.Config.Name, photo, err)
	}
	outs, release, err := u.derive(context.Background(), tg, &e, nil)
	release()
	if err != nil {
		t.Fatal(err)
	}
	return outs
}

// TestKeptPicturesSpecChange: pictures kept for a target are not sent
// once its spec changed (a reload made a new processor).
func TestKeptPicturesSpecChange(t *testing.T) {
	st, _ := store.Open(t.TempDir())
	photos := storeJPEGs(t, st, 1, nil, "web", "share")
	web, _ := derivedTarget(t, "web", webSpec, 1)
	share, _ := derivedTarget(t, "share", shareSpec, 1)
	u := &Uploader{Store: st, Targets: []*Target{web, share}}
	deriveOne(t, u, web, photos[0]) // makes share's too
	if d := u.derivations().snapshot(); d.KeptBytes == 0 {
		t.Fatal("nothing kept for share")
	}
	newSpec := &process.Spec{Outputs: []process.Output{{Name: "wide", Width: 200}}}
	var err error
	if share.Processor, err = process.New(newSpec); err != nil {
		t.Fatal(err)
	}
	outs := deriveOne(t, u, share, photos[0])
	if len(outs) != 1 || !strings.HasSuffix(outs[0].name, "-wide.jpg") {
		t.Errorf("share got %v after its spec changed, want the new spec's output", outs)
	}
	if d := u.derivations().snapshot(); d.Decodes != 2 || d.Shared != 0 {
		t.Errorf("status %+v: want a second decode for the new spec, nothing shared", d)
	}
}

// TestKeptPicturesBounded: the kept pictures stay within the byte budget,
// the oldest going first, and within keptAhead photos a target; old ones
// expire.
func TestKeptPicturesBounded(t *testing.T) {
	d := newDerivations(100)
	now := time.Now()
	key := func(photo, target string) derivedKey { return derivedKey{photo: photo, target: target} }
	for i, photo := range []string{"a", "b", "c"} {
		d.keep(key(photo, "t"), &derivation{size: 40, made: now.Add(time.Duration(i) * time.Second)}, now)
	}
	if d.bytes > 100 || d.take(key("a", "t"), nil) != nil || d.take(key("b", "t"), nil) == nil {
		t.Errorf("kept %d bytes; want the oldest evicted to stay within 100", d.bytes)
	}
	d.keep(key("huge", "t"), &derivation{size: 101, made: now}, now)
	if _, ok := d.kept[key("huge", "t")]; ok {
		t.Error("kept pictures larger than the budget")
	}
	if s := d.snapshot(); s.Evicted != 2 || s.KeptBytes != 40 {
		t.Errorf("status %+v: want 2 evicted, 40 bytes kept", s)
	}
	d.expire(now.Add(keptMaxAge + 3*time.Second))
	if s := d.snapshot(); s.KeptBytes != 0 || len(d.kept) != 0 || d.order.Len() != 0 {
		t.Errorf("status %+v: want everything expired", s)
	}
}

// TestNothingKeptForABackedOffTarget: a target whose entry is backing off
// (offline, say) gets no pictures made ahead; nor does one with keptAhead
// photos waiting for it.
func TestNothingKeptForABackedOffTarget(t *testing.T) {
	st, _ := store.Open(t.TempDir())
	photos := storeJPEGs(t, st, keptAhead+2, nil, "web", "share")
	web, _ := derivedTarget(t, "web", webSpec, 1)
	share, _ := derivedTarget(t, "share", shareSpec, 1)
	u := &Uploader{Store: st, Targets: []*Target{web, share}}
	e, _, _ := st.Owed("share", photos[0])
	e.NextAttempt = time.Now().Add(time.Hour)
	st.Update(e)
	deriveOne(t, u, web, photos[0])
	if d := u.derivations().snapshot(); d.KeptBytes != 0 {
		t.Errorf("kept %d bytes for a target backing off", d.KeptBytes)
	}
	for _, ph := range photos[1:] {
		deriveOne(t, u, web, ph)
	}
	d := u.derivations()
	d.mu.Lock()
	n := d.keptFor("share")
	d.mu.Unlock()
	if n != keptAhead {
		t.Errorf("%d photos' pictures kept for share, want at most %d", n, keptAhead)
	}
}

// TestDeriveWaitRespectsContext: a target waiting for another's decode of
// the same photo gives up when its ctx is done.
func TestDeriveWaitRespectsContext(t *testing.T) {
	st, _ := store.Open(t.TempDir())
	photos := storeJPEGs(t, st, 1, nil, "web")
	web, _ := derivedTarget(t, "web", webSpec, 1)
	u := &Uploader{Store: st, Targets: []*Target{web}}
	d := u.derivations()
	d.flights[photos[0]] = make(chan struct{}) // a decode that never ends
	e, _, _ := st.Owed("web", photos[0])
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, release, err := u.derive(ctx, web, &e, nil)
	release()
	if err != context.DeadlineExceeded {
		t.Errorf("derive returned %v while another decode was under way, want its ctx's error", err)
	}
	if len(d.inHand) != 0 {
		t.Errorf("in hand after giving up: %v", d.inHand)
	}
}
