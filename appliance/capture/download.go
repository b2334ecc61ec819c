package capture

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"syscall"
	"time"

	"github.com/lapsebox/lapsebox/appliance/plan"
	"github.com/lapsebox/lapsebox/appliance/recovery"
	"github.com/lapsebox/lapsebox/appliance/statusfile"
	"github.com/lapsebox/lapsebox/appliance/store"
	"github.com/lapsebox/lapsebox/ptp"
	"github.com/lapsebox/lapsebox/ptp/camera"
	"github.com/lapsebox/lapsebox/ptp/fetch"
)

// Download copies every file the camera holds into Dir (download mode: the
// camera shoots by itself, on its own intervalometer), resuming after the
// camera was unplugged or re-enumerated.
type Download struct {
	Device Device
	Dir    string
	// Sink, if set, receives the files instead of Dir (a StoreSink puts
	// them into the photo store, with their outbox entries).
	Sink fetch.Sink
	// Interval is how often the camera is searched for new files.
	Interval time.Duration
	Options  fetch.Options // ChunkSize, Delete; Progress is set by Run
	Status   *StatusFile
	Log      *log.Logger

	// Retention and Usage keep the store a StoreSink imports into from
	// filling up, as in capture mode: a pass starts only after retention
	// ran if the high-water mark is crossed (and every PruneEvery for
	// age, default an hour), and a file that did not fit makes retention
	// run at once for its size. A camera shooting by itself never stops
	// for a full disk while photos can be deleted.
	Retention  store.Retention
	Usage      store.Usage
	PruneEvery time.Duration

	// ProgressEvery spaces the status file's rewrites while a file
	// arrives (default 1 s): one a chunk (a MiB) cost about a sixth of
	// camerad's CPU time.
	ProgressEvery time.Duration

	lastPrune time.Time
	current   int64 // size of the file being downloaded

	// progressPath and progressWritten: the file whose progress the status
	// file last showed, and when.
	progressPath    string
	progressWritten time.Time
}

// Run downloads until ctx is done.
func (d *Download) Run(ctx context.Context) error {
	if d.Status == nil {
		d.Status = &StatusFile{}
	}
	if d.Log == nil {
		d.Log = log.New(io.Discard, "", 0)
	}
	if d.Interval == 0 {
		d.Interval = 10 * time.Second
	}
	if d.PruneEvery == 0 {
		d.PruneEvery = time.Hour
	}
	d.update(func(st *statusfile.Camera) { st.Mode, st.State = "download", "starting" })
	failures := 0
	for found := 0; ctx.Err() == nil; found++ {
		d.update(func(st *statusfile.Camera) { st.State, st.DownloadStatus().Current = "waiting for camera", nil })
		cam, err := d.Device.Open(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			d.fail(fmt.Errorf("opening the camera: %w", err))
			sleep(ctx, 5*time.Second)
			continue
		}
		err = d.session(ctx, cam, found > 0)
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		cam.Close(cctx)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			d.fail(err)
		}
		if errors.Is(err, ptp.ErrNoDevice) {
			failures = 0
			continue
		}
		if failures++; failures >= 2 {
			// A camera that keeps failing while plugged in: a USB port
			// reset is the strongest remedy short of its power.
			d.Log.Printf("resetting the camera's USB port after %d failed sessions", failures)
			rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			if rerr := d.Device.Recover(rctx, nil, recovery.USBReset); rerr != nil {
				d.fail(rerr)
			}
			cancel()
			failures = 0
		}
		// Not unplugged: do not hammer a camera that misbehaves.
		sleep(ctx, 5*time.Second)
	}
	return nil
}

