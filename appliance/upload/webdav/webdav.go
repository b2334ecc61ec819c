// Package webdav uploads photos to the customer's own WebDAV storage
// (Nextcloud, Apache mod_dav, nginx's dav modules). A photo is written to a
// hidden temporary name in its folder and then moved to its name, so a
// half-written file is never visible there; the move replaces an existing
// file only when configured to (or for a live-cam's fixed name), and an
// upload is done only once a PROPFIND shows the final file with the photo's
// size. The temporary names an attempt leaves behind are kept in the
// outbox entry and deleted by the next attempt.
//
// WebDAV has no standard way to resume a PUT, so a cut transfer starts
// over; photos are small enough for that, and the cloud target (tus) is
// the one for large files on bad links.
package webdav

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-retryablehttp"

	"github.com/lapsebox/lapsebox/appliance/upload"
)

// Config configures a Target.
type Config struct {
	// URL is the collection the photos go under
	// ("https://cloud.example.com/remote.php/dav/files/alice/site-a/").
	// It must exist; the folders below it are created as needed.
	URL string
	// User and Password are the Basic credential (no User: none). A
	// user and password in URL are used when these are empty.
	User, Password string
	// Overwrite lets an upload replace a different file already under a
	// photo's name (MOVE with Overwrite: T). Without it such a photo fails
	// permanently and the existing file stays.
	Overwrite bool
	// FixedName makes this a live-cam target: every item is delivered
	// under this one name ("latest.jpg"), atomically replacing the last.
	FixedName string
	// VerifyMax is the size up to which an existing file of the photo's
	// size, on a server that keeps no sha256 property for it, is fetched
	// and hashed to decide whether it is the photo (default 1 MiB;
	// negative: never, the size alone decides).
	VerifyMax int64
	// StorageFullWait is how long the outbox should wait after a 507
	// Insufficient Storage (default 30 min). A full disk is fixed by a
	// person, so it is retried later rather than parked.
	StorageFullWait time.Duration
	// Transfer's Rounds counts attempts in a row that fail (default 3);
	// each retries a PUT under a new temporary name.
	upload.Transfer
}

// Target delivers photos to a WebDAV collection. It implements
// upload.Target and is safe for concurrent use.
type Target struct {
	cfg    Config
	base   *url.URL // no user information; path ends in "/"
	client *retryablehttp.Client
	http   *http.Client // the client's transport, for PUTs
	log    *slog.Logger

	mu      sync.Mutex
	dirs    map[string]bool // folders known to exist
	noProps atomic.Bool     // the server refused PROPPATCH: do not ask again
}

var _ upload.Target = (*Target)(nil)

// New returns a Target for cfg.
func New(cfg Config) (*Target, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("webdav: URL %q: want http(s)://host/path/", upload.Redact(cfg.URL))
	}
	if u.User != nil {
		if cfg.User == "" {
			cfg.User = u.User.Username()
			cfg.Password, _ = u.User.Password()
		}
		u.User = nil
	}
	u.RawQuery, u.Fragment = "", ""
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
		if u.RawPath != "" {
			u.RawPath += "/"
		}
	}
	if cfg.FixedName != "" {
		if err := checkName(cfg.FixedName); err != nil {
			return nil, fmt.Errorf("webdav: fixed name: %w", err)
		}
	}
	if cfg.VerifyMax == 0 {
		cfg.VerifyMax = 1 << 20
	}
	if cfg.StorageFullWait <= 0 {
		cfg.StorageFullWait = 30 * time.Minute
	}
	cfg.Transfer = cfg.Transfer.WithDefaults(3)
	t := &Target{cfg: cfg, base: u, log: cfg.Logger, dirs: map[string]bool{}}
	// Our own http.Client on the same transport: a redirect that would
	// turn PROPFIND or PUT into a GET (301, 302, 303) must reach us.
	c := cfg.Client
	t.http = &http.Client{Transport: c.HTTPClient.Transport, Timeout: c.HTTPClient.Timeout, CheckRedirect: checkRedirect}
	t.client = &retryablehttp.Client{
		HTTPClient: t.http, Logger: c.Logger,
		RetryWaitMin: c.RetryWaitMin, RetryWaitMax: c.RetryWaitMax, RetryMax: c.RetryMax,
		RequestLogHook: c.RequestLogHook, ResponseLogHook: c.ResponseLogHook,
		CheckRetry: c.CheckRetry, Backoff: c.Backoff, ErrorHandler: c.ErrorHandler, PrepareRetry: c.PrepareRetry,
	}
	if t.client.CheckRetry == nil {
		t.client.CheckRetry = retryablehttp.DefaultRetryPolicy
	}
	if t.client.Backoff == nil {
		t.client.Backoff = retryablehttp.DefaultBackoff
	}
	return t, nil
}

