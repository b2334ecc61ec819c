package archive

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/lapsebox/lapsebox/internal/redact"
	"github.com/lapsebox/lapsebox/internal/s3client"
)

// S3Config configures an S3 store.
type S3Config struct {
	// Endpoint, Region, Bucket, AccessKey, SecretKey and PathStyle are
	// as in s3client.Config; the bucket must exist.
	Endpoint, Region, Bucket string
	AccessKey, SecretKey     string
	PathStyle                bool
	// Prefix is put before every key ("lapsebox/"): empty, or a clean
	// relative path ending in a slash.
	Prefix string
	// Client sends the requests (nil: one with connection and header
	// timeouts). Redirects are never followed: a signed request goes
	// only to the endpoint.
	Client *http.Client
}

// S3 is a Store in an S3 bucket (AWS, MinIO, Ceph, versitygw), an object
// per photo under Prefix+key, with the photo's SHA-256 in
// x-amz-meta-sha256. A Put is one PUT Object signed with the photo's
// SHA-256 as its payload hash, so the store itself refuses bytes that do
// not match; S3 shows an object only once it is complete.
type S3 struct {
	c      *s3client.Client
	http   *http.Client
	prefix string
	name   string
}

// NewS3 returns an S3 store for cfg.
func NewS3(cfg S3Config) (*S3, error) {
	c, err := s3client.New(s3client.Config{Endpoint: cfg.Endpoint, Region: cfg.Region, Bucket: cfg.Bucket,
		AccessKey: cfg.AccessKey, SecretKey: cfg.SecretKey, PathStyle: cfg.PathStyle})
	if err != nil {
		return nil, fmt.Errorf("archive: %w", err)
	}
	if p := cfg.Prefix; p != "" {
		if !strings.HasSuffix(p, "/") {
			return nil, fmt.Errorf("archive: s3 prefix %q: want a path ending in a slash", p)
		}
		// A prefix of one element passes CheckKey's "<device>/<name>"
		// rule with a placeholder name.
		if err := CheckKey(strings.TrimSuffix(p, "/") + "/x"); err != nil {
			return nil, fmt.Errorf("archive: s3 prefix %q: %w", p, err)
		}
	}
	hc := cfg.Client
	if hc == nil {
		hc = &http.Client{Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: time.Minute,
			ExpectContinueTimeout: time.Second,
			IdleConnTimeout:       90 * time.Second,
			MaxIdleConnsPerHost:   8,
		}}
	}
	noRedirect := *hc
	noRedirect.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	name := fmt.Sprintf("s3 %s/%s/%s", redact.String(strings.TrimSuffix(cfg.Endpoint, "/")), cfg.Bucket, cfg.Prefix)
	return &S3{c: c, http: &noRedirect, prefix: cfg.Prefix, name: strings.TrimSuffix(name, "/")}, nil
}

func (s *S3) String() string { return s.name }

// object returns key's object name, after checking key.
func (s *S3) object(key string) (string, error) {
	if err := CheckKey(key); err != nil {
		return "", fmt.Errorf("archive: %w", err)
	}
	return s.prefix + key, nil
}

