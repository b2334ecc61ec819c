package gallery_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/cloud/gallery"
	"github.com/lapsebox/lapsebox/cloud/state"
	"github.com/lapsebox/lapsebox/internal/testtool"
)

// probe is what ffprobe says of a video.
type probe struct {
	Streams []struct {
		CodecName    string `json:"codec_name"`
		Width        int    `json:"width"`
		Height       int    `json:"height"`
		PixFmt       string `json:"pix_fmt"`
		NbReadFrames string `json:"nb_read_frames"`
	} `json:"streams"`
	Format struct {
		Duration   string `json:"duration"`
		FormatName string `json:"format_name"`
	} `json:"format"`
}

func ffprobe(t *testing.T, path string) probe {
	t.Helper()
	out, err := exec.Command(testtool.Program(t, "ffprobe"), "-v", "error", "-count_frames", "-select_streams", "v:0",
		"-show_entries", "stream=codec_name,width,height,pix_fmt,nb_read_frames:format=duration,format_name", "-of", "json", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	var p probe
	if err := json.Unmarshal(out, &p); err != nil || len(p.Streams) != 1 {
		t.Fatalf("ffprobe: %s (%v)", out, err)
	}
	return p
}

// moovFirst says whether the MP4's index comes before its data
// (faststart: a browser plays it before it has all of it).
func moovFirst(t *testing.T, path string) bool {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m, d := strings.Index(string(b), "moov"), strings.Index(string(b), "mdat")
	return m > 0 && m < d
}

// Encode with the real ffmpeg: frames of an odd size (made even), a
// frame of another size, a quote in a file name, deflicker on and off;
// H.264 in yuv420p, one frame a picture, faststart.
func TestEncode(t *testing.T) {
	ff := testtool.Program(t, "ffmpeg")
	dir := t.TempDir()
	var frames []string
	for i := range 7 {
		w, h := 321, 215
		if i == 4 {
			w, h = 200, 300 // the camera turned
		}
		name := fmt.Sprintf("frame %d.jpg", i)
		if i == 2 {
			name = "it's frame 2.jpg"
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, picture(t, w, h, uint8(60+20*i)), 0o644); err != nil {
			t.Fatal(err)
		}
		frames = append(frames, p)
	}
	for _, deflicker := range []bool{false, true} {
		t.Run(fmt.Sprintf("deflicker=%v", deflicker), func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "2026-11-26.mp4")
			var seen []int
			err := gallery.Encode(ctx, gallery.EncodeOptions{FFmpeg: ff, FPS: 10, Deflicker: deflicker}, frames, out, func(n int) { seen = append(seen, n) })
			if err != nil {
				t.Fatal(err)
			}
			p := ffprobe(t, out)
			s := p.Streams[0]
			if s.CodecName != "h264" || s.PixFmt != "yuv420p" || s.Width != 320 || s.Height != 214 || s.NbReadFrames != "7" {
				t.Errorf("stream: %+v, want h264 yuv420p 320x214, 7 frames", s)
			}
			if d, _ := strconv.ParseFloat(p.Format.Duration, 64); d < 0.69 || d > 0.71 {
				t.Errorf("duration %s s, want 0.7 (7 frames at 10 per second)", p.Format.Duration)
			}
			if !moovFirst(t, out) {
				t.Error("not faststart: the moov atom follows the data")
			}
			if len(seen) == 0 || seen[len(seen)-1] != 7 {
				t.Errorf("progress reported %v, want it to end at 7", seen)
			}
			if left, _ := filepath.Glob(filepath.Join(filepath.Dir(out), ".tmp-*")); len(left) != 0 {
				t.Errorf("left behind: %v", left)
			}
		})
	}
	// ffmpeg failing leaves no video, and says why.
	out := filepath.Join(t.TempDir(), "bad.mp4")
	bad := filepath.Join(dir, "bad.jpg")
	os.WriteFile(bad, []byte("\xff\xd8\xff garbage"), 0o644)
	err := gallery.Encode(ctx, gallery.EncodeOptions{FFmpeg: ff}, []string{bad}, out, nil)
	if err == nil {
		t.Fatal("a broken frame made a video")
	}
	if _, serr := os.Stat(out); serr == nil {
		t.Error("a failed encoding left a video")
	}
}

