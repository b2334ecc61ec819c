// Package s3client is the part of an S3 client that does not depend on
// who uses it: where a key's URL is (path or virtual-host style), how a
// request is signed (Signature Version 4, with aws-sdk-go-v2's signer),
// and how S3's answers read (an object's size and recorded SHA-256, a
// ListObjectsV2 page, an error document). The device's S3 target
// (appliance/upload/s3) and cloudd's replica store (cloud/archive) build
// their requests on it, each with its own policy for retries and errors.
package s3client

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/lapsebox/lapsebox/internal/redact"
)

// EmptySHA256 is the SHA-256 of no bytes, the payload hash of a request
// without a body.
const EmptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// MetaSHA256 is the object metadata holding a photo's SHA-256 (hex).
const MetaSHA256 = "X-Amz-Meta-Sha256"

// Config says where a bucket is and how to sign for it.
type Config struct {
	// Endpoint is the store's base URL ("https://s3.eu-central-1.amazonaws.com",
	// "http://nas.local:9000").
	Endpoint string
	// Region is the signing region (default "us-east-1", which most
	// self-hosted stores expect).
	Region string
	// Bucket is the bucket; it must exist.
	Bucket string
	// AccessKey and SecretKey are the credential; SessionToken is set for
	// temporary credentials only.
	AccessKey, SecretKey, SessionToken string
	// PathStyle addresses the bucket in the path (endpoint/bucket/key),
	// as most self-hosted stores want; otherwise in the host name
	// (bucket.endpoint/key), as AWS prefers.
	PathStyle bool
}

// Client builds and signs requests for one bucket. It is safe for
// concurrent use.
type Client struct {
	cfg      Config
	endpoint *url.URL
	signer   *v4.Signer
	creds    aws.Credentials
}

// New checks cfg and returns a Client for it.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(cfg.Endpoint)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || strings.Trim(u.Path, "/") != "" || u.User != nil {
		return nil, fmt.Errorf("s3: endpoint %q: want http(s)://host[:port]", redact.String(cfg.Endpoint))
	}
	u.Path, u.RawPath, u.RawQuery = "", "", ""
	if cfg.Bucket == "" || strings.ContainsAny(cfg.Bucket, "/?#") {
		return nil, fmt.Errorf("s3: bucket %q", cfg.Bucket)
	}
	if !cfg.PathStyle && strings.Contains(cfg.Bucket, ".") && u.Scheme == "https" {
		// The bucket's host name would not match a wildcard certificate.
		return nil, fmt.Errorf("s3: bucket %q has dots: use PathStyle over https", cfg.Bucket)
	}
	if cfg.AccessKey == "" || cfg.SecretKey == "" {
		return nil, errors.New("s3: no access key or secret key")
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	return &Client{
		cfg: cfg, endpoint: u,
		signer: v4.NewSigner(func(o *v4.SignerOptions) {
			o.DisableURIPathEscaping = true // S3 escapes the path once
		}),
		creds: aws.Credentials{AccessKeyID: cfg.AccessKey, SecretAccessKey: cfg.SecretKey, SessionToken: cfg.SessionToken},
	}, nil
}

// EscapeKey escapes a key the way SigV4 wants S3 paths: every byte but
// the unreserved ones and "/" as %XX.
func EscapeKey(key string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(key); i++ {
		c := key[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' || c == '/' {
			b.WriteByte(c)
		} else {
			b.WriteByte('%')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&15])
		}
	}
	return b.String()
}

// URL returns the URL of key ("" for the bucket) with query q.
func (c *Client) URL(key string, q url.Values) string {
	u := *c.endpoint
	p := "/" + key
	if c.cfg.PathStyle {
		p = "/" + c.cfg.Bucket + p
	} else {
		u.Host = c.cfg.Bucket + "." + u.Host
	}
	u.Path, u.RawPath = p, EscapeKey(p)
	// S3 wants %20, not +, and the signer sorts the query itself.
	u.RawQuery = strings.ReplaceAll(q.Encode(), "+", "%20")
	return u.String()
}

