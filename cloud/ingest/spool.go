package ingest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tus/tusd/v2/pkg/handler"

	"github.com/lapsebox/lapsebox/internal/durable"
)

// idPattern is an upload ID as the spool issues them: 128 random bits in
// lowercase hex. Nothing else is ever an ID: not a path, not an ID of
// another form that tusd would accept.
var idPattern = regexp.MustCompile(`^[0-9a-f]{32}$`)

// infoSuffix names an upload's FileInfo beside its bytes.
const infoSuffix = ".info"

// spool holds the uploads in progress, each as two files named after its
// ID and nothing else: <dir>/<id>, the bytes received, and <dir>/<id>.info,
// tusd's FileInfo as JSON. A path stored in an info file is never used.
//
// Its record of the uploads (which device owns each, how big it will be,
// when it last moved, whether a request is using it) is kept in memory,
// rebuilt from the info files at start. Requests are checked against the
// record before tusd sees them, so another device's ID is refused without
// touching tusd's lock; the record also enforces each device's share of
// the spool.
//
// spool implements tusd's DataStore and TerminaterDataStore.
type spool struct {
	dir    string
	log    *slog.Logger
	limits spoolLimits
	// wrote counts bytes received for a device.
	wrote func(device string, n int64)

	mu      sync.Mutex
	uploads map[string]*entry
}

// spoolLimits is each device's share of the spool.
type spoolLimits struct {
	maxUploads int           // unfinished uploads
	maxBytes   int64         // bytes reserved by their Upload-Length
	evictIdle  time.Duration // an upload idle this long makes room for a new one
}

// entry is the record of one upload.
type entry struct {
	id, device string
	size       int64
	active     time.Time // created, written to or asked about
	busy       int       // requests using it now
}

// openSpool opens (creating) the spool in dir and rebuilds its record:
// every upload whose info file reads back, under the device that created
// it. Leftovers of a crash (bytes without an info file, an info file cut
// short) are removed.
func openSpool(dir string, l spoolLimits, log *slog.Logger, wrote func(string, int64)) (*spool, error) {
	if err := durable.MkdirAll(dir); err != nil {
		return nil, fmt.Errorf("ingest: spool: %w", err)
	}
	sp := &spool{dir: dir, log: log, limits: l, wrote: wrote, uploads: map[string]*entry{}}
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("ingest: spool: %w", err)
	}
	infos := map[string]bool{}
	for _, d := range des {
		if id, ok := strings.CutSuffix(d.Name(), infoSuffix); ok && idPattern.MatchString(id) {
			infos[id] = true
		}
	}
	for _, d := range des {
		name := d.Name()
		id, isInfo := strings.CutSuffix(name, infoSuffix)
		switch {
		case !idPattern.MatchString(id):
			log.Warn("ingest: a file in the spool that is not an upload; leaving it", "name", name)
		case !isInfo && !infos[id]:
			os.Remove(filepath.Join(dir, name)) // created, info never written
		case isInfo:
			info, err := sp.readInfo(id)
			if err != nil {
				log.Warn("ingest: unreadable upload in the spool, removing it", "id", id, "err", err)
				sp.removeFiles(id)
				continue
			}
			active := time.Now()
			if st, err := os.Stat(sp.binPath(id)); err == nil {
				active = st.ModTime()
			}
			sp.uploads[id] = &entry{id: id, device: info.MetaData["device"], size: info.Size, active: active}
		}
	}
	return sp, nil
}

func (sp *spool) binPath(id string) string  { return filepath.Join(sp.dir, id) }
func (sp *spool) infoPath(id string) string { return filepath.Join(sp.dir, id+infoSuffix) }

// readInfo reads an upload's FileInfo, its offset from the size of its
// bytes. id must match idPattern.
func (sp *spool) readInfo(id string) (handler.FileInfo, error) {
	var info handler.FileInfo
	b, err := os.ReadFile(sp.infoPath(id))
	if errors.Is(err, os.ErrNotExist) {
		return info, handler.ErrNotFound
	}
	if err != nil {
		return info, err
	}
	if err := json.Unmarshal(b, &info); err != nil {
		return info, fmt.Errorf("%s: %w", sp.infoPath(id), err)
	}
	if info.ID != id {
		return info, fmt.Errorf("%s: holds the ID %q", sp.infoPath(id), info.ID)
	}
	info.Storage = nil // paths come from the ID alone
	st, err := os.Lstat(sp.binPath(id))
	if errors.Is(err, os.ErrNotExist) {
		return info, handler.ErrNotFound
	}
	if err != nil {
		return info, err
	}
	if !st.Mode().IsRegular() {
		return info, fmt.Errorf("%s: not a regular file", sp.binPath(id))
	}
	info.Offset = st.Size()
	return info, nil
}

