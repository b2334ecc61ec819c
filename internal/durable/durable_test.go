package durable

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteFileReplacesWhole(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "status.json")
	for _, content := range []string{"first", "second, longer"} {
		if err := WriteFile(p, []byte(content)); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(p); string(b) != content {
			t.Errorf("read %q, want %q", b, content)
		}
	}
	// A failing writer leaves the old file and no temporary one.
	err := Write(p, func(w io.Writer) error {
		io.WriteString(w, "half")
		return errors.New("camera went away")
	})
	if err == nil || !strings.Contains(err.Error(), "camera went away") {
		t.Errorf("Write = %v", err)
	}
	if b, _ := os.ReadFile(p); string(b) != "second, longer" {
		t.Errorf("after a failed write the file reads %q", b)
	}
	if des, _ := os.ReadDir(dir); len(des) != 1 {
		t.Errorf("%d entries in the directory, want only the file", len(des))
	}
}

func TestMkdirAll(t *testing.T) {
	dir := t.TempDir()
	deep := filepath.Join(dir, "a", "b", "c")
	if err := MkdirAll(deep); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(deep); err != nil || !fi.IsDir() {
		t.Fatalf("%s not created: %v", deep, err)
	}
	if err := MkdirAll(deep); err != nil {
		t.Errorf("again: %v", err)
	}
	f := filepath.Join(dir, "file")
	os.WriteFile(f, nil, 0o644)
	if err := MkdirAll(filepath.Join(f, "x")); err == nil {
		t.Error("a directory under a file was created")
	}
}

func TestJSON(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a", "b", "state.json")
	var v struct{ N int }
	if found, err := ReadJSON(path, &v); found || err != nil {
		t.Fatalf("missing file: %v %v", found, err)
	}
	v.N = 7
	if err := WriteJSON(path, v); err != nil {
		t.Fatal(err)
	}
	v.N = 0
	if found, err := ReadJSON(path, &v); !found || err != nil || v.N != 7 {
		t.Errorf("read back %+v %v %v", v, found, err)
	}
	os.WriteFile(path, []byte("{"), 0o644)
	if _, err := ReadJSON(path, &v); err == nil {
		t.Error("a damaged file read without error")
	}
}

func TestScratch(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", ".tmp")
	if err := Scratch(dir); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "left-by-a-crash"), []byte("x"), 0o644)
	if err := Scratch(dir); err != nil {
		t.Fatal(err)
	}
	if des, err := os.ReadDir(dir); err != nil || len(des) != 0 {
		t.Errorf("after Scratch: %v, %v", des, err)
	}
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o644)
	if err := Scratch(file); err == nil {
		t.Error("Scratch of a file succeeded")
	}
}
