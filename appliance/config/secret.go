package config

import (
	"fmt"
	"io"
	"log/slog"
)

const redacted = "[redacted]"

// Secret is a credential (upload token, password, SIM PIN). Printing it
// with fmt, logging it with slog or encoding it as JSON gives "[redacted]";
// only Reveal returns the value.
type Secret string

// Reveal returns the secret's value, for the code that uses it.
func (s Secret) Reveal() string { return string(s) }

// String returns "[redacted]".
func (s Secret) String() string { return redacted }

// Format writes "[redacted]" whatever the verb, so %s, %v, %#v, %q and %x
// alike hide the value.
func (s Secret) Format(f fmt.State, verb rune) { io.WriteString(f, redacted) }

// LogValue hides the value from slog.
func (s Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalJSON encodes "[redacted]".
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// MarshalText encodes "[redacted]" (map keys, XML, other encoders).
func (s Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }
