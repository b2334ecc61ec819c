package s3

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// FuzzParseList feeds the ListObjectsV2 decoder what a store might send.
func FuzzParseList(f *testing.F) {
	f.Add(`<ListBucketResult><IsTruncated>true</IsTruncated><NextContinuationToken>x</NextContinuationToken><Contents><Key>a/b.jpg</Key><Size>12</Size></Contents></ListBucketResult>`)
	f.Add(`<Error><Code>NoSuchBucket</Code></Error>`)
	f.Fuzz(func(t *testing.T, s string) {
		p, err := parseList(strings.NewReader(s))
		if err == nil && p.Truncated && p.Next == "" {
			return // List reports this; nothing to check here
		}
	})
}

// FuzzResponseError maps arbitrary error bodies: never a panic, never nil
// for a failure.
func FuzzResponseError(f *testing.F) {
	f.Add(400, `<Error><Code>XAmzContentSHA256Mismatch</Code></Error>`)
	f.Add(404, `<Error><Code>NoSuchUpload</Code></Error>`)
	f.Add(503, `garbage`)
	f.Fuzz(func(t *testing.T, code int, body string) {
		if code < 300 || code > 599 {
			return
		}
		resp := &http.Response{StatusCode: code, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(body))}
		if responseError(resp) == nil {
			t.Fatalf("%d: no error", code)
		}
	})
}
