package strictjson

import (
	"bytes"
	"encoding"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
)

// maxKeyErrors bounds how many bad keys one document reports.
const maxKeyErrors = 50

var (
	unmarshalerType     = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// checkKeys walks data, which is valid JSON, beside the type of v and
// reports every object key that is not exactly one of the JSON names of the
// struct it decodes into: encoding/json matches names case-insensitively,
// which would take an old spelling ("Outputs") silently.
func checkKeys(data []byte, v any) []*Error {
	t := reflect.TypeOf(v)
	if t == nil {
		return nil
	}
	k := &keyChecker{data: data, dec: json.NewDecoder(bytes.NewReader(data))}
	k.dec.UseNumber()
	k.value(t)
	return k.errs
}

type keyChecker struct {
	data []byte
	dec  *json.Decoder
	errs []*Error
	// stop is set on a decoder error, which cannot happen on valid JSON
	// but must not loop.
	stop bool
}

func (k *keyChecker) token() json.Token {
	if k.stop {
		return nil
	}
	tok, err := k.dec.Token()
	if err != nil {
		k.stop = true
		return nil
	}
	return tok
}

// value reads one value that decodes into t.
func (k *keyChecker) value(t reflect.Type) {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t != nil && (reflect.PointerTo(t).Implements(unmarshalerType) || reflect.PointerTo(t).Implements(textUnmarshalerType)) {
		t = nil // decodes itself: any shape
	}
	tok := k.token()
	switch tok {
	case json.Delim('{'):
		switch {
		case t != nil && t.Kind() == reflect.Struct:
			k.object(jsonFields(t))
		case t != nil && t.Kind() == reflect.Map:
			k.object(func(string) (reflect.Type, string, bool) { return t.Elem(), "", true })
		default:
			k.object(func(string) (reflect.Type, string, bool) { return nil, "", true })
		}
	case json.Delim('['):
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		for !k.stop && k.dec.More() {
			k.value(elem)
		}
		k.token() // ']'
	}
}

// object reads the rest of an object whose keys field resolves: the type of
// the key's value and true if the key is right, or the right spelling.
func (k *keyChecker) object(field func(key string) (t reflect.Type, spelling string, ok bool)) {
	for !k.stop && k.dec.More() {
		key, _ := k.token().(string)
		off := k.dec.InputOffset()
		t, spelling, ok := field(key)
		if !ok && len(k.errs) < maxKeyErrors {
			// The offset is past the key; the key's line is that of its end.
			e := &Error{Line: Line(k.data, off), Offset: off}
			if spelling != "" {
				e.Err = fmt.Errorf("%q: use %q", key, spelling)
			} else {
				e.Err = fmt.Errorf("unknown field %q", key)
			}
			k.errs = append(k.errs, e)
		}
		k.value(t)
	}
	k.token() // '}'
}

// jsonFields returns the key resolver of struct type t, following
// encoding/json's naming: the tag's name, else the Go field name; fields
// of embedded structs without a name are promoted.
func jsonFields(t reflect.Type) func(key string) (reflect.Type, string, bool) {
	fields := map[string]reflect.Type{}
	var names []string // in field order, for a stable suggestion
	var add func(t reflect.Type)
	add = func(t reflect.Type) {
		for i := range t.NumField() {
			f := t.Field(i)
			tag := f.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, _, _ := strings.Cut(tag, ",")
			ft := f.Type
			if f.Anonymous && name == "" {
				for ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if ft.Kind() == reflect.Struct {
					add(ft)
					continue
				}
			}
			if !f.IsExported() {
				continue
			}
			if name == "" {
				name = f.Name
			}
			if _, dup := fields[name]; !dup {
				fields[name] = f.Type
				names = append(names, name)
			}
		}
	}
	add(t)
	return func(key string) (reflect.Type, string, bool) {
		if ft, ok := fields[key]; ok {
			return ft, "", true
		}
		// An old or mistyped spelling of a known name: decode it as that
		// field, so that the keys inside are checked too.
		for _, name := range names {
			if Fold(name) == Fold(key) {
				return fields[name], name, false
			}
		}
		return nil, "", false
	}
}

// Fold reduces a key to what distinguishes it from other spellings of the
// same name: "TimeFormat", "time_format" and "Time-Format" fold alike.
func Fold(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '_' || r == '-' {
			return -1
		}
		return r
	}, strings.ToLower(s))
}