// do sends a signed request and returns its answer if it is a 2xx. A
// 404 is ErrNotExist, a failure to answer or a 5xx ErrUnavailable.
func (s *S3) do(ctx context.Context, method, obj string, q url.Values, body io.Reader, size int64, payloadHash string, hdr http.Header) (*http.Response, error) {
	what := method + " " + obj
	if obj == "" {
		what = method + " " + s.name
	}
	req, err := http.NewRequestWithContext(ctx, method, s.c.URL(obj, q), body)
	if err != nil {
		return nil, fmt.Errorf("archive: %s: %w", what, err)
	}
	if body != nil {
		req.ContentLength = size
		if size == 0 {
			req.Body = http.NoBody
		}
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	if err := s.c.Sign(req, payloadHash); err != nil {
		return nil, fmt.Errorf("archive: %s: %w", what, err)
	}
	resp, err := s.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("archive: %s: %w", what, context.Cause(ctx))
		}
		return nil, fmt.Errorf("archive: %s: %w: %s", what, ErrUnavailable, redact.String(err.Error()))
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp, nil
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	resp.Body.Close()
	msg := resp.Status
	if e, ok := s3client.ParseError(b); ok {
		msg += ": " + e.Code
		if e.Message != "" {
			msg += ": " + e.Message
		}
	}
	switch {
	case resp.StatusCode == http.StatusNotFound && method != http.MethodPut:
		return nil, fmt.Errorf("archive: %s: %w (%s)", what, ErrNotExist, msg)
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		return nil, fmt.Errorf("archive: %s: %w: %s", what, ErrUnavailable, msg)
	}
	if e, ok := s3client.ParseError(b); ok && (e.Code == "XAmzContentSHA256Mismatch" || e.Code == "BadDigest") {
		return nil, fmt.Errorf("archive: %s: %w: %s", what, ErrMismatch, msg)
	}
	return nil, fmt.Errorf("archive: %s: %s", what, msg)
}

// MaxS3Object is the largest photo an S3 store takes: S3's limit for
// one PUT Object.
const MaxS3Object = 5 << 30

// Put implements Store.
func (s *S3) Put(ctx context.Context, key string, r io.Reader, size int64, sum string) error {
	obj, err := s.object(key)
	if err != nil {
		return err
	}
	if size > MaxS3Object {
		return fmt.Errorf("archive: %s: %d bytes, more than the %d of one PUT", key, size, int64(MaxS3Object))
	}
	hdr := http.Header{s3client.MetaSHA256: {sum}, "Content-Type": {"application/octet-stream"}}
	resp, err := s.do(ctx, http.MethodPut, obj, nil, io.LimitReader(r, size), size, sum, hdr)
	if err != nil {
		return err
	}
	drain(resp)
	return nil
}

// Stat implements Store.
func (s *S3) Stat(ctx context.Context, key string) (Object, error) {
	obj, err := s.object(key)
	if err != nil {
		return Object{}, err
	}
	resp, err := s.do(ctx, http.MethodHead, obj, nil, nil, 0, s3client.EmptySHA256, nil)
	if err != nil {
		return Object{}, err
	}
	drain(resp)
	o := s3client.ObjectOf(resp)
	return Object{Key: key, Size: o.Size, SHA256: o.SHA256}, nil
}

// Open implements Store.
func (s *S3) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	obj, err := s.object(key)
	if err != nil {
		return nil, err
	}
	resp, err := s.do(ctx, http.MethodGet, obj, nil, nil, 0, s3client.EmptySHA256, nil)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// Delete implements Store.
func (s *S3) Delete(ctx context.Context, key string) error {
	obj, err := s.object(key)
	if err != nil {
		return err
	}
	resp, err := s.do(ctx, http.MethodDelete, obj, nil, nil, 0, s3client.EmptySHA256, nil)
	if errors.Is(err, ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	drain(resp)
	return nil
}

// Walk implements Store: ListObjectsV2 under the prefix, page by page.
// Keys are the listed ones without the prefix, unchecked; a key outside
// the prefix (a store should not list one) is passed with a leading
// slash, which CheckKey refuses.
func (s *S3) Walk(ctx context.Context, fn func(Object) error) error {
	get := func(q url.Values) (*s3client.ListPage, error) {
		resp, err := s.do(ctx, http.MethodGet, "", q, nil, 0, s3client.EmptySHA256, nil)
		if err != nil {
			return nil, err
		}
		defer drain(resp)
		return s3client.ParseList(io.LimitReader(resp.Body, 64<<20))
	}
	err := s3client.Pages(s.prefix, 1000, get, func(o s3client.Listed) error {
		key, ok := strings.CutPrefix(o.Key, s.prefix)
		if !ok {
			key = "/" + o.Key // outside the prefix: absolute, which CheckKey refuses
		}
		return fn(Object{Key: key, Size: o.Size})
	})
	if err != nil {
		return fmt.Errorf("archive: listing %s: %w", s.name, err)
	}
	return nil
}

func drain(resp *http.Response) {
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}