// checkRedirect follows a redirect only when it keeps the method (307 and
// 308) and the scheme and host (upload.CheckRedirect), a few times.
func checkRedirect(req *http.Request, via []*http.Request) error {
	if err := upload.CheckRedirect(req, via); err != nil {
		return err
	}
	if len(via) >= 5 || req.Method != via[0].Method {
		return http.ErrUseLastResponse
	}
	return nil
}

// checkName rejects names that would leave the base collection or are not
// plain relative paths.
func checkName(name string) error {
	if name == "" || strings.HasPrefix(name, "/") || strings.HasSuffix(name, "/") {
		return fmt.Errorf("name %q: want a relative path to a file", name)
	}
	for _, e := range strings.Split(name, "/") {
		if e == "" || e == "." || e == ".." || strings.ContainsAny(e, "\x00\\") {
			return fmt.Errorf("name %q: bad element %q", name, e)
		}
	}
	return nil
}

// url returns the URL of name (relative to the base; a folder's ends in
// "/").
func (t *Target) url(name string) string {
	var b strings.Builder
	b.WriteString(t.base.Scheme + "://" + t.base.Host + t.base.EscapedPath())
	for i, e := range strings.Split(strings.TrimSuffix(name, "/"), "/") {
		if i > 0 {
			b.WriteByte('/')
		}
		b.WriteString(url.PathEscape(e))
	}
	if strings.HasSuffix(name, "/") {
		b.WriteByte('/')
	}
	return b.String()
}

// state is the resume state saved in the outbox entry.
type state struct {
	// Parts are temporary names (relative to the base) this entry
	// created and may have left behind.
	Parts []string `json:"parts,omitempty"`
}

// Upload implements upload.Target.
func (t *Target) Upload(ctx context.Context, item upload.Item, save func(json.RawMessage) error) error {
	name := item.Name
	if t.cfg.FixedName != "" {
		name = t.cfg.FixedName
	}
	if err := checkName(name); err != nil {
		return &upload.PermanentError{Err: fmt.Errorf("webdav: %w", err)}
	}
	if item.Size < 0 || len(item.SHA256) != 64 {
		return &upload.PermanentError{Err: fmt.Errorf("webdav: %s: item has size %d and sha256 %q", item.Name, item.Size, item.SHA256)}
	}
	f, err := item.Open()
	if err != nil {
		return fmt.Errorf("webdav: opening %s: %w", item.Name, err)
	}
	defer f.Close()
	u := &uploader{t: t, item: item, name: name, f: f, save: save}
	if len(item.Resume) > 0 {
		var st state
		if err := json.Unmarshal(item.Resume, &st); err != nil {
			t.log.Warn("webdav: ignoring unreadable resume state", "name", item.Name, "err", err)
		}
		for _, p := range st.Parts {
			if checkName(p) == nil && isPart(p) { // never delete what we did not name
				u.parts = append(u.parts, p)
			}
		}
	}
	return u.run(ctx)
}

// uploader is one call of Upload.
type uploader struct {
	t     *Target
	item  upload.Item
	name  string // where it goes: item.Name or the fixed name
	f     io.ReadSeeker
	save  func(json.RawMessage) error
	parts []string
	// staged is a temporary file uploaded whole whose MOVE failed and is
	// to be tried again.
	staged string
}