// The daily time-lapse through the service: made once the day is over
// (After past midnight), once, shown on the day's page with its player;
// a failing ffmpeg is retried later with a longer wait each time.
func TestDailyTimelapse(t *testing.T) {
	ff := testtool.Program(t, "ffmpeg")
	r := newRig(t, gallery.TimelapseConfig{Off: true, After: 2 * time.Hour, FPS: 5, FFmpeg: ff}, "cam")
	r.run(t)
	for i := range 6 {
		at := time.Date(2026, 11, 26, 8, 10*i, 0, 0, paris)
		r.svc.Stored(r.put(t, "cam", at.Format("20060102150405.jpg"), picture(t, 640, 480, uint8(50+30*i)), at))
	}
	// One capture was RAW+JPEG: one frame still.
	at := time.Date(2026, 11, 26, 8, 20, 0, 0, paris)
	r.svc.Stored(r.put(t, "cam", at.Format("20060102150405.cr2"), gallery.CR2ForTest(picture(t, 640, 480, 10), picture(t, 160, 120, 10)), at))
	r.svc.Stored(r.put(t, "cam", "20261127080000.jpg", picture(t, 640, 480, 100), time.Date(2026, 11, 27, 8, 0, 0, 0, paris)))
	r.drain(t)

	r.now = time.Date(2026, 11, 27, 1, 30, 0, 0, paris) // before After: nothing yet
	if err := r.svc.MakeDue(ctx); err != nil {
		t.Fatal(err)
	}
	if tl, _ := r.db.Timelapses(ctx, "cam"); len(tl) != 0 {
		t.Fatalf("made before the day was over: %+v", tl)
	}
	r.now = time.Date(2026, 11, 27, 2, 0, 0, 0, paris)
	if err := r.svc.MakeDue(ctx); err != nil {
		t.Fatal(err)
	}
	tl, _ := r.db.Timelapses(ctx, "cam")
	if got := tl["2026-11-26"]; got.State != state.TimelapseDone || got.Frames != 6 || got.Attempts != 1 || len(tl) != 1 {
		t.Fatalf("after the day: %+v", tl)
	}
	out := filepath.Join(r.root, ".derived", "timelapse", "cam", "2026-11-26.mp4")
	p := ffprobe(t, out)
	if s := p.Streams[0]; s.CodecName != "h264" || s.NbReadFrames != "6" || s.Width != 640 || s.Height != 480 {
		t.Errorf("the day's video: %+v", s)
	}
	if d, _ := strconv.ParseFloat(p.Format.Duration, 64); d < 1.19 || d > 1.21 {
		t.Errorf("duration %s s, want 1.2 (6 frames at 5 per second)", p.Format.Duration)
	}
	fi, _ := os.Stat(out)
	// Made once.
	if err := r.svc.MakeDue(ctx); err != nil {
		t.Fatal(err)
	}
	if fi2, _ := os.Stat(out); !fi2.ModTime().Equal(fi.ModTime()) {
		t.Error("made twice")
	}

	// The day's page shows it; the video is served by range.
	srv := newServer(t, r)
	_, token, _ := gallery.NewLink(ctx, r.db, "cam", "", r.now)
	_, body := srv.get(t, "GET", gallery.LinkPath(token)+"days/2026-11-26/")
	if want := `<video controls preload="metadata" src="` + gallery.LinkPath(token) + `days/2026-11-26/timelapse.mp4"`; !strings.Contains(body, want) {
		t.Errorf("the day's page has no player: %s", body)
	}
	res, _ := srv.get(t, "GET", gallery.LinkPath(token)+"days/2026-11-26/timelapse.mp4", "Range: bytes=0-99")
	if res.StatusCode != 206 || res.Header.Get("Content-Type") != "video/mp4" || !strings.HasPrefix(res.Header.Get("Cache-Control"), "private") || res.Header.Get("Content-Range") != fmt.Sprintf("bytes 0-99/%d", fi.Size()) {
		t.Errorf("the video by range: %s %q %q", res.Status, res.Header.Get("Content-Type"), res.Header.Get("Content-Range"))
	}

	// A failing ffmpeg: the next day is tried again after a wait that
	// grows.
	r2 := newRig(t, gallery.TimelapseConfig{Off: true, FFmpeg: "/bin/false"}, "cam")
	r2.run(t)
	at = time.Date(2026, 11, 26, 8, 0, 0, 0, paris)
	r2.svc.Stored(r2.put(t, "cam", "20261126080000.jpg", picture(t, 64, 48, 100), at))
	r2.drain(t)
	var nexts []time.Duration
	for range 3 {
		if err := r2.svc.MakeDue(ctx); err != nil {
			t.Fatal(err)
		}
		tl, _ := r2.db.Timelapses(ctx, "cam")
		got := tl["2026-11-26"]
		if got.State != state.TimelapsePending || !strings.Contains(got.LastError, "exit status 1") {
			t.Fatalf("after a failure: %+v", got)
		}
		nexts = append(nexts, got.Next.Sub(r2.now))
		if err := r2.svc.MakeDue(ctx); err != nil { // too early: nothing
			t.Fatal(err)
		}
		if tl2, _ := r2.db.Timelapses(ctx, "cam"); tl2["2026-11-26"].Attempts != got.Attempts {
			t.Fatal("retried before its time")
		}
		r2.now = got.Next
	}
	if !(nexts[0] > 0 && nexts[1] > nexts[0] && nexts[2] > nexts[1]) {
		t.Errorf("waits between attempts: %v, want growing", nexts)
	}
}

// A start removes what a crash left of a time-lapse being made, once it
// is older than any run, and leaves another cloudd's run alone.
func TestSweepsCrashLeftovers(t *testing.T) {
	ff := testtool.Program(t, "ffmpeg")
	r := newRig(t, gallery.TimelapseConfig{FFmpeg: ff}, "cam")
	dir := filepath.Join(r.root, ".derived", "timelapse", "cam")
	os.MkdirAll(dir, 0o755)
	stale, fresh := filepath.Join(dir, ".tmp-2026-11-20-x.mp4"), filepath.Join(dir, ".tmp-2026-11-26-y.mp4")
	for _, p := range []string{stale, fresh} {
		os.WriteFile(p, []byte("half a video"), 0o644)
	}
	old := time.Now().Add(-4 * time.Hour)
	os.Chtimes(stale, old, old)
	r.run(t)
	deadline := time.Now().Add(time.Minute)
	for {
		if _, err := os.Stat(stale); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a crash's leftover stayed")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("a run in progress lost its file: %v", err)
	}
}
