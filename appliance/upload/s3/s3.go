// Package s3 uploads photos to any S3-compatible object store (AWS, MinIO,
// Ceph, Garage, versitygw, …). A photo up to MultipartThreshold goes in one
// PUT Object; a larger one in a multipart upload whose UploadId and
// completed parts are saved through the outbox, so that an attempt after a
// dropped link or a reboot sends only the parts not yet acknowledged. S3
// makes an object visible only once it is complete, so a half-written
// photo is never seen under its key.
//
// Requests are signed with Signature Version 4 and carry the payload's
// real SHA-256 in x-amz-content-sha256, which the store checks before it
// keeps the bytes. The photo's SHA-256 is also kept as the object's
// x-amz-meta-sha256, to recognise a photo already delivered.
package s3

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-retryablehttp"

	"github.com/lapsebox/lapsebox/appliance/upload"
	"github.com/lapsebox/lapsebox/internal/s3client"
)

// Config configures a Target.
type Config struct {
	// Endpoint is the store's base URL ("https://s3.eu-central-1.amazonaws.com",
	// "http://nas.local:9000").
	Endpoint string
	// Region is the signing region (default "us-east-1", which most
	// self-hosted stores expect).
	Region string
	// Bucket is the bucket photos go to; it must exist.
	Bucket string
	// Prefix is put before every photo's name to make its key ("site-a/").
	Prefix string
	// AccessKey and SecretKey are the credential; SessionToken is set for
	// temporary credentials only.
	AccessKey, SecretKey, SessionToken string
	// PathStyle addresses the bucket in the path (endpoint/bucket/key),
	// as most self-hosted stores want; otherwise in the host name
	// (bucket.endpoint/key), as AWS prefers.
	PathStyle bool
	// Overwrite lets an upload replace a different object already under
	// a photo's key. Without it such a photo fails permanently.
	Overwrite bool
	// MultipartThreshold is the size above which a photo goes in a
	// multipart upload (default 64 MiB).
	MultipartThreshold int64
	// PartSize is the size of each part but the last (default 16 MiB; S3
	// wants at least 5 MiB).
	PartSize int64
	// ListPageSize is how many keys one ListObjectsV2 page asks for
	// (default 1000, S3's maximum).
	ListPageSize int
	// Transfer's Rounds counts requests in a row that fail without
	// progress (default 5).
	upload.Transfer
}

// Target delivers photos to an S3 bucket. It implements upload.Target and
// is safe for concurrent use.
type Target struct {
	*s3client.Client
	cfg    Config
	client *retryablehttp.Client
	http   *http.Client
	log    *slog.Logger
}

var _ upload.Target = (*Target)(nil)

// metaSHA256 is the object metadata holding the photo's SHA-256.
const metaSHA256 = s3client.MetaSHA256

// New returns a Target for cfg.
func New(cfg Config) (*Target, error) {
	sc, err := s3client.New(s3client.Config{Endpoint: cfg.Endpoint, Region: cfg.Region, Bucket: cfg.Bucket,
		AccessKey: cfg.AccessKey, SecretKey: cfg.SecretKey, SessionToken: cfg.SessionToken, PathStyle: cfg.PathStyle})
	if err != nil {
		return nil, err
	}
	if cfg.MultipartThreshold <= 0 {
		cfg.MultipartThreshold = 64 << 20
	}
	if cfg.PartSize <= 0 {
		cfg.PartSize = 16 << 20
	}
	if cfg.ListPageSize <= 0 || cfg.ListPageSize > 1000 {
		cfg.ListPageSize = 1000
	}
	cfg.Transfer = cfg.Transfer.WithDefaults(5)
	t := &Target{Client: sc, cfg: cfg, log: cfg.Logger}
	c := cfg.Client
	t.http = c.HTTPClient
	// A copy of the client that signs every retry anew, with its time.
	t.client = &retryablehttp.Client{
		HTTPClient: c.HTTPClient, Logger: c.Logger,
		RetryWaitMin: c.RetryWaitMin, RetryWaitMax: c.RetryWaitMax, RetryMax: c.RetryMax,
		RequestLogHook: c.RequestLogHook, ResponseLogHook: c.ResponseLogHook,
		CheckRetry: c.CheckRetry, Backoff: c.Backoff, ErrorHandler: c.ErrorHandler,
		PrepareRetry: func(req *http.Request) error {
			return t.Sign(req, req.Header.Get("X-Amz-Content-Sha256"))
		},
	}
	if t.client.CheckRetry == nil {
		t.client.CheckRetry = retryablehttp.DefaultRetryPolicy
	}
	if t.client.Backoff == nil {
		t.client.Backoff = retryablehttp.DefaultBackoff
	}
	return t, nil
}