func (u *uploader) run(ctx context.Context) error {
	t := u.t
	for failures := 1; ; failures++ {
		err := u.attempt(ctx)
		switch {
		case err == nil:
			return nil
		case ctx.Err() != nil:
			return fmt.Errorf("webdav: %s: %w", u.name, context.Cause(ctx))
		case upload.IsPermanent(err):
			u.cleanParts(ctx)
			return fmt.Errorf("webdav: %s: %w", u.name, err)
		}
		if failures >= t.cfg.Rounds {
			return fmt.Errorf("webdav: %s: %d attempts failed: %w", u.name, failures, err)
		}
		wait := t.client.Backoff(t.client.RetryWaitMin, t.client.RetryWaitMax, failures-1, nil)
		if d, ok := upload.IsRetryAfter(err); ok {
			if d > t.client.RetryWaitMax {
				return fmt.Errorf("webdav: %s: %w", u.name, err)
			}
			wait = d
		}
		t.log.Info("webdav: retrying", "name", u.name, "wait", wait, "err", upload.Redact(err.Error()))
		select {
		case <-ctx.Done():
			return fmt.Errorf("webdav: %s: %w", u.name, context.Cause(ctx))
		case <-time.After(wait):
		}
	}
}

// attempt makes one full try: clean up, check what is there, create the
// folders, PUT to a temporary name, MOVE into place, check.
func (u *uploader) attempt(ctx context.Context) error {
	t := u.t
	if u.staged != "" {
		// Make sure the staged file is still whole before moving it.
		if e, err := t.stat(ctx, u.staged); err != nil || e == nil || e.size != u.item.Size {
			u.staged = ""
		}
	}
	u.cleanParts(ctx)
	if t.cfg.FixedName == "" {
		done, err := u.delivered(ctx)
		if err != nil || done {
			return err
		}
	}
	dir, file := path.Split(u.name)
	if err := t.mkdirs(ctx, strings.TrimSuffix(dir, "/")); err != nil {
		return err
	}
	tmp := u.staged
	u.staged = ""
	if tmp == "" {
		tmp = dir + "." + file + ".part-" + randomHex(6)
		u.parts = append(u.parts, tmp)
		if err := u.persist(); err != nil {
			return err
		}
		if err := u.put(ctx, tmp); err != nil {
			u.deletePart(ctx, tmp)
			return err
		}
		t.proppatch(ctx, tmp, u.item.SHA256)
	}
	if err := u.move(ctx, tmp); err != nil {
		if errors.Is(err, errDelivered) {
			u.deletePart(ctx, tmp)
			return u.finish()
		}
		var he *upload.HTTPError
		if errors.As(err, &he) && he.StatusCode != http.StatusConflict && he.StatusCode != http.StatusNotFound && !upload.IsPermanent(err) {
			// The server refused the move for now (423, 5xx): keep
			// the uploaded file and try only the move again.
			u.staged = tmp
			return err
		}
		u.deletePart(ctx, tmp)
		return err
	}
	u.parts = slices.DeleteFunc(u.parts, func(p string) bool { return p == tmp })
	e, err := t.stat(ctx, u.name)
	if err != nil {
		return fmt.Errorf("checking after MOVE: %w", err)
	}
	if e == nil || e.size != u.item.Size || (e.sha256 != "" && e.sha256 != u.item.SHA256) {
		return fmt.Errorf("after MOVE the server shows %s, want %d bytes with sha256 %s", e, u.item.Size, u.item.SHA256)
	}
	return u.finish()
}

// finish saves the resume state of a delivered photo: empty, or the
// temporary files that could not be deleted, for the next attempt (there
// is none if the outbox drops the entry; the server keeps a hidden file).
func (u *uploader) finish() error { return u.persist() }

func (u *uploader) persist() error {
	var b json.RawMessage
	if len(u.parts) > 0 {
		var err error
		if b, err = json.Marshal(state{Parts: u.parts}); err != nil {
			return err
		}
	}
	if err := u.save(b); err != nil {
		return fmt.Errorf("saving resume state: %w", err)
	}
	return nil
}

// errDelivered says the photo is already under its name.
var errDelivered = errors.New("already delivered")

