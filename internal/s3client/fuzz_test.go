package s3client

import (
	"bytes"
	"encoding/xml"
	"reflect"
	"strings"
	"testing"
)

// FuzzParseList feeds the ListObjectsV2 decoder what a store might send:
// a page it accepts, written back as a ListBucketResult, reads the same.
func FuzzParseList(f *testing.F) {
	f.Add(`<ListBucketResult><IsTruncated>true</IsTruncated><NextContinuationToken>x</NextContinuationToken><Contents><Key>a/b.jpg</Key><Size>12</Size></Contents></ListBucketResult>`)
	f.Add(`<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Contents><Key>a&amp;b &#xD;.jpg</Key><Size>-1</Size></Contents><Contents><Key></Key></Contents></ListBucketResult>`)
	f.Add(`<Error><Code>NoSuchBucket</Code></Error>`)
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseList(strings.NewReader(s))
		if err != nil {
			return
		}
		out, err := xml.Marshal(struct {
			XMLName     xml.Name `xml:"ListBucketResult"`
			IsTruncated bool     `xml:"IsTruncated"`
			Next        string   `xml:"NextContinuationToken"`
			Contents    []Listed `xml:"Contents"`
		}{IsTruncated: p.Truncated, Next: p.Next, Contents: p.Objects})
		if err != nil {
			t.Fatalf("page %+v does not encode: %v", p, err)
		}
		p2, err := ParseList(bytes.NewReader(out))
		if err != nil || !reflect.DeepEqual(p, p2) {
			t.Fatalf("round trip: %+v → %s → %+v, %v", p, out, p2, err)
		}
	})
}
