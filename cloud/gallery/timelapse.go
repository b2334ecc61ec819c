package gallery

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	_ "image/jpeg" // the web-size copies' sizes
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/lapsebox/lapsebox/cloud/state"
	"github.com/lapsebox/lapsebox/internal/durable"
)

// Time-lapse scheduling.
const (
	// timelapseLease is how long a maker holds a day without reporting
	// progress before another cloudd may take it over.
	timelapseLease = 5 * time.Minute
	// timelapseMax bounds one ffmpeg run.
	timelapseMax = 2 * time.Hour
	// retryFirst and retryMax bound the backoff after a failure.
	retryFirst = 10 * time.Minute
	retryMax   = 12 * time.Hour
)

// timelapseLoop makes the time-lapses due, every minute.
func (s *Service) timelapseLoop(ctx context.Context) {
	s.sweepTemporary()
	tick := time.NewTicker(time.Minute)
	defer tick.Stop()
	for {
		if err := s.MakeDue(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("gallery: time-lapses", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// sweepTemporary removes what ffmpeg runs cut short by a crash left in
// the time-lapses' directories: temporary videos and frame lists older
// than a run may last (another cloudd may be writing a newer one).
func (s *Service) sweepTemporary() {
	old, _ := filepath.Glob(filepath.Join(s.cfg.Root, ".derived", kindTimelapse, "*", ".tmp-*"))
	for _, p := range old {
		if fi, err := os.Lstat(p); err == nil && fi.Mode().IsRegular() && time.Since(fi.ModTime()) > timelapseMax+time.Hour {
			if err := os.Remove(p); err == nil {
				s.log.Info("gallery: removed a time-lapse a crash cut short", "file", p)
			}
		}
	}
}

// lastDayOver is the last day whose time-lapse may be made at now: the
// day before the last midnight, once After has passed since it.
func (s *Service) lastDayOver(now time.Time) time.Time {
	local := now.In(s.cfg.Location)
	midnight := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, s.cfg.Location)
	if now.Before(midnight.Add(s.cfg.Timelapse.After)) {
		midnight = midnight.AddDate(0, 0, -1)
	}
	return midnight.AddDate(0, 0, -1)
}

// MakeDue makes, one after the other, the time-lapses of the days that
// are over and have none yet, within the last Backfill days, each that
// no other cloudd is making and that is not waiting for a retry.
func (s *Service) MakeDue(ctx context.Context) error {
	last := s.lastDayOver(s.cfg.Now())
	since := last.AddDate(0, 0, 1-s.cfg.Timelapse.Backfill)
	due, err := s.db.TimelapsesDue(ctx, since.Format(time.DateOnly), last.Format(time.DateOnly))
	if err != nil {
		return err
	}
	for _, k := range due {
		ok, err := s.db.ClaimTimelapse(ctx, k, s.owner, s.cfg.Now(), timelapseLease)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		frames, size, err := s.makeTimelapse(ctx, k)
		if ctx.Err() != nil {
			return ctx.Err() // the lease runs out; the next start makes it
		}
		now := s.cfg.Now()
		if err != nil {
			s.log.Error("gallery: making a time-lapse", "device", k.Device, "day", k.Day, "err", err)
			attempts := 1
			if tl, err := s.db.Timelapses(ctx, k.Device); err == nil {
				attempts = max(1, tl[k.Day].Attempts)
			}
			if err := s.db.FailTimelapse(ctx, k, s.owner, err.Error(), now.Add(backoff(attempts)), now); err != nil {
				return err
			}
			continue
		}
		if err := s.db.FinishTimelapse(ctx, k, s.owner, frames, size, now); err != nil {
			return err
		}
		s.log.Info("gallery: made a time-lapse", "device", k.Device, "day", k.Day, "frames", frames, "bytes", size)
	}
	return nil
}

// backoff is the wait before the next attempt after attempts failures.
func backoff(attempts int) time.Duration {
	d := retryFirst
	for i := 1; i < attempts && d < retryMax; i++ {
		d *= 2
	}
	return min(d, retryMax)
}

// makeTimelapse makes k's video from the day's web-size copies and
// returns its frames and bytes.
func (s *Service) makeTimelapse(ctx context.Context, k state.DayKey) (int, int64, error) {
	ps, err := s.db.DayPhotos(ctx, k.Device, k.Day)
	if err != nil {
		return 0, 0, err
	}
	webDir := s.derivedDir(kindWeb, k.Device)
	var frames []string
	// A capture of RAW and JPEG is one frame, the JPEG's: the two share
	// their name but for its extension.
	byStem := map[string]int{}
	for _, p := range ps {
		if !p.Derived {
			continue
		}
		stem := strings.TrimSuffix(p.Name, path.Ext(p.Name))
		i, seen := byStem[stem]
		if seen && !isJPEG(p.Name) {
			continue
		}
		// Only regular files, reached without a link: what ffmpeg opens
		// is checked here, by the same rule as what the pages serve.
		f, _, err := openIn(webDir, p.Name)
		if err != nil {
			s.log.Warn("gallery: a frame left out of a time-lapse", "device", k.Device, "name", p.Name, "err", err)
			continue
		}
		f.Close()
		frame := filepath.Join(webDir, filepath.FromSlash(p.Name))
		if seen {
			frames[i] = frame
			continue
		}
		byStem[stem] = len(frames)
		frames = append(frames, frame)
	}
	if len(frames) == 0 {
		return 0, 0, errors.New("no picture with a web-size copy")
	}
	outDir := s.derivedDir(kindTimelapse, k.Device)
	if err := durable.MkdirAll(outDir); err != nil {
		return 0, 0, err
	}
	out := filepath.Join(outDir, k.Day+".mp4")
	ctx, cancel := context.WithTimeout(ctx, timelapseMax)
	defer cancel()
	progress := func(done int) {
		if err := s.db.TimelapseProgress(ctx, k, s.owner, len(frames), done, s.cfg.Now(), timelapseLease); err != nil && ctx.Err() == nil {
			s.log.Warn("gallery: recording a time-lapse's progress", "device", k.Device, "day", k.Day, "err", err)
		}
	}
	progress(0)
	if err := Encode(ctx, EncodeOptions{FFmpeg: s.cfg.Timelapse.FFmpeg, FPS: s.cfg.Timelapse.FPS, Deflicker: s.cfg.Timelapse.Deflicker},
		frames, out, progress); err != nil {
		return 0, 0, err
	}
	fi, err := os.Stat(out)
	if err != nil {
		return 0, 0, err
	}
	return len(frames), fi.Size(), nil
}

// EncodeOptions are ffmpeg's settings for a time-lapse.
type EncodeOptions struct {
	FFmpeg    string // the program
	FPS       int
	Deflicker bool
}

// Encode makes an H.264 MP4 (libx264, yuv420p, faststart) of the JPEG
// frames at out, crash-safely: ffmpeg writes a temporary file in out's
// directory, which is synced and renamed into place once complete.
// ffmpeg gets an argument list and a concat list file, never a shell.
// progress, if set, hears how many frames are encoded, at most every
// second or so (ffmpeg's -progress).
func Encode(ctx context.Context, o EncodeOptions, frames []string, out string, progress func(done int)) error {
	if len(frames) == 0 {
		return errors.New("timelapse: no frames")
	}
	if o.FPS <= 0 {
		o.FPS = 25
	}
	w, h, err := frameSize(frames[0])
	if err != nil {
		return err
	}
	dir := filepath.Dir(out)
	list, err := os.CreateTemp(dir, ".tmp-frames-*.txt")
	if err != nil {
		return err
	}
	defer os.Remove(list.Name())
	if _, err := list.WriteString(concatList(frames, o.FPS)); err != nil {
		list.Close()
		return err
	}
	if err := list.Close(); err != nil {
		return err
	}
	tmp := filepath.Join(dir, ".tmp-"+strings.TrimSuffix(filepath.Base(out), ".mp4")+"-"+strconv.FormatInt(time.Now().UnixNano(), 36)+".mp4")
	defer os.Remove(tmp)
	// Every frame scaled into the first one's size (a camera changed
	// mid-day), padded, even on both sides as yuv420p needs.
	vf := fmt.Sprintf("scale=%d:%d:force_original_aspect_ratio=decrease,pad=%d:%d:(ow-iw)/2:(oh-ih)/2,setsar=1,format=yuv420p", w, h, w, h)
	if o.Deflicker {
		vf = "deflicker=size=5:mode=pm," + vf
	}
	args := []string{"-hide_banner", "-nostdin", "-loglevel", "error", "-y",
		"-f", "concat", "-safe", "0", "-i", list.Name(),
		"-vf", vf, "-fps_mode", "cfr", "-r", strconv.Itoa(o.FPS),
		"-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p",
		"-movflags", "+faststart", "-f", "mp4",
		"-progress", "pipe:1", "-nostats", tmp}
	cmd := exec.CommandContext(ctx, o.FFmpeg, args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &limitedWriter{w: &stderr, n: 4096}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("timelapse: %w", err)
	}
	readProgress(stdout, progress)
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("timelapse: ffmpeg: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	f, err := os.Open(tmp)
	if err != nil {
		return err
	}
	err = f.Sync()
	f.Close()
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, out); err != nil {
		return err
	}
	return durable.SyncDir(dir)
}

// concatList is ffmpeg's concat demuxer's script for frames, each shown
// 1/fps seconds. A path is quoted as the demuxer's rules say: in single
// quotes, a quote in it closing them, escaped by a backslash, and opening
// them again.
func concatList(frames []string, fps int) string {
	var b strings.Builder
	b.WriteString("ffconcat version 1.0\n")
	d := strconv.FormatFloat(1/float64(fps), 'f', 6, 64)
	for _, f := range frames {
		b.WriteString("file '" + strings.ReplaceAll(f, "'", `'\''`) + "'\nduration " + d + "\n")
	}
	return b.String()
}

// frameSize is the first frame's size rounded down to even numbers.
func frameSize(path string) (int, int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	c, _, err := image.DecodeConfig(f)
	if err != nil {
		return 0, 0, fmt.Errorf("timelapse: %s: %w", filepath.Base(path), err)
	}
	w, h := c.Width&^1, c.Height&^1
	if w < 2 || h < 2 {
		return 0, 0, fmt.Errorf("timelapse: a frame of %d×%d pixels", c.Width, c.Height)
	}
	return w, h, nil
}

// readProgress reads ffmpeg's -progress lines ("frame=12") until EOF.
func readProgress(r io.Reader, progress func(int)) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "frame="); ok && progress != nil {
			if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
				progress(n)
			}
		}
	}
	io.Copy(io.Discard, r)
}

// limitedWriter keeps the first n bytes written to it.
type limitedWriter struct {
	w io.Writer
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if l.n > 0 {
		k := min(len(p), l.n)
		l.w.Write(p[:k])
		l.n -= k
	}
	return len(p), nil
}