// delivered reports whether the photo is already under its name. A
// different file there is a permanent error unless Overwrite is set.
func (u *uploader) delivered(ctx context.Context) (bool, error) {
	t := u.t
	e, err := t.stat(ctx, u.name)
	if err != nil || e == nil {
		return false, err
	}
	if e.dir {
		return false, &upload.PermanentError{Err: fmt.Errorf("%s is a folder on the server", u.name)}
	}
	same, how, err := u.same(ctx, e)
	if err != nil {
		return false, err
	}
	if same {
		t.log.Info("webdav: already on the server", "name", u.name, "checked", how)
		return true, u.finish()
	}
	if t.cfg.Overwrite {
		return false, nil
	}
	return false, &upload.PermanentError{StatusCode: http.StatusPreconditionFailed,
		Err: fmt.Errorf("a different file (%s) is already on the server under this name, and Overwrite is off", e)}
}

// same reports whether e, the file under the photo's name, holds the
// photo, and how that was decided.
func (u *uploader) same(ctx context.Context, e *entry) (bool, string, error) {
	switch {
	case e.size != u.item.Size:
		return false, "size", nil
	case e.sha256 != "":
		return e.sha256 == u.item.SHA256, "sha256 property", nil
	case u.item.Size > u.t.cfg.VerifyMax:
		return true, "size", nil
	}
	sum, err := u.t.hash(ctx, u.name)
	if err != nil {
		return false, "", err
	}
	return sum == u.item.SHA256, "GET", nil
}

// cleanParts deletes the temporary files of earlier attempts.
func (u *uploader) cleanParts(ctx context.Context) {
	for _, p := range slices.Clone(u.parts) {
		if p != u.staged {
			u.deletePart(ctx, p)
		}
	}
}

// deletePart deletes a temporary file, best effort: one that stays is
// kept in the resume state for the next attempt.
func (u *uploader) deletePart(ctx context.Context, p string) {
	t := u.t
	req, err := t.request(ctx, http.MethodDelete, t.url(p), nil)
	if err != nil {
		return
	}
	resp, err := t.client.Do(req)
	if err != nil {
		t.log.Info("webdav: deleting a temporary file", "part", p, "err", upload.Redact(err.Error()))
		return
	}
	upload.Drain(resp)
	if resp.StatusCode/100 != 2 && resp.StatusCode != http.StatusNotFound {
		t.log.Info("webdav: deleting a temporary file", "part", p, "status", resp.Status)
		return
	}
	n := len(u.parts)
	u.parts = slices.DeleteFunc(u.parts, func(q string) bool { return q == p })
	if len(u.parts) != n {
		u.persist()
	}
}

// isPart reports whether name is one of our temporary names.
func isPart(name string) bool {
	f := path.Base(name)
	return strings.HasPrefix(f, ".") && strings.Contains(f, ".part-")
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func (t *Target) request(ctx context.Context, method, url string, body []byte) (*retryablehttp.Request, error) {
	var b any
	if body != nil {
		b = body
	}
	req, err := retryablehttp.NewRequestWithContext(ctx, method, url, b)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, upload.Redact(url), err)
	}
	t.auth(req.Request)
	if body != nil {
		req.Header.Set("Content-Type", `application/xml; charset="utf-8"`)
	}
	return req, nil
}

func (t *Target) auth(req *http.Request) {
	if t.cfg.User != "" {
		req.SetBasicAuth(t.cfg.User, t.cfg.Password)
	}
}

