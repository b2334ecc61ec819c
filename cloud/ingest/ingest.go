// Package ingest is the central server's receiving end: devices upload
// photos to it with tus 1.0 (served by tusd's handler), each with its own
// bearer token; a photo counts as received only once its SHA-256 matches
// the one the device declared, and is then stored crash-safely under
// <root>/<device>/<name>, never overwriting a different photo, its sum
// recorded, and copied to a second store if one is configured (see
// cloud/archive): only then is the upload acknowledged.
//
// The HTTP API, all of it under Handler and authenticated with
// "Authorization: Bearer <token>" and "Lapsebox-Device: <name>":
//
//	POST   /v1/files/        tus creation (and creation-with-upload)
//	HEAD   /v1/files/<id>    tus offset
//	PATCH  /v1/files/<id>    tus data
//	DELETE /v1/files/<id>    tus termination
//	GET    /v1/photos?prefix=2026/11/   the device's photos, for reconciling
//
// Upload-Metadata must carry "filename" (the photo's relative name) and
// "sha256" (hex); "capturetime" (RFC 3339) and "filetype" are kept. The
// response that completes an upload, and the creation of a photo already
// received, carry VerifiedHeader with the SHA-256 the server checked and
// StoredAsHeader with the name it is stored under. A creation for a photo
// already received answers 200 and creates no upload. While the second
// store fails, both answer 503 with a Retry-After instead; the photo is
// kept, and the device's retry (a creation) copies it without a new
// upload.
//
// Every request must name its device and carry that device's token; a
// missing, unknown or wrong credential gets the same 401, and a request
// with a body gets it without its body being read. An upload ID is
// exactly what the server issued (32 hex digits) and belongs to the device
// that created it: any other ID, another device's included, is 404 before
// tusd looks at it. Each device has a share of the spool (unfinished
// uploads and the bytes they reserve); past it, a creation is answered 429
// or 507 with a Retry-After. A 500 names a line of the server's log, never
// a path. NewHTTPServer and Listen give the timeouts and limits to serve
// the Handler with.
package ingest

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tus/tusd/v2/pkg/handler"
	"github.com/tus/tusd/v2/pkg/memorylocker"

	"github.com/lapsebox/lapsebox/cloud/archive"
)

// Response headers that confirm a photo.
const (
	VerifiedHeader = "Lapsebox-Verified-Sha256"
	StoredAsHeader = "Lapsebox-Stored-As"
)

// Paths the Handler serves.
const (
	FilesPath  = "/v1/files/"
	PhotosPath = "/v1/photos"
)

// StatusSHA256Mismatch is the status of a completed upload whose bytes do
// not hash to the declared SHA-256 (tus's checksum extension uses it too).
// The upload is discarded; the device starts over.
const StatusSHA256Mismatch = 460

// Config configures a Server.
type Config struct {
	// Root holds the received photos, <Root>/<device>/<name>.
	Root string
	// Spool holds uploads in progress (default <Root>/.spool); on the
	// same file system as Root, photos are linked, not copied, into place.
	Spool string
	// Devices are the devices allowed to upload; SetDevices replaces them.
	Devices Devices
	// MaxSize is the largest photo accepted, in bytes (default 256 MiB).
	MaxSize int64
	// Expire is how long an unfinished upload is kept after its last
	// request (default 7 days).
	Expire time.Duration
	// MaxUploads is how many unfinished uploads one device may have
	// (default 16), and MaxSpoolBytes how many bytes their Upload-Lengths
	// may add up to (default 2 GiB, at least MaxSize): a device with a
	// token cannot fill the spool. Past either, the device's uploads idle
	// for EvictIdle (default 1 hour) are removed to make room, and if that
	// is not enough the creation is refused with a Retry-After.
	MaxUploads    int
	MaxSpoolBytes int64
	EvictIdle     time.Duration
	// NetworkTimeout is how long an upload's body may move no byte before
	// the request is ended (default 2 minutes). While bytes flow, the
	// request has no deadline: a photo over a slow link takes its time.
	NetworkTimeout time.Duration
	// Logger receives the server's logs (nil: slog.Default()).
	Logger *slog.Logger
	// Stored, if set, is called after each photo is stored, before the
	// device gets its answer: it must return quickly (queue the work).
	Stored func(Stored)
	// Replica is the photos' second copy (nil: they are kept once). An
	// upload is acknowledged only once the photo is in both; while the
	// replica fails, the upload's last request and the device's retries
	// are answered 503 with a Retry-After, and the local copy is kept.
	Replica archive.Store
	// ReplicaRetryAfter is the Retry-After of those answers (default
	// 1 minute).
	ReplicaRetryAfter time.Duration
}

