package webdav

import (
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/lapsebox/lapsebox/appliance/upload"
)

// propNS is the namespace of the sha256 property lapsebox sets.
const propNS = "urn:lapsebox"

const propfindBody = `<?xml version="1.0" encoding="utf-8"?>` +
	`<D:propfind xmlns:D="DAV:" xmlns:L="` + propNS + `"><D:prop>` +
	`<D:resourcetype/><D:getcontentlength/><L:sha256/>` +
	`</D:prop></D:propfind>`

// entry is one resource of a PROPFIND answer.
type entry struct {
	path   string // decoded, absolute ("/dav/2026/11/")
	dir    bool
	size   int64 // -1: not given
	sha256 string
}

func (e *entry) String() string {
	if e == nil {
		return "nothing"
	}
	if e.dir {
		return "a folder"
	}
	s := fmt.Sprintf("%d bytes", e.size)
	if e.sha256 != "" {
		s += " with sha256 " + e.sha256
	}
	return s
}

// multistatus is the part of RFC 4918's answer to PROPFIND we read.
type multistatus struct {
	Responses []struct {
		Href      string `xml:"DAV: href"`
		Propstats []struct {
			Status string `xml:"DAV: status"`
			Prop   struct {
				ResourceType struct {
					Collection *struct{} `xml:"DAV: collection"`
				} `xml:"DAV: resourcetype"`
				Length string `xml:"DAV: getcontentlength"`
				SHA256 string `xml:"urn:lapsebox sha256"`
			} `xml:"DAV: prop"`
		} `xml:"DAV: propstat"`
	} `xml:"DAV: response"`
}

// parseMultistatus decodes a PROPFIND answer. Properties count only from a
// propstat whose status is 200.
func parseMultistatus(r io.Reader) ([]entry, error) {
	var ms multistatus
	if err := xml.NewDecoder(r).Decode(&ms); err != nil {
		return nil, fmt.Errorf("decoding the multistatus: %w", err)
	}
	var es []entry
	for _, resp := range ms.Responses {
		h, err := url.Parse(strings.TrimSpace(resp.Href))
		if err != nil || h.Path == "" {
			return nil, fmt.Errorf("decoding the multistatus: href %q", resp.Href)
		}
		e := entry{path: h.Path, size: -1}
		for _, ps := range resp.Propstats {
			if f := strings.Fields(ps.Status); len(f) < 2 || f[1] != "200" {
				continue
			}
			p := ps.Prop
			if p.ResourceType.Collection != nil {
				e.dir = true
			}
			if n, err := strconv.ParseInt(strings.TrimSpace(p.Length), 10, 64); err == nil && n >= 0 {
				e.size = n
			}
			if s := strings.ToLower(strings.TrimSpace(p.SHA256)); len(s) == 64 {
				e.sha256 = s
			}
		}
		es = append(es, e)
	}
	return es, nil
}

// propfind asks for the properties of name and, with depth "1", its
// children. It returns nil, nil when name does not exist.
func (t *Target) propfind(ctx context.Context, name, depth string) ([]entry, error) {
	req, err := t.request(ctx, "PROPFIND", t.url(name), []byte(propfindBody))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Depth", depth)
	resp, err := t.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("PROPFIND %s: %w", name, err)
	}
	defer upload.Drain(resp)
	if resp.StatusCode == http.StatusNotFound {
		return nil, nil
	}
	if err := t.responseError(resp); err != nil {
		return nil, fmt.Errorf("PROPFIND %s: %w", name, err)
	}
	if resp.StatusCode != http.StatusMultiStatus {
		return nil, fmt.Errorf("PROPFIND %s: %s, want 207 Multi-Status", name, resp.Status)
	}
	es, err := parseMultistatus(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("PROPFIND %s: %w", name, err)
	}
	return es, nil
}

// stat returns what the server holds under name, nil if nothing.
func (t *Target) stat(ctx context.Context, name string) (*entry, error) {
	es, err := t.propfind(ctx, name, "0")
	if err != nil || len(es) == 0 {
		return nil, err
	}
	return &es[0], nil
}

// rel returns the name, relative to the base, of an absolute path from an
// href, and whether it is under the base at all.
func (t *Target) rel(p string) (string, bool) {
	rest, ok := strings.CutPrefix(p, t.base.Path)
	return strings.TrimSuffix(rest, "/"), ok
}

// List implements upload.Target: the files under prefix, found with
// PROPFIND of Depth 1 folder by folder (Depth infinity is off on most
// servers), leaving out the temporary files of uploads in progress.
func (t *Target) List(ctx context.Context, prefix string) ([]string, error) {
	dir := prefix[:strings.LastIndex(prefix, "/")+1]
	var names []string
	var walk func(dir string) error
	walk = func(dir string) error {
		es, err := t.propfind(ctx, dir, "1")
		if err != nil {
			return err
		}
		self := strings.TrimSuffix(dir, "/")
		for _, e := range es {
			name, ok := t.rel(e.path)
			if !ok || name == self {
				continue
			}
			if e.dir {
				d := name + "/"
				if !strings.HasPrefix(d, dir) || len(d) <= len(dir) {
					continue // not below dir: a confused server must not loop us
				}
				if strings.HasPrefix(d, prefix) || strings.HasPrefix(prefix, d) {
					if err := walk(d); err != nil {
						return err
					}
				}
			} else if strings.HasPrefix(name, prefix) && !isPart(name) {
				names = append(names, name)
			}
		}
		return nil
	}
	if err := walk(dir); err != nil {
		return nil, fmt.Errorf("webdav: listing %q under %s: %w", prefix, upload.RedactURL(t.base), err)
	}
	sort.Strings(names)
	return names, nil
}
