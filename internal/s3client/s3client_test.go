package s3client

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
)

// Pages follows continuation tokens to the last page, and refuses a
// store that hands back the same token (which would loop for ever).
func TestPages(t *testing.T) {
	pages := map[string]*ListPage{
		"":   {Objects: []Listed{{Key: "p/a"}, {Key: "p/b"}}, Truncated: true, Next: "t1"},
		"t1": {Objects: []Listed{{Key: "p/c"}}, Truncated: true, Next: "t2"},
		"t2": {Objects: []Listed{{Key: "p/d"}}},
	}
	var queries []string
	get := func(q url.Values) (*ListPage, error) {
		queries = append(queries, q.Encode())
		return pages[q.Get("continuation-token")], nil
	}
	var keys []string
	err := Pages("p/", 2, get, func(o Listed) error { keys = append(keys, o.Key); return nil })
	if err != nil || strings.Join(keys, " ") != "p/a p/b p/c p/d" {
		t.Errorf("Pages: %q, %v", keys, err)
	}
	if len(queries) != 3 || queries[0] != "list-type=2&max-keys=2&prefix=p%2F" {
		t.Errorf("queries %q", queries)
	}

	pages["t2"] = &ListPage{Truncated: true, Next: "t2"}
	if err := Pages("p/", 2, get, func(Listed) error { return nil }); err == nil || !strings.Contains(err.Error(), "continuation token") {
		t.Errorf("a token that repeats: %v", err)
	}
	stop := errors.New("enough")
	if err := Pages("p/", 2, get, func(Listed) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("fn's error: %v", err)
	}
	fail := fmt.Errorf("store down")
	if err := Pages("p/", 2, func(url.Values) (*ListPage, error) { return nil, fail }, nil); !errors.Is(err, fail) {
		t.Errorf("get's error: %v", err)
	}
}