// Stored is a photo just stored.
type Stored struct {
	Device string
	// Name is the name it is stored under, Path its file.
	Name, Path string
	Size       int64
	// CaptureTime is from the upload's metadata (zero if it had none).
	CaptureTime time.Time
}

// Server receives photos. Its methods are safe for concurrent use.
type Server struct {
	cfg     Config
	log     *slog.Logger
	photos  *photos
	archive *archive.Archive
	spool   *spool
	tus     *handler.Handler
	devices atomic.Pointer[Devices]

	mu    sync.Mutex
	stats map[string]*DeviceStatus
}

type ctxKey struct{}

// New opens (creating) the photo tree and the spool, finishes uploads that
// were complete when the server last stopped, and returns a Server.
func New(cfg Config) (*Server, error) {
	if cfg.Root == "" {
		return nil, errors.New("ingest: no root directory")
	}
	if cfg.Spool == "" {
		cfg.Spool = filepath.Join(cfg.Root, ".spool")
	}
	if cfg.MaxSize <= 0 {
		cfg.MaxSize = 256 << 20
	}
	if cfg.Expire <= 0 {
		cfg.Expire = 7 * 24 * time.Hour
	}
	if cfg.MaxUploads <= 0 {
		cfg.MaxUploads = 16
	}
	if cfg.MaxSpoolBytes <= 0 {
		cfg.MaxSpoolBytes = max(2<<30, cfg.MaxSize)
	}
	if cfg.MaxSpoolBytes < cfg.MaxSize {
		return nil, fmt.Errorf("ingest: a device's share of the spool (%d bytes) is smaller than the largest photo (%d bytes)", cfg.MaxSpoolBytes, cfg.MaxSize)
	}
	if cfg.EvictIdle <= 0 {
		cfg.EvictIdle = time.Hour
	}
	if cfg.NetworkTimeout <= 0 {
		cfg.NetworkTimeout = 2 * time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ReplicaRetryAfter <= 0 {
		cfg.ReplicaRetryAfter = time.Minute
	}
	s := &Server{cfg: cfg, log: cfg.Logger, stats: map[string]*DeviceStatus{}}
	s.SetDevices(cfg.Devices)
	var err error
	if s.photos, err = openPhotos(cfg.Root); err != nil {
		return nil, err
	}
	if s.archive, err = archive.New(cfg.Root, cfg.Replica, cfg.Logger); err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	limits := spoolLimits{maxUploads: cfg.MaxUploads, maxBytes: cfg.MaxSpoolBytes, evictIdle: cfg.EvictIdle}
	s.spool, err = openSpool(cfg.Spool, limits, cfg.Logger, func(dev string, n int64) {
		s.count(dev, func(st *DeviceStatus) { st.BodyBytes += n })
	})
	if err != nil {
		return nil, err
	}
	composer := handler.NewStoreComposer()
	composer.UseCore(s.spool)
	composer.UseTerminater(s.spool)
	memorylocker.New().UseIn(composer)
	s.tus, err = handler.NewHandler(handler.Config{
		StoreComposer:             composer,
		BasePath:                  FilesPath,
		MaxSize:                   cfg.MaxSize,
		DisableDownload:           true,
		DisableConcatenation:      true,
		Cors:                      &handler.CorsConfig{Disable: true},
		PreUploadCreateCallback:   s.preCreate,
		PreFinishResponseCallback: s.preFinish,
		Logger:                    tusLogger(cfg.Logger),
		NetworkTimeout:            cfg.NetworkTimeout,
	})
	if err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	if err := s.Sweep(time.Now()); err != nil {
		return nil, err
	}
	return s, nil
}

// SetDevices replaces the devices allowed to upload (a reloaded token
// file). Uploads in progress continue only for devices still listed.
func (s *Server) SetDevices(d Devices) {
	if d == nil {
		d = Devices{}
	}
	s.devices.Store(&d)
}

// Handler returns the devices' HTTP API.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle(FilesPath, s.guard(http.StripPrefix(strings.TrimSuffix(FilesPath, "/"), s.tus)))
	mux.HandleFunc("GET "+PhotosPath, s.servePhotos)
	return s.authenticate(mux)
}

