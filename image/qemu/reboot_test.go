package qemu

import (
	"os"
	"path/filepath"
	"testing"
)

func TestLineWatch(t *testing.T) {
	for _, tc := range []struct {
		name   string
		before string   // in the file when the watch starts
		writes []string // appended, one per look
		want   []bool   // seen() after each write
	}{
		{"in one write", "", []string{"[ 9.1] reboot: Restarting system\n"}, []bool{true}},
		{"split across writes", "", []string{"[ 9.1] reboot: Resta", "rting system\n"}, []bool{false, true}},
		{"split in three", "", []string{"reboot: ", "Restarting", " system"}, []bool{false, false, true}},
		{"a previous boot's reboot does not count", "reboot: Restarting system\n", []string{"Linux version 6.12\n"}, []bool{false}},
		{"other lines", "", []string{"reboot: Power down\n", "Restarting\n"}, []bool{false, false}},
		{"stays seen", "", []string{"reboot: Restarting system\n", "Booting Linux\n"}, []bool{true, true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "serial.log")
			if err := os.WriteFile(path, []byte(tc.before), 0o644); err != nil {
				t.Fatal(err)
			}
			w := &lineWatch{path: path, line: []byte(rebootLine), pos: int64(len(tc.before))}
			for i, s := range tc.writes {
				f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
				if err != nil {
					t.Fatal(err)
				}
				f.WriteString(s)
				f.Close()
				if got := w.seen(); got != tc.want[i] {
					t.Errorf("after writing %q: seen() = %v, want %v", s, got, tc.want[i])
				}
			}
		})
	}
}
