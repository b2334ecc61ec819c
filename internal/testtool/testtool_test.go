package testtool

import (
	"fmt"
	"os"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"testing"
)

// recorder is a testing.TB that records how a helper stopped the test.
type recorder struct {
	testing.TB
	skipped, failed string
}

func (r *recorder) Helper() {}
func (r *recorder) Skip(args ...any) {
	r.skipped = fmt.Sprint(args...)
	runtime.Goexit()
}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// run calls f with a recorder in its own goroutine, as the testing
// package runs a test, and returns the recorder once f returned or
// stopped the test.
func run(t *testing.T, f func(tb testing.TB)) *recorder {
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
	return r
}

func TestMissingSkipsOrFails(t *testing.T) {
	const absent = "lapsebox-no-such-program"
	for _, tc := range []struct {
		ci       string
		wantFail bool
	}{{"", false}, {"0", false}, {"false", false}, {"1", true}, {"true", true}} {
		t.Setenv("CI", tc.ci)
		r := run(t, func(tb testing.TB) { Program(tb, absent) })
		msg := r.skipped
		if tc.wantFail {
			msg = r.failed
		}
		if (r.failed != "") != tc.wantFail || (r.skipped != "") == tc.wantFail {
			t.Errorf("CI=%q: skipped %q, failed %q; want it to fail: %v", tc.ci, r.skipped, r.failed, tc.wantFail)
		}
		if !strings.Contains(msg, absent) || !strings.Contains(msg, "install") {
			t.Errorf("CI=%q: message %q does not name the program and how to install it", tc.ci, msg)
		}
	}
}

func TestPackagedNamesSayWhichPackage(t *testing.T) {
	t.Setenv("CI", "")
	r := run(t, func(tb testing.TB) { File(tb, "/no/such/dir/OVMF_CODE_4M.fd") })
	if !strings.Contains(r.skipped, "/no/such/dir/OVMF_CODE_4M.fd is missing") {
		t.Errorf("skip message %q does not name the file", r.skipped)
	}
	if got := Install("sgdisk"); !strings.Contains(got, "apt-get install gdisk") {
		t.Errorf("Install(sgdisk) = %q, want the gdisk package", got)
	}
	if got := Install("versitygw"); !strings.Contains(got, "scripts/install-test-servers") {
		t.Errorf("Install(versitygw) = %q, want our script", got)
	}
}

func TestOptionalSkipsEvenUnderCI(t *testing.T) {
	t.Setenv("CI", "1")
	r := run(t, func(tb testing.TB) { Optional(tb, "set X to a scratch device") })
	if r.failed != "" || r.skipped != OptionalMarker+"set X to a scratch device" {
		t.Errorf("skipped %q, failed %q; want a skip with the optional marker", r.skipped, r.failed)
	}
}

func TestFoundProgramPasses(t *testing.T) {
	t.Setenv("CI", "1")
	var path string
	r := run(t, func(tb testing.TB) { path = Program(tb, "sh") })
	if r.failed != "" || r.skipped != "" || path == "" {
		t.Errorf("Program(sh) = %q; skipped %q, failed %q", path, r.skipped, r.failed)
	}
}

// TestInstallDepsCoversPackages checks that scripts/install-deps
// installs every Debian package named in packages, so that CI (which
// runs it) never fails for a tool a test names.
func TestInstallDepsCoversPackages(t *testing.T) {
	b, err := os.ReadFile("../../scripts/install-deps")
	if err != nil {
		t.Fatal(err)
	}
	installed := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\s*\[[^]]+\]=(\S+)`).FindAllStringSubmatch(string(b), -1) {
		installed[m[1]] = true
	}
	if len(installed) < 10 {
		t.Fatalf("found only %d packages in scripts/install-deps: has its format changed?", len(installed))
	}
	var missing []string
	for name, pkg := range packages {
		if !installed[pkg] {
			missing = append(missing, name+" ("+pkg+")")
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("scripts/install-deps does not install %s", strings.Join(missing, ", "))
	}
}