// do sends a request without photo bytes, retried by the client, and
// returns the response if it is a 2xx, an error made from it otherwise.
func (t *Target) do(ctx context.Context, method, key string, q url.Values, body []byte, hdr http.Header) (*http.Response, error) {
	var b any
	if body != nil {
		b = body
	}
	hash := s3client.PayloadHash(body)
	what := fmt.Sprintf("%s %s", method, t.cfg.Prefix)
	if key != "" {
		what = fmt.Sprintf("%s %s", method, key)
	}
	req, err := retryablehttp.NewRequestWithContext(ctx, method, t.URL(key, q), b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	if err := t.Sign(req.Request, hash); err != nil {
		return nil, err
	}
	resp, err := t.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, errors.New(upload.Redact(err.Error())))
	}
	if err := responseError(resp); err != nil {
		upload.Drain(resp)
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return resp, nil
}

// state is the resume state of a multipart upload, saved in the outbox
// entry.
type state struct {
	UploadID string `json:"upload_id"`
	Key      string `json:"key"`
	Size     int64  `json:"size"`
	SHA256   string `json:"sha256"`
	PartSize int64  `json:"part_size"`
	Parts    []part `json:"parts,omitempty"` // acknowledged, 1 to len(Parts)
}

type part struct {
	N    int    `json:"n"`
	ETag string `json:"etag"`
}

// Upload implements upload.Target.
func (t *Target) Upload(ctx context.Context, item upload.Item, save func(json.RawMessage) error) error {
	if item.Name == "" || strings.HasPrefix(item.Name, "/") {
		return &upload.PermanentError{Err: fmt.Errorf("s3: name %q: want a relative path", item.Name)}
	}
	if item.Size < 0 || len(item.SHA256) != 64 {
		return &upload.PermanentError{Err: fmt.Errorf("s3: %s: item has size %d and sha256 %q", item.Name, item.Size, item.SHA256)}
	}
	if item.Size > 10000*t.cfg.PartSize {
		return &upload.PermanentError{Err: fmt.Errorf("s3: %s: %d bytes need more than 10000 parts of %d", item.Name, item.Size, t.cfg.PartSize)}
	}
	f, err := item.Open()
	if err != nil {
		return fmt.Errorf("s3: opening %s: %w", item.Name, err)
	}
	defer f.Close()
	u := &uploader{t: t, item: item, key: t.cfg.Prefix + item.Name, f: f, save: save}
	if len(item.Resume) > 0 {
		var st state
		if err := json.Unmarshal(item.Resume, &st); err != nil || st.UploadID == "" {
			t.log.Warn("s3: ignoring unreadable resume state", "name", item.Name, "err", err)
		} else if st.Key != u.key || st.Size != item.Size || st.SHA256 != item.SHA256 || st.PartSize <= 0 {
			// The photo or the configuration changed under the entry.
			t.abort(ctx, st.Key, st.UploadID)
		} else {
			u.st = &st
		}
	}
	return u.run(ctx)
}

// uploader is one call of Upload.
type uploader struct {
	t    *Target
	item upload.Item
	key  string
	f    io.ReadSeeker
	save func(json.RawMessage) error
	st   *state // a multipart upload in progress
}

// errDone is the signal that the object is in place and checked.
var errDone = errors.New("done")

// errNoSuchUpload says the multipart upload is gone: completed (its answer
// lost), aborted or expired.
var errNoSuchUpload = errors.New("multipart upload gone")

