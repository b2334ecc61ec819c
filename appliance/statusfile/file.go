// Package statusfile defines the status files of lapsebox's services, one
// JSON document per service under /run/lapsebox (camerad.json,
// uploadd.json, …), and reads and writes them. Services write them;
// statusd, the health model, the heartbeat to the central server and the
// tests read them, all through the types here, so a field has one name
// and one meaning everywhere. Keys are camelCase.
//
// A status file is rewritten whole and atomically; its modification time
// is its service's heartbeat. The package links no cgo and nothing of the
// services, so any reader can import it.
package statusfile

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/lapsebox/lapsebox/internal/durable"
)

// Dir is where the services write their status files on a device.
const Dir = "/run/lapsebox"

// Path is the status file of service in Dir.
func Path(service string) string { return filepath.Join(Dir, service+".json") }

// MaxSize bounds a status file. They are meant to be small; a larger one
// is refused by Read rather than read into memory.
const MaxSize = 1 << 20

// Write replaces the file at path with v as indented JSON, atomically:
// readers see the old document or the new one whole. The directory is
// created when missing.
func Write(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("statusfile: encoding %s: %w", filepath.Base(path), err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("statusfile: %w", err)
	}
	if err := durable.WriteFile(path, append(b, '\n')); err != nil {
		return fmt.Errorf("statusfile: %w", err)
	}
	return nil
}

// ErrNotRegular is returned by ReadRaw for a path that is a symbolic
// link, a FIFO, a device or a directory: a status file is a plain file,
// and anything else in its place is refused rather than followed or
// waited on.
var ErrNotRegular = errors.New("not a regular file")

// ReadRaw returns the bytes of the status file at path and its
// modification time. It never follows a symbolic link, never blocks on a
// FIFO and never reads more than MaxSize bytes; the bytes are checked to
// be one JSON document. Errors name the file by its base name only.
func ReadRaw(path string) ([]byte, time.Time, error) {
	name := filepath.Base(path)
	// O_NOFOLLOW fails on a symbolic link; O_NONBLOCK makes opening a FIFO
	// return at once instead of waiting for a writer.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			return nil, time.Time{}, fmt.Errorf("%s: %w (symbolic link)", name, ErrNotRegular)
		}
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, time.Time{}, fmt.Errorf("%s: %w", name, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("%s: %w", name, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, time.Time{}, fmt.Errorf("%s: %w (%s)", name, ErrNotRegular, kind(fi.Mode()))
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("%s: reading: %w", name, err)
	}
	switch {
	case len(b) > MaxSize:
		return nil, fi.ModTime(), fmt.Errorf("%s: larger than %d bytes", name, MaxSize)
	case !json.Valid(b):
		return nil, fi.ModTime(), fmt.Errorf("%s: not valid JSON (%d bytes)", name, len(b))
	}
	return b, fi.ModTime(), nil
}

// kind names a file type for an error message.
func kind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "directory"
	case m&fs.ModeNamedPipe != 0:
		return "named pipe"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeDevice != 0:
		return "device"
	}
	return m.Type().String()
}

// Read decodes the status file at path into v (a *Camera, *Uploads, …)
// with ReadRaw's safeguards and returns its modification time.
func Read(path string, v any) (time.Time, error) {
	b, mtime, err := ReadRaw(path)
	if err != nil {
		return mtime, err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return mtime, fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	return mtime, nil
}

// Duration marshals as seconds with millisecond precision.
type Duration time.Duration

// Seconds returns the duration as a floating-point number of seconds.
func (d Duration) Seconds() float64 { return time.Duration(d).Seconds() }

// MarshalJSON implements json.Marshaler.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(float64(time.Duration(d).Milliseconds()) / 1000)
}

// UnmarshalJSON implements json.Unmarshaler.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s float64
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	*d = Duration(s * float64(time.Second))
	return nil
}
