// Package tus uploads photos to the central server (cloudd) with the tus
// 1.0 resumable upload protocol: creation (optionally with the first
// bytes), HEAD for the offset, PATCH from there, termination. The upload's
// URL and offset are saved through the outbox, so an upload cut by a
// dropped link, a crash or a reboot continues where the server stopped,
// without resending bytes the server acknowledged. A photo is done only
// when the server's last answer confirms the SHA-256 it verified.
package tus

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-retryablehttp"

	"github.com/lapsebox/lapsebox/appliance/upload"
)

// The protocol version and the server's API (see cloud/ingest).
const (
	version        = "1.0.0"
	filesPath      = "/v1/files/"
	photosPath     = "/v1/photos"
	deviceHeader   = "Lapsebox-Device"
	verifiedHeader = "Lapsebox-Verified-Sha256"
	storedAsHeader = "Lapsebox-Stored-As"
	statusMismatch = 460 // the received bytes do not hash to the declared sha256
)

// Config configures a Target.
type Config struct {
	// URL is the server's base URL ("https://cloud.example.com").
	URL string
	// Device and Token are this device's credential.
	Device, Token string
	// ChunkSize is the most bytes one PATCH carries (default 4 MiB); the
	// offset is saved after each.
	ChunkSize int64
	// CreateWithUpload sends the first chunk with the creation request,
	// saving a round trip. Bytes of a creation whose answer is lost (say
	// to a reboot) are sent again, so it suits small files.
	CreateWithUpload bool
	// Transfer's Rounds counts requests in a row that fail without the
	// offset moving (default 5).
	upload.Transfer
}

// Target delivers photos to a cloudd server. It implements upload.Target.
type Target struct {
	cfg    Config
	base   *url.URL
	client *retryablehttp.Client
	log    *slog.Logger
}

var _ upload.Target = (*Target)(nil)

// New returns a Target for cfg.
func New(cfg Config) (*Target, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("tus: server URL %q: want http(s)://host", upload.Redact(cfg.URL))
	}
	if cfg.Device == "" || cfg.Token == "" {
		return nil, errors.New("tus: no device name or token")
	}
	if cfg.ChunkSize <= 0 {
		cfg.ChunkSize = 4 << 20
	}
	cfg.Transfer = cfg.Transfer.WithDefaults(5)
	u.Path = strings.TrimSuffix(u.Path, "/")
	return &Target{cfg: cfg, base: u, client: cfg.Client, log: cfg.Logger}, nil
}