func (u *uploader) run(ctx context.Context) error {
	t := u.t
	failures := 0
	for {
		before := u.progress()
		err := u.step(ctx)
		if u.progress() > before {
			failures = 0
		}
		switch {
		case errors.Is(err, errDone):
			return u.persist(nil)
		case err == nil:
			continue
		case ctx.Err() != nil:
			return fmt.Errorf("s3: %s: %w", u.key, context.Cause(ctx))
		case upload.IsPermanent(err):
			if u.st != nil {
				t.abort(ctx, u.key, u.st.UploadID)
				u.persist(nil)
			}
			return fmt.Errorf("s3: %s: %w", u.key, err)
		}
		if failures++; failures >= t.cfg.Rounds {
			return fmt.Errorf("s3: %s: %d attempts without progress: %w", u.key, failures, err)
		}
		wait := t.client.Backoff(t.client.RetryWaitMin, t.client.RetryWaitMax, failures-1, nil)
		if d, ok := upload.IsRetryAfter(err); ok {
			if d > t.client.RetryWaitMax {
				return fmt.Errorf("s3: %s: %w", u.key, err)
			}
			wait = d
		}
		t.log.Info("s3: retrying", "key", u.key, "wait", wait, "err", upload.Redact(err.Error()))
		select {
		case <-ctx.Done():
			return fmt.Errorf("s3: %s: %w", u.key, context.Cause(ctx))
		case <-time.After(wait):
		}
	}
}

func (u *uploader) progress() int {
	if u.st == nil {
		return 0
	}
	return 1 + len(u.st.Parts)
}

func (u *uploader) persist(st *state) error {
	var b json.RawMessage
	if st != nil {
		var err error
		if b, err = json.Marshal(st); err != nil {
			return err
		}
	}
	if err := u.save(b); err != nil {
		return fmt.Errorf("s3: %s: saving resume state: %w", u.key, err)
	}
	return nil
}

// step makes one move: check for the object and send it whole, start a
// multipart upload, send one part, or complete it. It returns errDone
// once the object is in place.
func (u *uploader) step(ctx context.Context) error {
	t := u.t
	if u.st == nil {
		obj, err := t.head(ctx, u.key)
		if err != nil {
			return err
		}
		if obj != nil {
			if obj.Size == u.item.Size && obj.SHA256 == u.item.SHA256 {
				t.log.Info("s3: already in the bucket", "key", u.key)
				return errDone
			}
			if !t.cfg.Overwrite {
				return &upload.PermanentError{StatusCode: http.StatusPreconditionFailed,
					Err: fmt.Errorf("a different object (%d bytes, sha256 %q) is already under this key, and Overwrite is off", obj.Size, obj.SHA256)}
			}
		}
		if u.item.Size <= t.cfg.MultipartThreshold {
			if err := u.put(ctx, nil, 0, 0, u.item.Size, u.item.SHA256); err != nil {
				return err
			}
			return u.verify(ctx)
		}
		return u.create(ctx)
	}
	n := len(u.st.Parts) + 1
	off := int64(n-1) * u.st.PartSize
	if off < u.item.Size {
		size := min(u.st.PartSize, u.item.Size-off)
		sum, err := u.hashSection(off, size)
		if err != nil {
			return err
		}
		q := url.Values{"partNumber": {strconv.Itoa(n)}, "uploadId": {u.st.UploadID}}
		err = u.put(ctx, q, n, off, size, sum)
		if errors.Is(err, errNoSuchUpload) {
			return u.restart(ctx, err)
		}
		return err
	}
	err := u.complete(ctx)
	if errors.Is(err, errNoSuchUpload) {
		// Completed by a request whose answer was lost, or expired.
		if obj, herr := t.head(ctx, u.key); herr == nil && obj != nil && obj.Size == u.item.Size && obj.SHA256 == u.item.SHA256 {
			return errDone
		}
		return u.restart(ctx, err)
	}
	if err != nil {
		return err
	}
	return u.verify(ctx)
}

// restart forgets a multipart upload the store no longer has.
func (u *uploader) restart(_ context.Context, cause error) error {
	u.t.log.Warn("s3: multipart upload gone, starting over", "key", u.key, "upload_id", u.st.UploadID)
	u.st = nil
	if err := u.persist(nil); err != nil {
		return err
	}
	return cause
}

