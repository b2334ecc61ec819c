package s3

import (
	"bytes"
	"encoding/xml"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/lapsebox/lapsebox/appliance/upload"
)

// FuzzParseList feeds the ListObjectsV2 decoder what a store might send:
// a page it accepts, written back as a ListBucketResult, reads the same.
func FuzzParseList(f *testing.F) {
	f.Add(`<ListBucketResult><IsTruncated>true</IsTruncated><NextContinuationToken>x</NextContinuationToken><Contents><Key>a/b.jpg</Key><Size>12</Size></Contents></ListBucketResult>`)
	f.Add(`<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Contents><Key>a&amp;b &#xD;.jpg</Key><Size>-1</Size></Contents><Contents><Key></Key></Contents></ListBucketResult>`)
	f.Add(`<Error><Code>NoSuchBucket</Code></Error>`)
	f.Fuzz(func(t *testing.T, s string) {
		p, err := parseList(strings.NewReader(s))
		if err != nil {
			return
		}
		out, err := xml.Marshal(struct {
			XMLName     xml.Name `xml:"ListBucketResult"`
			IsTruncated bool     `xml:"IsTruncated"`
			Next        string   `xml:"NextContinuationToken"`
			Contents    []listed `xml:"Contents"`
		}{IsTruncated: p.Truncated, Next: p.Next, Contents: p.Objects})
		if err != nil {
			t.Fatalf("page %+v does not encode: %v", p, err)
		}
		p2, err := parseList(bytes.NewReader(out))
		if err != nil || !reflect.DeepEqual(p, p2) {
			t.Fatalf("round trip: %+v → %s → %+v, %v", p, out, p2, err)
		}
	})
}

// FuzzResponseError maps arbitrary error bodies: never nil for a failure,
// never permanent for what upload.PermanentStatus retries (S3's codes only
// make a failure retryable), and never more than a few KiB of the body.
func FuzzResponseError(f *testing.F) {
	f.Add(400, `<Error><Code>XAmzContentSHA256Mismatch</Code></Error>`)
	f.Add(404, `<Error><Code>NoSuchUpload</Code></Error>`)
	f.Add(503, `garbage`)
	f.Fuzz(func(t *testing.T, code int, body string) {
		if code < 300 || code > 599 {
			return
		}
		resp := &http.Response{StatusCode: code, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(body))}
		err := responseError(resp)
		if err == nil {
			t.Fatalf("%d: no error", code)
		}
		if upload.IsPermanent(err) && !upload.PermanentStatus(code) {
			t.Fatalf("%d: permanent: %v", code, err)
		}
		if n := len(err.Error()); n > 5<<10 {
			t.Fatalf("%d: a %d-byte error for a %d-byte body", code, n, len(body))
		}
	})
}