// put sends the photo to tmp. It is not retried as is: a new attempt uses
// a new name.
func (u *uploader) put(ctx context.Context, tmp string) error {
	t := u.t
	gctx, guard := upload.NewStallGuard(ctx, t.cfg.StallTimeout)
	defer guard.Stop()
	open := func() (io.ReadCloser, error) { return guard.Body(u.f, u.item.Name, 0, u.item.Size) }
	body, err := open()
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(resetOnClose(guard.Trace(gctx)), http.MethodPut, t.url(tmp), body)
	if err != nil {
		return fmt.Errorf("PUT %s: %w", tmp, err)
	}
	req.ContentLength = u.item.Size
	if u.item.Size == 0 {
		req.Body = http.NoBody
	}
	req.GetBody = open // for a 307 or 308
	t.auth(req)
	if u.item.ContentType != "" {
		req.Header.Set("Content-Type", u.item.ContentType)
	}
	if u.item.Size >= 64<<10 {
		// A refusal (401, 403, 413, 507) then costs no body.
		req.Header.Set("Expect", "100-continue")
	}
	resp, err := t.http.Do(req)
	if err != nil {
		if c := upload.StallCause(gctx); c != nil {
			err = c
		}
		return fmt.Errorf("PUT %s: %w", tmp, errors.New(upload.Redact(err.Error())))
	}
	defer upload.Drain(resp)
	if resp.StatusCode == http.StatusConflict {
		t.forgetDirs()
	}
	if err := t.responseError(resp); err != nil {
		return err
	}
	return nil
}

// resetOnClose makes the connection of the request using ctx end with a
// reset rather than a FIN when it is closed: a PUT given up on (stalled,
// cancelled) must not complete later from the bytes still queued in the
// socket, which the kernel would otherwise go on sending after the close
// and the server would store under the temporary name after its DELETE.
func resetOnClose(ctx context.Context) context.Context {
	return httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) {
			c := info.Conn
			if tc, ok := c.(*tls.Conn); ok {
				c = tc.NetConn()
			}
			if tc, ok := c.(*net.TCPConn); ok {
				tc.SetLinger(0)
			}
		},
	})
}

