package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/lapsebox/lapsebox/internal/strictjson"
)

// lineIndex maps field paths ("schedule.windows[1].start", lower case) to
// the line of their key (or, for array elements, of their first byte) and
// the offset of their value, so that a validation error can say where the
// bad value is.
type lineIndex map[string]position

type position struct {
	line  int
	value int64 // byte offset where the value starts
}

// indexLines walks data, which has already decoded successfully.
func indexLines(data []byte) lineIndex {
	idx := lineIndex{}
	dec := json.NewDecoder(bytes.NewReader(data))
	// skip returns the offset of the first byte at or after off that is
	// not whitespace or one of seps.
	skip := func(off int64, seps string) int64 {
		for off < int64(len(data)) && strings.IndexByte(" \t\r\n"+seps, data[off]) >= 0 {
			off++
		}
		return off
	}
	var walk func(path string, line int) bool
	walk = func(path string, line int) bool {
		if path != "" {
			idx[path] = position{line, skip(dec.InputOffset(), ":,")}
		}
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		switch tok {
		case json.Delim('{'):
			for dec.More() {
				k, err := dec.Token()
				if err != nil {
					return false
				}
				key, _ := k.(string)
				l := strictjson.Line(data, dec.InputOffset())
				if !walk(join(path, strings.ToLower(key)), l) {
					return false
				}
			}
			_, err = dec.Token() // '}'
		case json.Delim('['):
			for i := 0; dec.More(); i++ {
				// The element starts after the separator that follows the
				// previous offset.
				off := skip(dec.InputOffset(), ",")
				if !walk(fmt.Sprintf("%s[%d]", path, i), strictjson.Line(data, off)) {
					return false
				}
			}
			_, err = dec.Token() // ']'
		}
		return err == nil
	}
	walk("", 1)
	return idx
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// line returns the line of path, or of its nearest ancestor present in the
// file; 0 if none.
func (idx lineIndex) line(path string) int {
	p := strings.ToLower(path)
	for p != "" {
		if pos, ok := idx[p]; ok {
			return pos.line
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return 0
}
