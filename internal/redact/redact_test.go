package redact

import (
	"net/url"
	"testing"
)

func TestString(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain text", "plain text"},
		{"https://cloud.example.com/v1/files/abc", "https://cloud.example.com/v1/files/abc"},
		{`Put "https://alice:hunter2@dav.example.com/x.jpg": EOF`, `Put "https://dav.example.com/x.jpg": EOF`},
		{"GET http://h/p?token=s3cret&a=1 failed", "GET http://h/p?a=REDACTED&token=REDACTED failed"},
		{"https://user@h:8443/p", "https://h:8443/p"},
		{"http://alice:pw@h:bad-port/x", "[URL]"},
		{"Authorization: Bearer abc.def-123", "Authorization: Bearer REDACTED"},
		{"authorization: bearer abc, next", "authorization: bearer REDACTED, next"},
		{"two: http://a:b@x/ and ftp://c:d@y/?k=v", "two: http://x/ and ftp://y/?k=REDACTED"},
		{"<https://u:p@h/>", "<https://h/>"},
		{"the server wants basic authentication", "the server wants basic authentication"},
	} {
		if got := String(tc.in); got != tc.want {
			t.Errorf("String(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestURL(t *testing.T) {
	u, _ := url.Parse("https://alice:hunter2@h/p?sig=abc#frag")
	if got := URL(u); got != "https://h/p?sig=REDACTED#REDACTED" {
		t.Errorf("URL = %q", got)
	}
	if URL(nil) != "" {
		t.Error("URL(nil) is not empty")
	}
}

// FuzzString: whatever surrounds it, a URL that String leaves in the text
// has no user information and no query value but the mask.
func FuzzString(f *testing.F) {
	f.Add("error: ", "https://alice:hunter2@h/p?x=s3cret", " end")
	f.Add(`Put "`, "http://u:pw@h:1/a?t=tok&t=2", `": EOF`)
	f.Fuzz(func(t *testing.T, pre, u, post string) {
		got := String(pre + u + post)
		for _, m := range urlInText.FindAllString(got, -1) {
			p, err := url.Parse(m)
			if err != nil {
				continue // a fragment of the mask's own text, such as "[URL]"
			}
			if p.User != nil {
				t.Errorf("String(%q) = %q keeps user information", pre+u+post, got)
			}
			for k, vs := range p.Query() {
				for _, v := range vs {
					if v != Mask {
						t.Errorf("String(%q) = %q keeps query value %s=%q", pre+u+post, got, k, v)
					}
				}
			}
		}
	})
}