// verify checks the object the store now has under the key.
func (u *uploader) verify(ctx context.Context) error {
	obj, err := u.t.head(ctx, u.key)
	if err != nil {
		return fmt.Errorf("checking the object: %w", err)
	}
	if obj == nil || obj.Size != u.item.Size || obj.SHA256 != u.item.SHA256 {
		return fmt.Errorf("after the upload the store has %+v, want %d bytes with sha256 %s", obj, u.item.Size, u.item.SHA256)
	}
	return errDone
}

// hashSection returns the sha256 of the part at off, read past the
// uplink's share where the reader allows: it is not sent.
func (u *uploader) hashSection(off, size int64) (string, error) {
	h := sha256.New()
	var r io.ReadSeeker = u.f
	if um, ok := u.f.(upload.Unmetered); ok {
		r = um.Unmetered()
	}
	if _, err := r.Seek(off, io.SeekStart); err != nil {
		return "", fmt.Errorf("seeking %s to %d: %w", u.item.Name, off, err)
	}
	if n, err := io.Copy(h, io.LimitReader(r, size)); err != nil || n != size {
		return "", fmt.Errorf("reading %s at %d: %d of %d bytes: %v", u.item.Name, off, n, size, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// put sends size bytes at off: the whole object (q nil), or part n. It is
// not retried as is: after a failure, run calls step again, which signs a
// new request.
func (u *uploader) put(ctx context.Context, q url.Values, n int, off, size int64, sum string) error {
	t := u.t
	what := "PUT " + u.key
	if n > 0 {
		what = fmt.Sprintf("PUT %s part %d", u.key, n)
	}
	gctx, guard := upload.NewStallGuard(ctx, t.cfg.StallTimeout)
	defer guard.Stop()
	open := func() (io.ReadCloser, error) { return guard.Body(u.f, u.item.Name, off, size) }
	body, err := open()
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(guard.Trace(gctx), http.MethodPut, t.URL(u.key, q), body)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	req.ContentLength, req.GetBody = size, open
	if size == 0 {
		req.Body = http.NoBody
	}
	if n == 0 {
		if u.item.ContentType != "" {
			req.Header.Set("Content-Type", u.item.ContentType)
		}
		req.Header.Set(metaSHA256, u.item.SHA256)
	}
	if size >= 64<<10 {
		req.Header.Set("Expect", "100-continue") // a refusal costs no body
	}
	if err := t.Sign(req, sum); err != nil {
		return err
	}
	resp, err := t.http.Do(req)
	if err != nil {
		if c := upload.StallCause(gctx); c != nil {
			err = c
		}
		return fmt.Errorf("%s: %w", what, errors.New(upload.Redact(err.Error())))
	}
	defer upload.Drain(resp)
	guard.Progress()
	if err := responseError(resp); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if n > 0 {
		etag := resp.Header.Get("ETag")
		if etag == "" {
			return fmt.Errorf("%s: %s without an ETag", what, resp.Status)
		}
		u.st.Parts = append(u.st.Parts, part{N: n, ETag: etag})
		return u.persist(u.st)
	}
	return nil
}

// create starts a multipart upload and saves its id before any part is
// sent.
func (u *uploader) create(ctx context.Context) error {
	t := u.t
	hdr := http.Header{metaSHA256: {u.item.SHA256}}
	if u.item.ContentType != "" {
		hdr.Set("Content-Type", u.item.ContentType)
	}
	resp, err := t.do(ctx, http.MethodPost, u.key, url.Values{"uploads": {""}}, nil, hdr)
	if err != nil {
		return err
	}
	defer upload.Drain(resp)
	var r struct {
		UploadID string `xml:"UploadId"`
	}
	if err := xml.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&r); err != nil || r.UploadID == "" {
		return fmt.Errorf("POST %s?uploads: no UploadId in the answer: %v", u.key, err)
	}
	u.st = &state{UploadID: r.UploadID, Key: u.key, Size: u.item.Size, SHA256: u.item.SHA256, PartSize: t.cfg.PartSize}
	return u.persist(u.st)
}

// complete asks the store to assemble the parts.
func (u *uploader) complete(ctx context.Context) error {
	var b bytes.Buffer
	b.WriteString(`<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">`)
	for _, p := range u.st.Parts {
		fmt.Fprintf(&b, "<Part><PartNumber>%d</PartNumber><ETag>", p.N)
		xml.EscapeText(&b, []byte(p.ETag))
		b.WriteString("</ETag></Part>")
	}
	b.WriteString("</CompleteMultipartUpload>")
	resp, err := u.t.do(ctx, http.MethodPost, u.key, url.Values{"uploadId": {u.st.UploadID}}, b.Bytes(), http.Header{"Content-Type": {"application/xml"}})
	if err != nil {
		return err
	}
	defer upload.Drain(resp)
	// S3 may answer 200 and still fail, with an Error document.
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return fmt.Errorf("POST %s?uploadId: reading the answer: %w", u.key, err)
	}
	if e, ok := s3client.ParseError(body); ok {
		err := fmt.Errorf("POST %s?uploadId: %s: %s", u.key, e.Code, e.Message)
		if e.Code == "NoSuchUpload" {
			return fmt.Errorf("%w: %w", errNoSuchUpload, err)
		}
		return err
	}
	return nil
}

// abort ends a multipart upload, best effort: a store expires what it
// misses if a lifecycle rule says so.
func (t *Target) abort(ctx context.Context, key, id string) {
	resp, err := t.do(ctx, http.MethodDelete, key, url.Values{"uploadId": {id}}, nil, nil)
	if err != nil {
		t.log.Info("s3: aborting a multipart upload", "key", key, "err", upload.Redact(err.Error()))
		return
	}
	upload.Drain(resp)
}

// head returns the object under key, nil if there is none.
func (t *Target) head(ctx context.Context, key string) (*s3client.Object, error) {
	resp, err := t.do(ctx, http.MethodHead, key, nil, nil, nil)
	var he *upload.HTTPError
	if errors.As(err, &he) && he.StatusCode == http.StatusNotFound {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	upload.Drain(resp)
	obj := s3client.ObjectOf(resp)
	return &obj, nil
}

// List implements upload.Target: the photos' names under prefix, from
// ListObjectsV2, page by page.
func (t *Target) List(ctx context.Context, prefix string) ([]string, error) {
	var names []string
	get := func(q url.Values) (*s3client.ListPage, error) {
		resp, err := t.do(ctx, http.MethodGet, "", q, nil, nil)
		if err != nil {
			return nil, err
		}
		defer upload.Drain(resp)
		return s3client.ParseList(io.LimitReader(resp.Body, 64<<20))
	}
	err := s3client.Pages(t.cfg.Prefix+prefix, t.cfg.ListPageSize, get, func(o s3client.Listed) error {
		if name, ok := strings.CutPrefix(o.Key, t.cfg.Prefix); ok {
			names = append(names, name)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("s3: listing %q: %w", prefix, err)
	}
	return names, nil
}

// responseError maps a response to an error as upload.ResponseError does,
// with S3's codes: a payload that did not hash as signed
// (XAmzContentSHA256Mismatch, BadDigest), a body cut short
// (IncompleteBody, RequestTimeout) and a clock off by minutes
// (RequestTimeTooSkewed) are retried, not parked; NoSuchUpload wraps
// errNoSuchUpload.
func responseError(resp *http.Response) error {
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	var body []byte
	if resp.Body != nil {
		body, _ = io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		resp.Body = io.NopCloser(bytes.NewReader(body))
	}
	err := upload.ResponseError(resp)
	e, _ := s3client.ParseError(body)
	switch e.Code {
	case "NoSuchUpload":
		return fmt.Errorf("%w: %w", errNoSuchUpload, err)
	case "XAmzContentSHA256Mismatch", "BadDigest", "IncompleteBody", "RequestTimeout", "RequestTimeTooSkewed":
		var he *upload.HTTPError
		if errors.As(err, &he) {
			return he
		}
	}
	return err
}