// RequireDevice serves h only to requests with a valid device
// credential, as Handler serves its own endpoints: DeviceOf tells h
// which device it is. Other servers of cloudd (the heartbeat) share the
// devices and their tokens this way.
func (s *Server) RequireDevice(h http.Handler) http.Handler { return s.authenticate(h) }

// DeviceOf returns the device a request under RequireDevice (or Handler)
// was authenticated as.
func DeviceOf(ctx context.Context) string { return deviceOf(ctx) }

// authenticate refuses requests without a valid device credential and
// puts the device's name in the request's context.
func (s *Server) authenticate(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		dev, err := (*s.devices.Load()).authenticate(r)
		if err != nil {
			s.log.Warn("ingest: refused", "remote", r.RemoteAddr, "method", r.Method, "path", trim(r.URL.Path), "reason", err)
			w.Header().Set("WWW-Authenticate", `Bearer realm="lapsebox"`)
			refuse(w, r, http.StatusUnauthorized, errUnauthorized)
			return
		}
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, dev)))
	})
}

// guard lets a request for an upload through to tusd only if the upload
// is the device's, checked against the spool's record before tusd reads
// any file or takes its lock; the upload is marked in use until the
// request ends. Creation (no ID) passes.
func (s *Server) guard(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := strings.TrimPrefix(r.URL.Path, FilesPath)
		if id == "" {
			h.ServeHTTP(w, r)
			return
		}
		dev := deviceOf(r.Context())
		release, ok := s.spool.acquire(id, dev)
		if !ok {
			// Not found, rather than forbidden: IDs are not for guessing.
			if !idPattern.MatchString(id) {
				s.log.Warn("ingest: refused a malformed upload ID", "device", dev, "method", r.Method, "id", trim(id))
			}
			http.Error(w, "ERR_UPLOAD_NOT_FOUND: upload not found", http.StatusNotFound)
			return
		}
		defer release()
		h.ServeHTTP(w, r)
	})
}

func deviceOf(ctx context.Context) string {
	d, _ := ctx.Value(ctxKey{}).(string)
	return d
}

func tusError(status int, code, format string, args ...any) handler.Error {
	return handler.NewError(code, fmt.Sprintf(format, args...), status)
}

var hexSHA256 = regexp.MustCompile(`^[0-9a-f]{64}$`)