// move moves tmp to the photo's name. It returns errDelivered if a file
// that is the photo is already there.
func (u *uploader) move(ctx context.Context, tmp string) error {
	t := u.t
	req, err := t.request(ctx, "MOVE", t.url(tmp), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Destination", t.url(u.name))
	overwrite := t.cfg.Overwrite || t.cfg.FixedName != ""
	req.Header.Set("Overwrite", map[bool]string{true: "T", false: "F"}[overwrite])
	resp, err := t.client.Do(req)
	if err != nil {
		return fmt.Errorf("MOVE %s to %s: %w", tmp, u.name, err)
	}
	defer upload.Drain(resp)
	switch resp.StatusCode {
	case http.StatusPreconditionFailed:
		// Something arrived under the name since we looked.
		done, err := u.delivered(ctx)
		if err == nil && done {
			return errDelivered
		}
		if err == nil {
			err = fmt.Errorf("MOVE %s to %s: %s", tmp, u.name, resp.Status)
		}
		return err
	case http.StatusConflict:
		t.forgetDirs()
	}
	return t.responseError(resp)
}

// proppatch stores the photo's sha256 as a dead property of tmp, which
// MOVE keeps: a later attempt can then tell the photo from another file of
// the same size without fetching it. Servers without dead properties
// (nginx) refuse it once, and are not asked again.
func (t *Target) proppatch(ctx context.Context, tmp, sum string) {
	if t.noProps.Load() {
		return
	}
	body := `<?xml version="1.0" encoding="utf-8"?>` +
		`<D:propertyupdate xmlns:D="DAV:" xmlns:L="` + propNS + `"><D:set><D:prop><L:sha256>` + sum +
		`</L:sha256></D:prop></D:set></D:propertyupdate>`
	req, err := t.request(ctx, "PROPPATCH", t.url(tmp), []byte(body))
	if err != nil {
		return
	}
	resp, err := t.client.Do(req)
	if err != nil {
		return
	}
	defer upload.Drain(resp)
	if resp.StatusCode == http.StatusMethodNotAllowed || resp.StatusCode == http.StatusNotImplemented || resp.StatusCode == http.StatusForbidden {
		t.noProps.Store(true)
		t.log.Info("webdav: server keeps no properties; existing files are compared by size", "status", resp.Status)
	}
}

// hash fetches name and returns its sha256.
func (t *Target) hash(ctx context.Context, name string) (string, error) {
	req, err := t.request(ctx, http.MethodGet, t.url(name), nil)
	if err != nil {
		return "", err
	}
	resp, err := t.client.Do(req)
	if err != nil {
		return "", fmt.Errorf("GET %s: %w", name, err)
	}
	defer upload.Drain(resp)
	if err := t.responseError(resp); err != nil {
		return "", err
	}
	h := sha256.New()
	if _, err := io.Copy(h, io.LimitReader(resp.Body, t.cfg.VerifyMax+1)); err != nil {
		return "", fmt.Errorf("GET %s: %w", name, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// mkdirs makes sure folder dir ("2026/11/26", "" for the base) exists:
// MKCOL of the deepest first, which is one request on most days, and its
// parents only when the server says they are missing (409).
func (t *Target) mkdirs(ctx context.Context, dir string) error {
	if dir == "" || t.knownDir(dir) {
		return nil
	}
	code, err := t.mkcol(ctx, dir)
	if err != nil {
		return err
	}
	if code == http.StatusConflict {
		parent := path.Dir(dir)
		if parent == "." {
			return &upload.PermanentError{StatusCode: code, Err: fmt.Errorf("MKCOL %s: 409 Conflict: the collection %s does not exist", dir, upload.RedactURL(t.base))}
		}
		if err := t.mkdirs(ctx, parent); err != nil {
			return err
		}
		if code, err = t.mkcol(ctx, dir); err != nil {
			return err
		}
		if code == http.StatusConflict {
			return fmt.Errorf("MKCOL %s: 409 Conflict after creating its parent", dir)
		}
	}
	t.mu.Lock()
	t.dirs[dir] = true
	t.mu.Unlock()
	return nil
}

// mkcol creates one folder. It returns 201 when created or already there
// (405, as RFC 4918 says, or 301 from servers that redirect to the
// slashed name), 409 when the parent is missing, and an error otherwise.
func (t *Target) mkcol(ctx context.Context, dir string) (int, error) {
	// With the trailing slash: nginx refuses a collection without it.
	req, err := t.request(ctx, "MKCOL", t.url(dir+"/"), nil)
	if err != nil {
		return 0, err
	}
	resp, err := t.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("MKCOL %s: %w", dir, err)
	}
	defer upload.Drain(resp)
	switch resp.StatusCode {
	case http.StatusCreated, http.StatusOK, http.StatusNoContent, http.StatusMethodNotAllowed, http.StatusMovedPermanently:
		return http.StatusCreated, nil
	case http.StatusConflict:
		return http.StatusConflict, nil
	}
	return 0, fmt.Errorf("MKCOL %s: %w", dir, t.responseError(resp))
}

func (t *Target) knownDir(dir string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.dirs[dir]
}

// forgetDirs drops what is known of the folders, after a 409 said one is
// missing (someone deleted it).
func (t *Target) forgetDirs() {
	t.mu.Lock()
	clear(t.dirs)
	t.mu.Unlock()
}

// responseError maps a WebDAV response to an error, as
// upload.ResponseError does, with WebDAV's own statuses: 423 Locked (a
// client holds the file, say a live-cam page being read on Nextcloud) and
// 409 Conflict (a folder vanished) are retried; 507 Insufficient Storage
// waits StorageFullWait, since someone can free space; a redirect that
// changes the method is reported with its Location, permanent for 301
// and 308 (the URL to configure has moved).
func (t *Target) responseError(resp *http.Response) error {
	err := upload.ResponseError(resp)
	if err == nil {
		return nil
	}
	var he *upload.HTTPError
	if !errors.As(err, &he) {
		return err
	}
	switch c := resp.StatusCode; c {
	case http.StatusLocked, http.StatusConflict:
		return he
	case http.StatusInsufficientStorage:
		return &upload.RetryAfterError{After: t.cfg.StorageFullWait, Err: fmt.Errorf("the server's storage is full: %w", he)}
	case http.StatusMovedPermanently, http.StatusPermanentRedirect, http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect:
		loc := upload.Redact(resp.Header.Get("Location"))
		err := fmt.Errorf("%w: redirected to %q; configure the URL it moved to", he, loc)
		if c == http.StatusMovedPermanently || c == http.StatusPermanentRedirect {
			return &upload.PermanentError{StatusCode: c, Err: err}
		}
		return err
	}
	return err
}
