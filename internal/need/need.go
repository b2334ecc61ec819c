// Package need lets tests say which program of the
// machine they need (PostgreSQL's initdb, nagios4, promtool, chromium).
// When it is missing the test is skipped, naming the Debian package;
// under CI (the environment variable CI set) it fails instead, since a
// skip is not a pass.
package need

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// CI reports whether the environment variable CI is set to anything but
// "", "0" or "false".
func CI() bool {
	switch os.Getenv("CI") {
	case "", "0", "false":
		return false
	}
	return true
}

// Missing stops tb: it fails under CI and skips otherwise.
func Missing(tb testing.TB, what, debianPackage string) {
	tb.Helper()
	msg := fmt.Sprintf("%s is missing: apt-get install %s (scripts/install-deps installs every test dependency)", what, debianPackage)
	if CI() {
		tb.Fatalf("%s (CI is set: a test that lacks what it needs fails)", msg)
	}
	tb.Skip(msg)
}

// Program returns the path of program, looked up in PATH, then in the
// directories given (Debian keeps some programs outside PATH, such as
// PostgreSQL's under /usr/lib/postgresql/VERSION/bin), then in /usr/sbin
// and /sbin. If it is missing, tb fails under CI and is skipped otherwise.
func Program(tb testing.TB, program, debianPackage string, dirs ...string) string {
	tb.Helper()
	if p, err := Find(program, dirs...); err == nil {
		return p
	}
	Missing(tb, "program "+program, debianPackage)
	return ""
}

// Find is Program's lookup without a test: the path of program or an
// error.
func Find(program string, dirs ...string) (string, error) {
	if p, err := exec.LookPath(program); err == nil {
		return p, nil
	}
	for _, pattern := range append(dirs, "/usr/sbin", "/sbin") {
		matches, _ := filepath.Glob(filepath.Join(pattern, program))
		for i := len(matches) - 1; i >= 0; i-- { // the newest version sorts last
			if fi, err := os.Stat(matches[i]); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
				return matches[i], nil
			}
		}
	}
	return "", fmt.Errorf("%s not found in PATH nor in %v", program, dirs)
}