// preCreate checks a new upload's metadata, answers a photo already
// received without creating an upload, and binds the upload to its device.
func (s *Server) preCreate(ev handler.HookEvent) (handler.HTTPResponse, handler.FileInfoChanges, error) {
	var none handler.FileInfoChanges
	dev := deviceOf(ev.Context)
	if dev == "" {
		return handler.HTTPResponse{}, none, tusError(http.StatusUnauthorized, "ERR_NO_DEVICE", "no authenticated device")
	}
	meta := ev.Upload.MetaData
	name, sum := meta["filename"], meta["sha256"]
	if err := checkName(name); err != nil {
		return handler.HTTPResponse{}, none, tusError(http.StatusBadRequest, "ERR_BAD_NAME", "Upload-Metadata filename: %v", err)
	}
	if !hexSHA256.MatchString(sum) {
		return handler.HTTPResponse{}, none, tusError(http.StatusBadRequest, "ERR_BAD_SHA256", "Upload-Metadata sha256 %q: want 64 lowercase hex digits", trim(sum))
	}
	if ct := meta["capturetime"]; ct != "" {
		if _, err := time.Parse(time.RFC3339Nano, ct); err != nil {
			return handler.HTTPResponse{}, none, tusError(http.StatusBadRequest, "ERR_BAD_CAPTURETIME", "Upload-Metadata capturetime %q: want RFC 3339", trim(ct))
		}
	}
	if ev.Upload.SizeIsDeferred {
		return handler.HTTPResponse{}, none, tusError(http.StatusBadRequest, "ERR_NO_LENGTH", "Upload-Length is required")
	}
	got, err := s.photos.find(dev, name, sum)
	if err == nil && got == "" {
		got, err = s.restore(ev.Context, dev, name, sum)
	}
	if err != nil {
		return handler.HTTPResponse{}, none, hide(ev.Context, s.log, "looking for the photo", fmt.Errorf("looking for %s/%s: %w", dev, name, err))
	}
	if got != "" {
		// Idempotent: the device lost our answer, or its outbox entry,
		// or was told to retry while the photo's second copy failed.
		if err := s.replicate(ev.Context, dev, name, got, sum); err != nil {
			return handler.HTTPResponse{}, none, err
		}
		s.log.Info("ingest: already received", "device", dev, "name", name, "stored_as", got)
		e := tusError(http.StatusOK, "ALREADY_RECEIVED", "%s already received as %s", name, got)
		e.HTTPResponse.Header[VerifiedHeader] = sum
		e.HTTPResponse.Header[StoredAsHeader] = got
		return handler.HTTPResponse{}, none, e
	}
	m := handler.MetaData{"filename": name, "sha256": sum, "device": dev}
	for _, k := range []string{"capturetime", "filetype"} {
		if v, ok := meta[k]; ok && len(v) < 200 {
			m[k] = v
		}
	}
	return handler.HTTPResponse{}, handler.FileInfoChanges{MetaData: m}, nil
}

