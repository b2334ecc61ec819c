package webdav

import (
	"strings"
	"testing"
)

// FuzzParseMultistatus feeds the PROPFIND decoder what a server might send:
// it must never panic, and what it returns must be usable.
func FuzzParseMultistatus(f *testing.F) {
	f.Add(`<?xml version="1.0"?><D:multistatus xmlns:D="DAV:"><D:response><D:href>/dav/a%20b.jpg</D:href><D:propstat><D:prop><D:getcontentlength>12</D:getcontentlength><sha256 xmlns="urn:lapsebox">` + strings.Repeat("a", 64) + `</sha256></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response></D:multistatus>`)
	f.Add(`<multistatus xmlns="DAV:"><response><href>http://h/dav/d/</href><propstat><prop><resourcetype><collection/></resourcetype></prop><status>HTTP/1.1 200 OK</status></propstat><propstat><prop><getcontentlength/></prop><status>HTTP/1.1 404 Not Found</status></propstat></response></multistatus>`)
	f.Add(`<x/>`)
	f.Fuzz(func(t *testing.T, s string) {
		es, err := parseMultistatus(strings.NewReader(s))
		if err != nil {
			return
		}
		for _, e := range es {
			if e.path == "" || e.size < -1 || (e.sha256 != "" && len(e.sha256) != 64) {
				t.Fatalf("bad entry %+v", e)
			}
		}
	})
}