// state is the resume state saved in the outbox entry.
type state struct {
	URL    string `json:"url"`
	Offset int64  `json:"offset"` // as last acknowledged; HEAD has the last word
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Upload implements upload.Target.
func (t *Target) Upload(ctx context.Context, item upload.Item, save func(json.RawMessage) error) error {
	if item.Size < 0 || len(item.SHA256) != 64 {
		return &upload.PermanentError{Err: fmt.Errorf("tus: %s: item has size %d and sha256 %q", item.Name, item.Size, item.SHA256)}
	}
	f, err := item.Open()
	if err != nil {
		return fmt.Errorf("tus: opening %s: %w", item.Name, err)
	}
	defer f.Close()
	u := &uploader{t: t, item: item, f: f, save: save}
	if len(item.Resume) > 0 {
		var st state
		if err := json.Unmarshal(item.Resume, &st); err != nil || st.URL == "" {
			t.log.Warn("tus: ignoring unreadable resume state", "name", item.Name, "err", err)
		} else if err := t.checkURL(st.URL); err != nil {
			// Saved for another server (the configuration changed): the
			// token is not for it.
			t.log.Warn("tus: starting over", "name", item.Name, "err", err)
		} else if st.Size != item.Size || st.SHA256 != item.SHA256 {
			// The photo changed under the entry: that upload is useless.
			t.terminate(ctx, st.URL)
		} else {
			st.Offset = -1 // the server's HEAD has the last word
			u.st = &st
		}
	}
	return u.run(ctx)
}

// uploader is one call of Upload.
type uploader struct {
	t    *Target
	item upload.Item
	f    io.ReadSeeker
	save func(json.RawMessage) error
	st   *state // nil: no upload on the server yet
}

// errRestart asks run to create a new upload (the old one expired).
var errRestart = errors.New("upload gone from the server")

// errDone is run's signal that the server confirmed the photo.
var errDone = errors.New("done")

func (u *uploader) run(ctx context.Context) error {
	failures, restarts := 0, 0
	best := u.offset()
	for {
		err := u.step(ctx)
		if o := u.offset(); o > best {
			best, failures = o, 0 // progress: a flaky link, not a dead one
		}
		switch {
		case errors.Is(err, errDone):
			return nil
		case err == nil:
			continue
		case ctx.Err() != nil:
			return fmt.Errorf("tus: %s: %w", u.item.Name, context.Cause(ctx))
		case upload.IsPermanent(err), upload.IsRefusedRedirect(err):
			return fmt.Errorf("tus: %s: %w", u.item.Name, err)
		}
		if errors.Is(err, errRestart) {
			if restarts++; restarts > maxRestarts {
				return fmt.Errorf("tus: %s: started over %d times: %w", u.item.Name, maxRestarts, err)
			}
			u.st, best = nil, -1
			if err := u.persist(); err != nil {
				return err
			}
		}
		if failures++; failures >= u.t.cfg.Rounds {
			return fmt.Errorf("tus: %s: %d attempts without progress, at %d of %d bytes: %w", u.item.Name, failures, max(best, 0), u.item.Size, err)
		}
		wait := u.t.client.Backoff(u.t.client.RetryWaitMin, u.t.client.RetryWaitMax, failures-1, nil)
		if d, ok := upload.IsRetryAfter(err); ok {
			if d > u.t.client.RetryWaitMax {
				return fmt.Errorf("tus: %s: %w", u.item.Name, err)
			}
			wait = d
		}
		u.t.log.Info("tus: resuming", "name", u.item.Name, "offset", best, "size", u.item.Size, "wait", wait, "err", upload.Redact(err.Error()))
		select {
		case <-ctx.Done():
			return fmt.Errorf("tus: %s: %w", u.item.Name, context.Cause(ctx))
		case <-time.After(wait):
		}
	}
}

// maxRestarts bounds how often one Upload call starts over (an expired
// upload, a photo whose bytes do not match its sha256).
const maxRestarts = 2

func (u *uploader) offset() int64 {
	if u.st == nil {
		return -1
	}
	return u.st.Offset
}

func (u *uploader) persist() error {
	var b json.RawMessage
	if u.st != nil {
		var err error
		if b, err = json.Marshal(u.st); err != nil {
			return err
		}
	}
	if err := u.save(b); err != nil {
		return fmt.Errorf("tus: %s: saving resume state: %w", u.item.Name, err)
	}
	return nil
}

// step makes one move: create the upload, learn its offset, or send one
// chunk. It returns errDone once the server confirmed the photo.
func (u *uploader) step(ctx context.Context) error {
	if u.st == nil {
		return u.create(ctx)
	}
	if u.st.Offset < 0 {
		return u.head(ctx)
	}
	return u.patch(ctx)
}

func (t *Target) newRequest(ctx context.Context, method, url string, body any) (*retryablehttp.Request, error) {
	req, err := retryablehttp.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Tus-Resumable", version)
	req.Header.Set("Authorization", "Bearer "+t.cfg.Token)
	req.Header.Set(deviceHeader, t.cfg.Device)
	return req, nil
}

func (t *Target) metadata(item upload.Item) string {
	kv := map[string]string{"filename": item.Name, "sha256": item.SHA256}
	if !item.CaptureTime.IsZero() {
		kv["capturetime"] = item.CaptureTime.Format(time.RFC3339Nano)
	}
	if item.ContentType != "" {
		kv["filetype"] = item.ContentType
	}
	keys := make([]string, 0, len(kv))
	for k := range kv {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, k+" "+base64.StdEncoding.EncodeToString([]byte(kv[k])))
	}
	return strings.Join(parts, ",")
}

