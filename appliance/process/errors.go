package process

import (
	"errors"
)

// Kind says which input an *Error is about.
type Kind int

// The inputs that can be bad.
const (
	// KindPhoto is the photo: not a JPEG, corrupt, truncated or too large.
	KindPhoto Kind = iota + 1
	// KindWatermark is a watermark PNG: missing, unreadable, not a PNG,
	// corrupt or too large.
	KindWatermark
	// KindSpec is the spec, or the spec applied to this photo (a pixel crop
	// outside it).
	KindSpec
)

// String returns the word used in error messages: photo, watermark or spec.
func (k Kind) String() string {
	switch k {
	case KindPhoto:
		return "photo"
	case KindWatermark:
		return "watermark"
	case KindSpec:
		return "spec"
	}
	return "input"
}

// Error is bad input: processing the same photo with the same spec and
// files fails the same way however often it is retried, so the caller parks
// the outbox entry with Error() as the reason and moves on. Failures that a
// retry may cure (reading the photo, writing an output, a cancelled context)
// are returned as other errors.
type Error struct {
	// Kind says which input is bad.
	Kind Kind
	// Name is the photo's or the watermark's file name, or the spec's name;
	// it may be empty.
	Name string
	// Err says what is wrong; it often wraps one of the Err* values below.
	Err error
}

// Error returns e.g. "process: watermark /perm/lapsebox/wm.png: not a PNG".
func (e *Error) Error() string {
	s := "process: " + e.Kind.String()
	if e.Name != "" {
		s += " " + e.Name
	}
	return s + ": " + e.Err.Error()
}

// Unwrap returns e.Err.
func (e *Error) Unwrap() error { return e.Err }

// IsBadInput reports whether err is, or wraps, an *Error: whether the
// caller should park the work rather than retry it.
func IsBadInput(err error) bool {
	var e *Error
	return errors.As(err, &e)
}

// Reasons wrapped by *Error, for errors.Is.
var (
	// ErrNotJPEG: the photo does not start like a JPEG (a raw file, a PNG,
	// an empty file…).
	ErrNotJPEG = errors.New("not a JPEG")
	// ErrNotPNG: the watermark does not start like a PNG.
	ErrNotPNG = errors.New("not a PNG")
	// ErrTruncated: the file ends before the image does.
	ErrTruncated = errors.New("truncated")
	// ErrCorrupt: the data is malformed or uses a variant the decoder does
	// not support.
	ErrCorrupt = errors.New("corrupt")
	// ErrTooLarge: the image has more pixels than the limit.
	ErrTooLarge = errors.New("too large")
)

func badPhoto(name string, err error) error {
	return &Error{Kind: KindPhoto, Name: name, Err: err}
}