// Sign signs req, now, for a payload hashing to payloadHash (hex), which
// it also sends as x-amz-content-sha256: the store refuses a body that
// does not hash to it.
func (c *Client) Sign(req *http.Request, payloadHash string) error {
	req.Header.Set("X-Amz-Content-Sha256", payloadHash)
	if err := c.signer.SignHTTP(req.Context(), c.creds, req, payloadHash, "s3", c.cfg.Region, time.Now()); err != nil {
		return fmt.Errorf("signing %s: %w", req.Method, err)
	}
	return nil
}

// PayloadHash returns the hex SHA-256 of body, EmptySHA256 for nil.
func PayloadHash(body []byte) string {
	if body == nil {
		return EmptySHA256
	}
	s := sha256.Sum256(body)
	return hex.EncodeToString(s[:])
}

// Object is what a HEAD or GET tells of an object.
type Object struct {
	Size int64
	// SHA256 is the photo's SHA-256 recorded in MetaSHA256 (lowercase
	// hex), "" if the object has none.
	SHA256 string
}

// ObjectOf reads an object's size and recorded SHA-256 from a HEAD or
// GET answer.
func ObjectOf(resp *http.Response) Object {
	return Object{Size: resp.ContentLength, SHA256: strings.ToLower(resp.Header.Get(MetaSHA256))}
}

// ListPage is one page of ListObjectsV2.
type ListPage struct {
	Objects   []Listed
	Truncated bool
	Next      string // the continuation token of the next page
}

// Listed is an object in a listing. Its key is whatever the store sent:
// never a path before it is checked.
type Listed struct {
	Key  string `xml:"Key"`
	Size int64  `xml:"Size"`
}

// ParseList decodes a ListObjectsV2 answer.
func ParseList(r io.Reader) (*ListPage, error) {
	var l struct {
		XMLName     xml.Name
		IsTruncated bool     `xml:"IsTruncated"`
		Next        string   `xml:"NextContinuationToken"`
		Contents    []Listed `xml:"Contents"`
	}
	if err := xml.NewDecoder(r).Decode(&l); err != nil {
		return nil, fmt.Errorf("decoding ListBucketResult: %w", err)
	}
	if l.XMLName.Local != "ListBucketResult" {
		return nil, fmt.Errorf("decoding ListBucketResult: got <%s>", l.XMLName.Local)
	}
	return &ListPage{Objects: l.Contents, Truncated: l.IsTruncated, Next: l.Next}, nil
}

// ErrorDoc is S3's error document.
type ErrorDoc struct {
	XMLName xml.Name
	Code    string `xml:"Code"`
	Message string `xml:"Message"`
}

// ParseError decodes body as an error document; ok is false if it is
// not one.
func ParseError(body []byte) (e ErrorDoc, ok bool) {
	if xml.Unmarshal(body, &e) != nil || e.XMLName.Local != "Error" {
		return ErrorDoc{}, false
	}
	return e, true
}

// Pages walks a ListObjectsV2 listing of prefix page by page: get sends
// the query of one page and returns it decoded, fn sees every object.
// pageSize is the keys a page asks for (S3 gives at most 1000).
func Pages(prefix string, pageSize int, get func(q url.Values) (*ListPage, error), fn func(Listed) error) error {
	token := ""
	for {
		q := url.Values{"list-type": {"2"}, "prefix": {prefix}, "max-keys": {strconv.Itoa(pageSize)}}
		if token != "" {
			q.Set("continuation-token", token)
		}
		page, err := get(q)
		if err != nil {
			return err
		}
		for _, o := range page.Objects {
			if err := fn(o); err != nil {
				return err
			}
		}
		if !page.Truncated {
			return nil
		}
		if page.Next == "" || page.Next == token {
			return errors.New("truncated page without a new continuation token")
		}
		token = page.Next
	}
}