func (sp *spool) removeFiles(id string) error {
	err1 := os.Remove(sp.binPath(id))
	err2 := os.Remove(sp.infoPath(id))
	for _, err := range []error{err1, err2} {
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}

// acquire marks device's upload id as used by a request and returns the
// function that ends the use; ok is false when id is malformed, unknown
// or another device's.
func (sp *spool) acquire(id, device string) (release func(), ok bool) {
	if !idPattern.MatchString(id) {
		return nil, false
	}
	sp.mu.Lock()
	defer sp.mu.Unlock()
	e := sp.uploads[id]
	if e == nil || e.device != device {
		return nil, false
	}
	e.busy++
	return func() {
		sp.mu.Lock()
		e.busy--
		e.active = time.Now()
		sp.mu.Unlock()
	}, true
}

// claim marks id as used if no request is using it, and returns the
// function that ends the use; ok is false otherwise.
func (sp *spool) claim(id string) (release func(), ok bool) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	e := sp.uploads[id]
	if e == nil || e.busy > 0 {
		return nil, false
	}
	e.busy++
	return func() {
		sp.mu.Lock()
		e.busy--
		sp.mu.Unlock()
	}, true
}

// owns reports whether id is device's upload.
func (sp *spool) owns(id, device string) bool {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	e := sp.uploads[id]
	return e != nil && e.device == device
}

// take removes id from the record if no request is using it and cond
// holds, and reports whether it did; the caller then owns its files.
func (sp *spool) take(id string, cond func(*entry) bool) bool {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	e := sp.uploads[id]
	if e == nil || e.busy > 0 || !cond(e) {
		return false
	}
	delete(sp.uploads, id)
	return true
}

// remove forgets id and removes its files.
func (sp *spool) remove(id string) error {
	sp.mu.Lock()
	delete(sp.uploads, id)
	sp.mu.Unlock()
	return sp.removeFiles(id)
}