func trim(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// preFinish verifies a complete upload's SHA-256, stores the photo and
// removes the upload from the spool. Its answer is what tells the device
// the photo is safe.
func (s *Server) preFinish(ev handler.HookEvent) (handler.HTTPResponse, error) {
	stored, err := s.finish(ev.Context, ev.Upload)
	if err != nil {
		return handler.HTTPResponse{}, hide(ev.Context, s.log, "storing the photo", err)
	}
	return handler.HTTPResponse{Header: handler.HTTPHeader{
		VerifiedHeader: ev.Upload.MetaData["sha256"],
		StoredAsHeader: stored,
	}}, nil
}

func (s *Server) finish(ctx context.Context, info handler.FileInfo) (string, error) {
	dev, name, want := info.MetaData["device"], info.MetaData["filename"], info.MetaData["sha256"]
	bin := s.spool.binPath(info.ID)
	got, err := fileSHA256(bin)
	if err != nil {
		return "", err
	}
	if got != want {
		s.discard(info.ID)
		s.count(dev, func(st *DeviceStatus) { st.Rejected++ })
		s.log.Warn("ingest: sha256 mismatch", "device", dev, "name", name, "declared", want, "received", got)
		return "", tusError(StatusSHA256Mismatch, "ERR_SHA256_MISMATCH", "%s: received bytes hash to %s, Upload-Metadata declared %s; upload discarded", name, got, want)
	}
	stored, err := s.photos.commit(dev, name, want, bin)
	if err != nil {
		return "", fmt.Errorf("storing %s/%s: %w", dev, name, err)
	}
	// The sum is recorded while the upload it was verified on is still
	// in the spool: after a crash here, Sweep verifies it again.
	if err := s.archive.Record(dev+"/"+stored, want); err != nil {
		return "", fmt.Errorf("recording %s/%s: %w", dev, stored, err)
	}
	// The local copy is durable: the device's retry starts from it, not
	// from a new upload.
	s.discard(info.ID)
	s.count(dev, func(st *DeviceStatus) {
		st.Photos++
		st.Bytes += info.Size
		st.LastUpload = time.Now().UTC()
		st.LastName = stored
	})
	s.log.Info("ingest: received", "device", dev, "name", name, "stored_as", stored, "size", info.Size)
	if s.cfg.Stored != nil {
		ct, _ := time.Parse(time.RFC3339Nano, info.MetaData["capturetime"])
		s.cfg.Stored(Stored{Device: dev, Name: stored, Path: s.photos.path(dev, stored), Size: info.Size, CaptureTime: ct})
	}
	if err := s.replicate(ctx, dev, name, stored, want); err != nil {
		return "", err
	}
	return stored, nil
}

// restore finds a photo received before whose local copy no longer
// matches its record (damaged on disk) and rewrites it from the replica;
// it returns the name it is stored under, or "" if there is no such
// photo or no good copy to restore it from, and the device's upload then
// stores it anew.
func (s *Server) restore(ctx context.Context, dev, name, sum string) (string, error) {
	got, err := s.photos.recorded(dev, name, sum, s.archive.Sums)
	if err != nil || got == "" {
		return "", err
	}
	if err := s.archive.Restore(ctx, dev+"/"+got, sum); err != nil {
		s.log.Warn("ingest: a received photo's local copy is damaged, and the replica has no good copy; storing the device's again", "device", dev, "name", got, "err", err)
		return "", nil
	}
	return got, nil
}

// replicate records the photo's verified sum and makes its second copy
// (Archive.Commit). A failure is a 503 with a Retry-After whose text
// names neither the store nor a path; the log has the details.
func (s *Server) replicate(ctx context.Context, dev, name, stored, sum string) error {
	err := s.archive.Commit(ctx, dev+"/"+stored, sum)
	if err == nil {
		return nil
	}
	ref := rand.Text()[:8]
	s.log.Error("ingest: photo stored once; its second copy failed", "device", dev, "name", name, "stored_as", stored, "ref", ref, "err", err)
	e := tusError(http.StatusServiceUnavailable, "ERR_REPLICA_UNAVAILABLE",
		"%s is received but not yet in its second store; retry later (the server's log has the details under %s)", name, ref)
	e.HTTPResponse.Header["Retry-After"] = strconv.Itoa(int(s.cfg.ReplicaRetryAfter / time.Second))
	return e
}

// Archive returns the archive of the photos: their records, second copy
// and scrubber.
func (s *Server) Archive() *archive.Archive { return s.archive }

// discard removes an upload from the spool: a later HEAD or PATCH gets 404,
// and the device's next creation learns the photo is already here.
func (s *Server) discard(id string) {
	if err := s.spool.remove(id); err != nil {
		s.log.Warn("ingest: removing an upload from the spool", "id", id, "err", err)
	}
}

// Sweep finishes uploads that were complete when the server stopped before
// storing them, and removes unfinished ones idle for longer than Expire.
// cloudd runs it at start and every hour. Uploads a request is using are
// left alone.
func (s *Server) Sweep(now time.Time) error {
	ctx := context.Background()
	for _, id := range s.spool.ids() {
		info, err := s.spool.readInfo(id)
		if err != nil {
			if s.spool.take(id, func(*entry) bool { return true }) {
				s.log.Warn("ingest: unreadable upload in the spool, removing it", "id", id, "err", err)
				s.spool.removeFiles(id)
			}
			continue
		}
		dev := info.MetaData["device"]
		if !info.SizeIsDeferred && info.Offset == info.Size {
			release, ok := s.spool.claim(id)
			if !ok {
				continue
			}
			if _, err := s.finish(ctx, info); err != nil {
				s.log.Warn("ingest: finishing a complete upload", "id", id, "err", err)
			}
			release()
			continue
		}
		if s.spool.take(id, func(e *entry) bool { return now.Sub(e.active) > s.cfg.Expire }) {
			s.log.Info("ingest: expiring an idle upload", "id", id, "device", dev, "name", info.MetaData["filename"], "offset", info.Offset, "size", info.Size)
			if err := s.spool.removeFiles(id); err != nil {
				s.log.Warn("ingest: expiring an idle upload", "id", id, "err", err)
			}
		}
	}
	return nil
}

// servePhotos lists the device's photos under a prefix, for reconciling.
func (s *Server) servePhotos(w http.ResponseWriter, r *http.Request) {
	dev := deviceOf(r.Context())
	prefix := r.URL.Query().Get("prefix")
	if err := checkPrefix(prefix); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ps, err := s.photos.list(dev, prefix)
	if err != nil {
		s.log.Error("ingest: listing", "device", dev, "prefix", prefix, "err", err)
		http.Error(w, "listing failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(struct {
		Device string  `json:"device"`
		Photos []Photo `json:"photos"`
	}{dev, ps})
}
