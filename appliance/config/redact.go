package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/lapsebox/lapsebox/internal/strictjson"
)

// Redacted is what stands for a secret's value in a file given out by
// RedactJSON: "[redacted]".
const Redacted = redacted

// secretValue is where the value of one entry of "secrets" lies in a file.
type secretValue struct {
	name       string
	start, end int64
}

// secretValues finds the value of every entry of every top-level
// "secrets" object of data (any spelling of the key, any type of value,
// so that a file the decoder would refuse is redacted all the same).
func secretValues(data []byte) ([]secretValue, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	skipSpace := func(off int64) int64 {
		for off < int64(len(data)) && strings.IndexByte(" \t\r\n:", data[off]) >= 0 {
			off++
		}
		return off
	}
	// skip reads one value, whatever its shape.
	skip := func() error {
		depth := 0
		for {
			tok, err := dec.Token()
			if err != nil {
				return err
			}
			switch tok {
			case json.Delim('{'), json.Delim('['):
				depth++
			case json.Delim('}'), json.Delim(']'):
				depth--
			}
			if depth == 0 {
				return nil
			}
		}
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, errors.New("not a JSON object")
	}
	var out []secretValue
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return nil, err
		}
		if key, _ := k.(string); strictjson.Fold(key) != "secrets" {
			if err := skip(); err != nil {
				return nil, err
			}
			continue
		}
		start := skipSpace(dec.InputOffset())
		if start < int64(len(data)) && data[start] != '{' {
			// Not an object (the decoder refuses that): hide it whole.
			if err := skip(); err != nil {
				return nil, err
			}
			out = append(out, secretValue{start: start, end: dec.InputOffset()})
			continue
		}
		if _, err := dec.Token(); err != nil { // '{'
			return nil, err
		}
		for dec.More() {
			n, err := dec.Token()
			if err != nil {
				return nil, err
			}
			name, _ := n.(string)
			v := secretValue{name: name, start: skipSpace(dec.InputOffset())}
			if err := skip(); err != nil {
				return nil, err
			}
			v.end = dec.InputOffset()
			out = append(out, v)
		}
		if _, err := dec.Token(); err != nil { // '}'
			return nil, err
		}
	}
	if _, err := dec.Token(); err != nil { // '}'
		return nil, err
	}
	if _, err := dec.Token(); err == nil {
		return nil, errors.New("data after the configuration")
	}
	return out, nil
}

// RedactJSON returns a configuration file with the value of every secret
// replaced by "[redacted]" and everything else, layout included, as it
// was: what "lapsebox config pull" shows. It fails rather than guess on a
// file that is not a JSON object.
func RedactJSON(data []byte) ([]byte, error) {
	vals, err := secretValues(data)
	if err != nil {
		return nil, fmt.Errorf("config: redacting secrets: %w", err)
	}
	var b bytes.Buffer
	last := int64(0)
	for _, v := range vals {
		b.Write(data[last:v.start])
		b.WriteString(`"` + redacted + `"`)
		last = v.end
	}
	b.Write(data[last:])
	return b.Bytes(), nil
}

// RestoreSecrets returns data with every secret whose value is
// "[redacted]" (a file from RedactJSON, edited) given its value in cur,
// the configuration it replaces, so that a pulled file can be pushed back
// without the secrets ever leaving the device. A "[redacted]" that cur has
// no secret of that name for is an *Error with its line; data is not valid
// JSON: returned as it is, for the decoder to report.
func RestoreSecrets(name string, data []byte, cur *Config) ([]byte, error) {
	vals, err := secretValues(data)
	if err != nil {
		return data, nil
	}
	var b bytes.Buffer
	var errs []error
	last := int64(0)
	for _, v := range vals {
		var s string
		if v.name == "" || json.Unmarshal(data[v.start:v.end], &s) != nil || s != redacted {
			continue
		}
		sec, ok := cur.Secrets[v.name]
		if !ok {
			errs = append(errs, &Error{Name: name, Line: strictjson.Line(data, v.start), Offset: v.start, Field: "secrets." + v.name,
				Err: fmt.Errorf("%q stands for the device's secret of that name, and it has none: give the value", redacted)})
			continue
		}
		val, err := json.Marshal(sec.Reveal())
		if err != nil {
			return nil, err
		}
		b.Write(data[last:v.start])
		b.Write(val)
		last = v.end
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	b.Write(data[last:])
	return b.Bytes(), nil
}