// ids returns the IDs of the uploads in the record.
func (sp *spool) ids() []string {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	ids := make([]string, 0, len(sp.uploads))
	for id := range sp.uploads {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// usage returns device's unfinished uploads and the bytes they reserve.
func (sp *spool) usage(device string) (n int, bytes int64) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	for _, e := range sp.uploads {
		if e.device == device {
			n++
			bytes += e.size
		}
	}
	return n, bytes
}

// reserve records a new upload of size bytes for device and returns its
// ID. A device at its share first loses its own uploads idle for longer
// than evictIdle, oldest first; if that is not enough the answer is a 429
// (too many uploads) or a 507 (too many bytes) saying why and, in
// Retry-After, when room will be made.
func (sp *spool) reserve(device string, size int64, now time.Time) (string, error) {
	sp.mu.Lock()
	var mine []*entry
	var bytes int64
	for _, e := range sp.uploads {
		if e.device == device {
			mine = append(mine, e)
			bytes += e.size
		}
	}
	sort.Slice(mine, func(i, j int) bool { return mine[i].active.Before(mine[j].active) })
	var evicted []string
	full := func() bool { return len(mine) >= sp.limits.maxUploads || bytes+size > sp.limits.maxBytes }
	for i := 0; full() && i < len(mine); {
		e := mine[i]
		if e.busy > 0 || now.Sub(e.active) < sp.limits.evictIdle {
			i++
			continue
		}
		delete(sp.uploads, e.id)
		evicted = append(evicted, e.id)
		bytes -= e.size
		mine = append(mine[:i], mine[i+1:]...)
	}
	var err error
	var id string
	if full() {
		err = sp.refusal(device, mine, bytes, size, now)
	} else {
		for id == "" || sp.uploads[id] != nil {
			id = newID()
		}
		// In use until its files exist (see NewUpload).
		sp.uploads[id] = &entry{id: id, device: device, size: size, active: now, busy: 1}
	}
	sp.mu.Unlock()
	for _, id := range evicted {
		sp.log.Info("ingest: evicting an idle upload to make room", "device", device, "id", id)
		if err := sp.removeFiles(id); err != nil {
			sp.log.Warn("ingest: evicting an idle upload", "device", device, "id", id, "err", err)
		}
	}
	return id, err
}

// refusal is the answer to a device over its share; mine are its uploads,
// oldest first, reserving bytes; size is what it asked for.
func (sp *spool) refusal(device string, mine []*entry, bytes, size int64, now time.Time) error {
	// Room is made when the least recently used upload no request holds
	// has been idle for evictIdle.
	wait := sp.limits.evictIdle
	for _, e := range mine {
		if e.busy == 0 {
			wait = e.active.Add(sp.limits.evictIdle).Sub(now)
			break
		}
	}
	wait = max(wait.Round(time.Second), time.Second)
	var e handler.Error
	if len(mine) >= sp.limits.maxUploads {
		e = tusError(http.StatusTooManyRequests, "ERR_TOO_MANY_UPLOADS",
			"device %q has %d unfinished uploads, the most one device may have; finish or delete one, or retry in %v (an upload idle for %v makes room)",
			device, len(mine), wait, sp.limits.evictIdle)
	} else {
		e = tusError(http.StatusInsufficientStorage, "ERR_SPOOL_SHARE_FULL",
			"device %q's unfinished uploads reserve %d bytes, and %d more would pass the %d one device may reserve; finish or delete one, or retry in %v (an upload idle for %v makes room)",
			device, bytes, size, sp.limits.maxBytes, wait, sp.limits.evictIdle)
	}
	e.HTTPResponse.Header["Retry-After"] = strconv.Itoa(int(wait / time.Second))
	sp.log.Warn("ingest: refused a new upload", "device", device, "uploads", len(mine), "reserved", bytes, "size", size, "retry_after", wait)
	return e
}

// newID returns a fresh upload ID.
func newID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// NewUpload implements handler.DataStore: it reserves room in the
// creating device's share and creates the upload's files.
func (sp *spool) NewUpload(ctx context.Context, info handler.FileInfo) (handler.Upload, error) {
	dev := deviceOf(ctx)
	if dev == "" || info.MetaData["device"] != dev {
		return nil, hide(ctx, sp.log, "creating an upload", fmt.Errorf("device %q creates an upload for %q", dev, info.MetaData["device"]))
	}
	id, err := sp.reserve(dev, info.Size, time.Now())
	if err != nil {
		return nil, err
	}
	info.ID, info.Offset, info.Storage = id, 0, nil
	b, err := json.Marshal(info)
	if err == nil {
		err = sp.create(id, b)
	}
	if err != nil {
		sp.remove(id)
		return nil, hide(ctx, sp.log, "creating an upload", err)
	}
	sp.mu.Lock()
	if e := sp.uploads[id]; e != nil {
		e.busy--
	}
	sp.mu.Unlock()
	return &spoolUpload{sp: sp, device: dev, info: info}, nil
}

// create writes a new upload's empty bytes file, then its info file, which
// makes it exist for openSpool. Neither is synced: a power cut loses at
// worst an upload the device then starts again (its HEAD gets 404), and a
// sync per creation costs a slow disk a fifth of a slow link's goodput.
func (sp *spool) create(id string, info []byte) error {
	f, err := os.OpenFile(sp.binPath(id), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644) // linked into place as the photo
	if err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.WriteFile(sp.infoPath(id), info, 0o600)
}

// GetUpload implements handler.DataStore. Requests reach it only for an
// ID their device owns (see Server.guard); it checks again.
func (sp *spool) GetUpload(ctx context.Context, id string) (handler.Upload, error) {
	dev := deviceOf(ctx)
	if !idPattern.MatchString(id) || !sp.owns(id, dev) {
		return nil, handler.ErrNotFound
	}
	info, err := sp.readInfo(id)
	if err != nil {
		return nil, hide(ctx, sp.log, "reading an upload", err)
	}
	return &spoolUpload{sp: sp, device: dev, info: info}, nil
}

// AsTerminatableUpload implements handler.TerminaterDataStore.
func (sp *spool) AsTerminatableUpload(u handler.Upload) handler.TerminatableUpload {
	return u.(*spoolUpload)
}

// spoolUpload is one upload of the spool, for tusd.
type spoolUpload struct {
	sp     *spool
	device string
	info   handler.FileInfo
}

func (u *spoolUpload) GetInfo(context.Context) (handler.FileInfo, error) { return u.info, nil }

func (u *spoolUpload) WriteChunk(ctx context.Context, offset int64, src io.Reader) (int64, error) {
	release, ok := u.sp.acquire(u.info.ID, u.device)
	if !ok {
		return 0, handler.ErrNotFound
	}
	defer release()
	f, err := os.OpenFile(u.sp.binPath(u.info.ID), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return 0, hide(ctx, u.sp.log, "writing an upload", err)
	}
	n, err := io.Copy(f, src)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	u.info.Offset += n
	u.sp.wrote(u.device, n)
	if err != nil {
		return n, hide(ctx, u.sp.log, "writing an upload", err)
	}
	return n, nil
}

// GetReader implements handler.Upload; downloads are disabled.
func (u *spoolUpload) GetReader(context.Context) (io.ReadCloser, error) {
	return nil, handler.ErrNotImplemented
}

func (u *spoolUpload) FinishUpload(context.Context) error { return nil }

// Terminate implements handler.TerminatableUpload.
func (u *spoolUpload) Terminate(ctx context.Context) error {
	if err := u.sp.remove(u.info.ID); err != nil {
		return hide(ctx, u.sp.log, "removing an upload", err)
	}
	return nil
}

// hide logs err, which may name server paths, and returns what the client
// is told instead: a 500 with a reference to the log line. tusd's own
// errors pass as they are.
func hide(ctx context.Context, log *slog.Logger, what string, err error) error {
	var he handler.Error
	if errors.As(err, &he) {
		return err
	}
	ref := rand.Text()[:8]
	log.Error("ingest: "+what, "device", deviceOf(ctx), "ref", ref, "err", err)
	return tusError(http.StatusInternalServerError, "ERR_INTERNAL", "%s failed; the server's log has the details under %s", what, ref)
}