// create makes a new upload (with its first chunk if configured) and
// saves its URL before anything else is sent to it.
func (u *uploader) create(ctx context.Context) error {
	t := u.t
	var body any
	var n int64
	if t.cfg.CreateWithUpload && u.item.Size > 0 {
		n = min(t.cfg.ChunkSize, u.item.Size)
		// A function, so that retryablehttp can rewind it; each
		// attempt ends the reads of the one before (upload.Bodies).
		var bodies upload.Bodies
		defer bodies.Close()
		body = retryablehttp.ReaderFunc(func() (io.Reader, error) {
			return bodies.Open(u.f, u.item.Name, 0, n, nil)
		})
	}
	req, err := t.newRequest(ctx, http.MethodPost, t.base.String()+filesPath, body)
	if err != nil {
		return err
	}
	req.Header.Set("Upload-Length", strconv.FormatInt(u.item.Size, 10))
	req.Header.Set("Upload-Metadata", t.metadata(u.item))
	if n > 0 {
		req.Header.Set("Content-Type", "application/offset+octet-stream")
		req.ContentLength = n
	}
	resp, err := t.client.Do(req)
	if err != nil {
		return fmt.Errorf("creating the upload: %w", err)
	}
	defer upload.Drain(resp)
	if err := u.confirmed(resp); err != nil {
		return err // errDone: received before, or in this very request
	}
	if resp.StatusCode != http.StatusCreated {
		if err := upload.ResponseError(resp); err != nil {
			return err
		}
		return fmt.Errorf("creating the upload: unexpected %s", resp.Status)
	}
	loc, err := resp.Location()
	if err != nil {
		return fmt.Errorf("creating the upload: %s without a usable Location: %w", resp.Status, err)
	}
	if err := t.checkURL(loc.String()); err != nil {
		return fmt.Errorf("creating the upload: %s with Location elsewhere: %w", resp.Status, err)
	}
	u.st = &state{URL: loc.String(), Offset: 0, Size: u.item.Size, SHA256: u.item.SHA256}
	if n > 0 {
		off, err := strconv.ParseInt(resp.Header.Get("Upload-Offset"), 10, 64)
		if err != nil || off < 0 || off > u.item.Size {
			off = -1 // ask
		}
		u.st.Offset = off
	}
	if err := u.persist(); err != nil {
		return err
	}
	if u.st.Offset == u.item.Size {
		return u.finished(resp)
	}
	return nil
}

// checkURL refuses an upload URL that is not under the configured
// server's files path, on its scheme and host: every request to it
// carries the token.
func (t *Target) checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("upload URL %q: %w", upload.Redact(raw), err)
	}
	if !upload.SameOrigin(t.base, u) || !strings.HasPrefix(u.Path, t.base.Path+filesPath) {
		return &upload.RedirectError{From: upload.RedactURL(t.base), To: upload.RedactURL(u)}
	}
	return nil
}

// confirmed returns errDone if resp carries the server's confirmation of
// the photo, an error if it carries a wrong one, nil otherwise.
func (u *uploader) confirmed(resp *http.Response) error {
	v := resp.Header.Get(verifiedHeader)
	if v == "" {
		return nil
	}
	if v != u.item.SHA256 {
		return fmt.Errorf("server confirmed sha256 %s, want %s", v, u.item.SHA256)
	}
	if resp.StatusCode >= 300 {
		return nil
	}
	if s := resp.Header.Get(storedAsHeader); s != "" && s != u.item.Name {
		u.t.log.Info("tus: stored under another name", "name", u.item.Name, "stored_as", s)
	}
	return errDone
}

// finished handles the response that took the offset to the end: it must
// confirm the photo.
func (u *uploader) finished(resp *http.Response) error {
	if err := u.confirmed(resp); err != nil {
		return err
	}
	// A server that does not verify: nothing tells the photo is intact.
	return &upload.PermanentError{StatusCode: resp.StatusCode, Err: fmt.Errorf("server completed the upload of %d bytes without confirming its sha256 (not a lapsebox server?)", u.item.Size)}
}

// head learns the server's offset.
func (u *uploader) head(ctx context.Context) error {
	req, err := u.t.newRequest(ctx, http.MethodHead, u.st.URL, nil)
	if err != nil {
		return err
	}
	resp, err := u.t.client.Do(req)
	if err != nil {
		return fmt.Errorf("asking the offset: %w", err)
	}
	defer upload.Drain(resp)
	switch resp.StatusCode {
	case http.StatusNotFound, http.StatusGone:
		// Expired, or finished and removed: a new creation either
		// starts over or learns the photo is already there.
		return fmt.Errorf("%w: HEAD: %s", errRestart, resp.Status)
	case http.StatusLocked:
		return fmt.Errorf("HEAD: %s", resp.Status) // the last request still holds it
	}
	if err := upload.ResponseError(resp); err != nil {
		return err
	}
	off, err := strconv.ParseInt(resp.Header.Get("Upload-Offset"), 10, 64)
	if err != nil || off < 0 || off > u.item.Size {
		return fmt.Errorf("HEAD: Upload-Offset %q: want 0 to %d", resp.Header.Get("Upload-Offset"), u.item.Size)
	}
	if off == u.item.Size {
		// Complete but unconfirmed (the answer was lost and the server
		// has not finished it): start over; the creation will be
		// answered "already received" if the server stored it.
		u.t.terminate(ctx, u.st.URL)
		return fmt.Errorf("%w: complete but unconfirmed", errRestart)
	}
	if off < u.st.Offset {
		u.t.log.Warn("tus: server has fewer bytes than it acknowledged", "name", u.item.Name, "acknowledged", u.st.Offset, "offset", off)
	}
	u.st.Offset = off
	return nil
}

