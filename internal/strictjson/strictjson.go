// Package strictjson decodes JSON configuration files strictly: unknown
// fields, trailing data and type mismatches are errors that name the field
// and the line, so a typo in a file edited by hand is caught at once.
package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Unmarshal decodes data into v, rejecting unknown fields and anything after
// the first value. name (usually the file name) prefixes every error.
func Unmarshal(name string, data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%s: %s", name, describe(data, dec, err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%s: line %d: unexpected data after the configuration", name, Line(data, dec.InputOffset()))
	}
	return nil
}

func describe(data []byte, dec *json.Decoder, err error) string {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return fmt.Sprintf("line %d: %v", Line(data, syntax.Offset), syntax)
	case errors.As(err, &typ):
		return fmt.Sprintf("line %d: field %q: cannot use a JSON %s as %v", Line(data, typ.Offset), typ.Field, typ.Value, typ.Type)
	case errors.Is(err, io.EOF):
		return "empty file"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Sprintf("line %d: unexpected end of file", Line(data, int64(len(data))))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		// The decoder reports the offset of the end of the enclosing value;
		// the key itself is the last occurrence of its quoted name before it.
		field := strings.TrimPrefix(err.Error(), "json: unknown field ")
		off := dec.InputOffset()
		if i := bytes.LastIndex(data[:min(off, int64(len(data)))], []byte(field)); i >= 0 {
			off = int64(i)
		}
		return fmt.Sprintf("line %d: unknown field %s", Line(data, off), field)
	}
	return fmt.Sprintf("line %d: %v", Line(data, dec.InputOffset()), err)
}

// Line returns the 1-based line number of byte offset off in data.
func Line(data []byte, off int64) int {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	if off < 0 {
		off = 0
	}
	return 1 + bytes.Count(data[:off], []byte("\n"))
}