// session downloads until the camera goes away or keeps failing.
func (d *Download) session(ctx context.Context, cam *camera.Camera, again bool) error {
	id := cam.Identity()
	d.Log.Printf("camera %s", id)
	if ss, ok := d.Sink.(*StoreSink); ok {
		// Sidecars name the camera the files came from.
		ss.Camera = store.Camera{Model: id.Model, Serial: id.SerialNumber}
	}
	d.update(func(st *statusfile.Camera) {
		st.Camera = &statusfile.CameraInfo{Model: id.Model, Serial: id.SerialNumber, Connected: true}
		if again {
			st.DownloadStatus().Reconnects++
		}
	})
	failures := 0
	for {
		d.update(func(st *statusfile.Camera) { st.State = "downloading" })
		start, cpu := time.Now(), cpuSeconds()
		opts := d.Options
		opts.Progress = func(p fetch.Progress) { d.progress(p) }
		var sink fetch.Sink = fetch.Dir{Root: d.Dir}
		if d.Sink != nil {
			sink = d.Sink
		}
		if ss, ok := d.Sink.(*StoreSink); ok && ss.MakeRoom == nil {
			ss.MakeRoom = func(need int64) { d.keepRoom("before a download", uint64(need), false) }
		}
		d.keepRoom("before a download pass", 0, false)
		res, err := fetch.Fetch(ctx, cam.Conn(), sink, &opts)
		if errors.Is(err, ptp.ErrNoDevice) || ctx.Err() != nil {
			return err
		}
		if noSpace(err) {
			// Not the camera's fault: make room, and the next pass
			// resumes the file.
			d.fail(storageErr(err))
			d.keepRoom("disk full", uint64(d.current+plan.MetadataBytes), true)
			err = nil
		}
		if err != nil {
			failures++
			d.fail(err)
			if failures >= 3 {
				return fmt.Errorf("%d passes failed in a row; opening the camera again", failures)
			}
		} else {
			failures = 0
			d.update(func(st *statusfile.Camera) {
				st.DownloadStatus().LastPass = &statusfile.DownloadPass{
					Objects: res.Objects, Fetched: res.Fetched, Skipped: res.Skipped, Failed: res.Failed,
					Bytes: res.Bytes, Seconds: time.Since(start).Seconds(), CPUSeconds: cpuSeconds() - cpu,
					Finished: time.Now().UTC(),
				}
			})
		}
		d.update(func(st *statusfile.Camera) { st.State, st.DownloadStatus().Current = "idle", nil })
		if err := sleep(ctx, d.Interval); err != nil {
			return nil
		}
	}
}

func (d *Download) progress(p fetch.Progress) {
	d.current = p.Object.Size
	now := time.Now()
	if !p.Complete && p.Object.Path == d.progressPath && now.Sub(d.progressWritten) < cmp.Or(d.ProgressEvery, time.Second) {
		return // the next report counts these bytes too
	}
	d.progressPath, d.progressWritten = p.Object.Path, now
	d.update(func(st *statusfile.Camera) {
		ds := st.DownloadStatus()
		prev := p.Resumed
		if c := ds.Current; c != nil && c.Path == p.Object.Path {
			prev = c.Done
		}
		ds.BytesFetched += p.Done - prev
		ds.Current = &statusfile.DownloadCurrent{Path: p.Object.Path, Size: p.Object.Size, Done: p.Done, ResumedFrom: p.Resumed}
		if p.Complete {
			ds.FilesFetched++
			if p.Resumed > 0 {
				ds.Resumed++
			}
			d.Log.Printf("fetched %s (%d bytes, resumed from %d)", p.Object.Path, p.Object.Size, p.Resumed)
		}
	})
}

// keepRoom applies retention to the store files are imported into when it
// is due: need more bytes would cross the high-water mark, the hourly
// pass for age is due, or force (a file did not fit). Download mode
// without a StoreSink keeps plain copies the store does not manage.
func (d *Download) keepRoom(reason string, need uint64, force bool) {
	ss, ok := d.Sink.(*StoreSink)
	if !ok || d.Usage == nil || d.Retention.Validate() != nil {
		return
	}
	now := time.Now()
	used, total, err := d.Usage()
	if err != nil {
		d.Log.Printf("measuring the store: %v", err)
		return
	}
	hourly := d.lastPrune.IsZero() || now.Sub(d.lastPrune) >= d.PruneEvery
	if !force && !hourly && float64(used+need) <= d.Retention.HighWater*float64(total) {
		d.measured(used, total)
		return
	}
	if hourly && !force {
		reason = "hourly"
	}
	d.lastPrune = now
	if rep, ok := applyRetention(ss.Store, d.Retention, d.Usage, now, need, reason, d.update, d.Log); ok {
		used, total = rep.Used, rep.Total
	}
	d.measured(used, total)
}

// measured puts the file system's use on the status page.
func (d *Download) measured(used, total uint64) {
	d.update(func(st *statusfile.Camera) {
		s := storeStatus(st)
		s.UsedBytes, s.TotalBytes, s.FreeBytes, s.Measured = used, total, total-min(used, total), time.Now().UTC()
	})
}

func (d *Download) update(fn func(*statusfile.Camera)) {
	if err := d.Status.Update(time.Now().UTC(), func(st *statusfile.Camera) {
		fn(st)
		if st.Download != nil {
			st.Download.CPUSeconds = cpuSeconds()
		}
	}); err != nil {
		d.Log.Printf("writing status: %v", err)
	}
}

func (d *Download) fail(err error) {
	d.Log.Print(err)
	d.update(func(st *statusfile.Camera) { st.LastError, st.LastErrorTime = err.Error(), time.Now().UTC() })
}

func sleep(ctx context.Context, d time.Duration) error { return SystemClock{}.Sleep(ctx, d) }

func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}
