// Package strictjson decodes JSON configuration files strictly: keys must
// be spelled exactly as the Go type's JSON names (encoding/json would take
// "Outputs" for "outputs"), unknown fields, trailing data and type
// mismatches are errors that name the field and the line, so a typo in a
// file edited by hand is caught at once.
package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Error is a problem at one place of a JSON document.
type Error struct {
	// Name is the document's name (usually its file); "" if it has none.
	Name string
	// Line is the 1-based line of the problem; 0 if not known yet (a
	// validation error that Field locates).
	Line int
	// Offset is the problem's byte offset in the document when Line is
	// set, so that a document embedded in another can be located in it.
	Offset int64
	// Field is the path of the bad value, such as "outputs[0].width";
	// "" when the message itself says where (a syntax error, a key).
	Field string
	// Err says what is wrong.
	Err error
}

// Error returns "name: line N: field: message", leaving out what is unset.
func (e *Error) Error() string {
	var b strings.Builder
	if e.Name != "" {
		b.WriteString(e.Name + ": ")
	}
	if e.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

// Unwrap returns e.Err.
func (e *Error) Unwrap() error { return e.Err }

// Errors flattens err into its *Errors, in order: joined errors are
// walked, and a wrapper around located errors gives way to them. Any other
// leaf becomes an *Error with only Err set.
func Errors(err error) []*Error {
	switch e := err.(type) {
	case nil:
		return nil
	case *Error:
		return []*Error{e}
	case interface{ Unwrap() []error }:
		var out []*Error
		for _, inner := range e.Unwrap() {
			out = append(out, Errors(inner)...)
		}
		return out
	case interface{ Unwrap() error }:
		inner := Errors(e.Unwrap())
		for _, x := range inner {
			if x.Line > 0 || x.Field != "" {
				return inner
			}
		}
	}
	return []*Error{{Err: err}}
}

// Unmarshal decodes data into v, rejecting keys not spelled exactly as
// v's JSON names (all of them reported at once, each with its line, with
// the right spelling when only case or underscores differ), and then type
// mismatches and anything after the first value. name prefixes every
// error. The error is an *Error, or several joined.
func Unmarshal(name string, data []byte, v any) error {
	if json.Valid(data) {
		if errs := checkKeys(data, v); len(errs) > 0 {
			out := make([]error, len(errs))
			for i, e := range errs {
				e.Name = name
				out[i] = e
			}
			if len(out) == 1 {
				return out[0]
			}
			return errors.Join(out...)
		}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		e := describe(data, dec, err)
		e.Name = name
		return e
	}
	if _, err := dec.Token(); err != io.EOF {
		off := dec.InputOffset()
		return &Error{Name: name, Line: Line(data, off), Offset: off, Err: errors.New("unexpected data after the configuration")}
	}
	return nil
}

func describe(data []byte, dec *json.Decoder, err error) *Error {
	at := func(off int64, format string, args ...any) *Error {
		off = min(max(off, 0), int64(len(data)))
		return &Error{Line: Line(data, off), Offset: off, Err: fmt.Errorf(format, args...)}
	}
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return at(syntax.Offset, "%v", syntax)
	case errors.As(err, &typ):
		return at(typ.Offset, "field %q: cannot use a JSON %s as %v", typ.Field, typ.Value, typ.Type)
	case errors.Is(err, io.EOF):
		return &Error{Err: errors.New("empty file")}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return at(int64(len(data)), "unexpected end of file")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		// Only reached for keys checkKeys cannot see (invalid JSON later
		// in the file). The decoder reports the offset of the end of the
		// enclosing value; the key itself is the last occurrence of its
		// quoted name before it.
		field := strings.TrimPrefix(err.Error(), "json: unknown field ")
		off := dec.InputOffset()
		if i := bytes.LastIndex(data[:min(off, int64(len(data)))], []byte(field)); i >= 0 {
			off = int64(i)
		}
		return at(off, "unknown field %s", field)
	}
	return at(dec.InputOffset(), "%v", err)
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
