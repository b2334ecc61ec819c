package status

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/lapsebox/lapsebox/appliance/statusfile"
	"github.com/lapsebox/lapsebox/internal/redact"
)

// readFiles reads the status files <name>.json in dir. A missing dir is not
// an error: no service has written its status yet. Problems with one file
// are reported in its File.Error.
func readFiles(dir string, now time.Time, staleAfter time.Duration) ([]File, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return []File{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading status files: %w", err)
	}
	files := []File{}
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		// Names starting with a dot are temporary files of atomic writes
		// (renameio) or otherwise hidden.
		if !ok || name == "" || strings.HasPrefix(name, ".") || e.IsDir() {
			continue
		}
		files = append(files, readFile(filepath.Join(dir, e.Name()), name, now, staleAfter))
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Name < files[j].Name })
	return files, nil
}

func readFile(fn, name string, now time.Time, staleAfter time.Duration) File {
	file := File{Name: name}
	b, mtime, err := statusfile.ReadRaw(fn)
	if !mtime.IsZero() {
		file.ModTime = mtime
		age := now.Sub(mtime)
		file.AgeSeconds = max(age, 0).Seconds()
		file.Stale = age > staleAfter
	}
	if err != nil {
		file.Error = err.Error()
		return file
	}
	// A second line of defence: a service that wrote a URL with its
	// password or token into its status does not show it here.
	red, err := redactJSON(b)
	if err != nil {
		file.Error = "status withheld: it could not be redacted"
		return file
	}
	file.Status = json.RawMessage(red)
	return file
}

// jsonString matches a JSON string literal, escapes included.
var jsonString = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)

// redactJSON passes every string of the JSON document b through
// redact.String, as the text it stands for, and leaves the rest as it
// is. Redacting the document's bytes instead would take the backslash
// of a quoted URL's closing quote for part of the URL (Go quotes URLs
// in its errors: `Put \"https://…\": EOF`) and break the document.
func redactJSON(b []byte) ([]byte, error) {
	if !json.Valid(b) {
		return nil, errors.New("not JSON")
	}
	var failed error
	out := jsonString.ReplaceAllFunc(b, func(lit []byte) []byte {
		var s string
		if err := json.Unmarshal(lit, &s); err != nil {
			failed = err
			return lit
		}
		r := redact.String(s)
		if r == s {
			return lit
		}
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(r); err != nil {
			failed = err
			return lit
		}
		return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	})
	if failed != nil || !json.Valid(out) {
		return nil, errors.New("redacting failed")
	}
	return out, nil
}
