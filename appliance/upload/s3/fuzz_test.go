package s3

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/lapsebox/lapsebox/appliance/upload"
)

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