// patch sends one chunk from the current offset. The request is not
// retried as is: after any failure the next step asks the offset again.
func (u *uploader) patch(ctx context.Context) error {
	t := u.t
	off := u.st.Offset
	n := min(t.cfg.ChunkSize, u.item.Size-off)
	gctx, guard := upload.NewStallGuard(ctx, t.cfg.StallTimeout)
	defer guard.Stop()
	body, err := guard.Body(u.f, u.item.Name, off, n)
	if err != nil {
		return err
	}
	req, err := t.newRequest(guard.Trace(gctx), http.MethodPatch, u.st.URL, nil)
	if err != nil {
		return err
	}
	req.Body, req.ContentLength = body, n
	req.GetBody = nil
	req.Header.Set("Content-Type", "application/offset+octet-stream")
	req.Header.Set("Upload-Offset", strconv.FormatInt(off, 10))
	u.st.Offset = -1 // unknown until the server answers
	resp, err := t.client.HTTPClient.Do(req.Request)
	if err != nil {
		if c := upload.StallCause(gctx); c != nil {
			err = c
		}
		return fmt.Errorf("PATCH at %d: %w", off, errors.New(upload.Redact(err.Error())))
	}
	defer upload.Drain(resp)
	guard.Progress()
	switch resp.StatusCode {
	case http.StatusNotFound, http.StatusGone:
		return fmt.Errorf("%w: PATCH: %s", errRestart, resp.Status)
	case http.StatusConflict, http.StatusLocked:
		// Offset mismatch, or the server still holds the last request's
		// lock: ask again.
		return fmt.Errorf("PATCH at %d: %s", off, resp.Status)
	case statusMismatch:
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		t.log.Error("tus: server rejected the photo's bytes", "name", u.item.Name, "msg", string(bytes.TrimSpace(msg)))
		return fmt.Errorf("%w: server says the bytes do not match sha256 %s: %s", errRestart, u.item.SHA256, bytes.TrimSpace(msg))
	}
	if err := upload.ResponseError(resp); err != nil {
		return err
	}
	got, err := strconv.ParseInt(resp.Header.Get("Upload-Offset"), 10, 64)
	if err != nil || got <= off || got > u.item.Size {
		return fmt.Errorf("PATCH at %d: Upload-Offset %q in the answer", off, resp.Header.Get("Upload-Offset"))
	}
	u.st.Offset = got
	if got < u.item.Size {
		return u.persist()
	}
	// The answer that completes the upload must confirm it. Once it
	// has, the outbox entry goes next: saving the offset first would
	// only delay the next photo by a write and its fsyncs. (After a
	// crash in between, the offset saved before this PATCH leads to the
	// server's "already received".)
	err = u.finished(resp)
	if errors.Is(err, errDone) {
		return err
	}
	if perr := u.persist(); perr != nil {
		return perr
	}
	return err
}

// terminate deletes an upload the device no longer needs, best effort:
// the server expires what it misses.
func (t *Target) terminate(ctx context.Context, url string) {
	req, err := t.newRequest(ctx, http.MethodDelete, url, nil)
	if err != nil {
		return
	}
	if resp, err := t.client.Do(req); err == nil {
		upload.Drain(resp)
	}
}

// List implements upload.Target: the names the server holds for this
// device under prefix, from its listing endpoint.
func (t *Target) List(ctx context.Context, prefix string) ([]string, error) {
	req, err := t.newRequest(ctx, http.MethodGet, t.base.String()+photosPath+"?prefix="+url.QueryEscape(prefix), nil)
	if err != nil {
		return nil, err
	}
	resp, err := t.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("tus: listing %q: %w", prefix, err)
	}
	defer upload.Drain(resp)
	if err := upload.ResponseError(resp); err != nil {
		return nil, fmt.Errorf("tus: listing %q: %w", prefix, err)
	}
	var l struct {
		Photos []struct {
			Name string `json:"name"`
		} `json:"photos"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 256<<20)).Decode(&l); err != nil {
		return nil, fmt.Errorf("tus: listing %q: decoding the answer: %w", prefix, err)
	}
	names := make([]string, len(l.Photos))
	for i, p := range l.Photos {
		names[i] = p.Name
	}
	return names, nil
}
